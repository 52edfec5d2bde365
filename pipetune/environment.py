"""Where and how this process runs, as an MLflow parent run records it: user, host, command
line (secrets masked), working folder with its git commit and dirty flag, Python and package
versions; and a sampler or pruner described as JSON. Studies and runs store these as system
attrs (``environment``, and per ``optimize`` call ``sampler`` and ``pruner``: see
``pipetune.execution.optimize``)."""

from __future__ import annotations

import functools
import getpass
import json
import os
import platform
import re
import socket
import subprocess
import sys
from collections.abc import Sequence
from importlib import metadata
from typing import Any

__all__ = ["describe", "environment", "git_state", "mask_secrets"]

MASK = "***"
# The password of a URL's user: scheme://user:PASSWORD@host. It runs to the last @, so that
# one holding an unescaped / or @ is masked whole (an @ further on masks more, never less).
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^/?#@\s:]*:)\S*(?=@)")
# Names whose value is a secret: --token, --api-key, PGPASSWORD=, db.password=, --secret ...
_SECRET_NAME = re.compile(r"(?:pass(?:word|wd)?|secret|token|api[-_]?key|access[-_]?key|"
                          r"private[-_]?key|credentials?)$", re.IGNORECASE)
_NAMED = re.compile(r"(?P<name>-{0,2}[A-Za-z_][A-Za-z0-9_.-]*)=(?P<value>.*)", re.DOTALL)


def mask_secrets(argv: Sequence[str]) -> list[str]:
    """A command line fit to be stored where others read it: the password of every URL
    (``postgresql://user:***@host/db``), the value of every secret-named option (``--token
    ***``, ``--api-key=***``) and of every secret-named assignment (``PGPASSWORD=***``,
    ``db.password=***``) replaced by ``***``."""
    masked: list[str] = []
    secret_follows = False
    for arg in argv:
        if secret_follows and not arg.startswith("-"):
            masked.append(MASK)
            secret_follows = False
            continue
        named = _NAMED.fullmatch(arg)
        if named and _SECRET_NAME.search(named["name"].lstrip("-")):
            arg = f"{named['name']}={MASK}"
        else:
            arg = _URL_PASSWORD.sub(lambda m: f"{m['head']}{MASK}", arg)
        secret_follows = arg.startswith("-") and "=" not in arg and \
            _SECRET_NAME.search(arg.lstrip("-")) is not None
        masked.append(arg)
    return masked


def git_state(folder: str) -> tuple[str | None, bool | None]:
    """(commit, dirty) of the git working tree holding ``folder``; (None, None) outside one
    or without git."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True,
                                text=True, timeout=5)
        if commit.returncode != 0:
            return None, None
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                                cwd=folder, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None, None
    dirty = bool(status.stdout.strip()) if status.returncode == 0 else None
    return commit.stdout.strip(), dirty


@functools.lru_cache(maxsize=1)
def _packages() -> dict[str, str]:
    # Scanning the installed distributions takes tens of ms: once per process.
    versions: dict[str, str] = {}
    for distribution in metadata.distributions():
        name = distribution.metadata["Name"]
        if name:
            versions[name.lower()] = distribution.version
    return dict(sorted(versions.items()))


@functools.lru_cache(maxsize=1)
def _process_environment(cwd: str) -> dict[str, Any]:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        user = None
    commit, dirty = git_state(cwd)
    return {"user": user, "host": socket.gethostname(), "pid": os.getpid(),
            "command": mask_secrets([sys.executable, *sys.argv]), "cwd": cwd, "git_commit": commit,
            "git_dirty": dirty, "python": platform.python_version(),
            "platform": platform.platform(), "packages": _packages()}


def environment() -> dict[str, Any]:
    """The environment of this process (computed once per process and working folder)."""
    return dict(_process_environment(os.getcwd()))


def _json_ready(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return True


def describe(component: Any) -> dict[str, Any]:
    """A sampler or pruner as JSON: its class, its JSON-ready settings (the constructor
    arguments it keeps), and its seed when it has one."""
    settings = {}
    for key, value in vars(component).items():
        name = key.lstrip("_")
        if _json_ready(value) and not isinstance(value, (dict, list)) or (
                isinstance(value, (list, tuple)) and _json_ready(list(value))):
            settings[name] = list(value) if isinstance(value, tuple) else value
    randomness = getattr(component, "_randomness", None)
    seed = getattr(randomness, "seed", settings.get("seed"))
    cls = type(component)
    return {"class": f"{cls.__module__}.{cls.__qualname__}", "settings": settings,
            "seed": seed}
