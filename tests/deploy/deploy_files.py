"""The deployment files (``Dockerfile``, ``deploy/compose*.yaml``, ``deploy/kubernetes/``) read
as their tools read them, for the tests of ``tests/deploy/``.

No Docker daemon, compose plugin or cluster runs on the test machines, so the tests take the
files apart themselves: ``dockerfile_stages`` splits the Dockerfile into stages of
instructions; ``load_compose`` merges compose files as ``docker compose -f a -f b`` does for
the keys these files use and substitutes ``${NAME:-default}``; ``Localhost`` turns a service's
command and environment into a local process's, replacing only what a container runtime
provides (service names, published ports, mounted secrets, the image's working folder) and
checking along the way that the files agree with each other (a secret used is a secret
mounted, the database URL names the database service's user and database).
"""

from __future__ import annotations

import copy
import os
import re
import shlex
import socket
import sys
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
DOCKERFILE = ROOT / "Dockerfile"
SECRETS_DIR = "/run/secrets/"
CONTAINER_PORT = 8080

# -- the Dockerfile ------------------------------------------------------------------------------


@dataclass
class Stage:
    """One ``FROM ... AS name`` stage: its base (ARGs substituted) and its instructions as
    (KEYWORD, arguments) pairs, continuation lines joined."""

    name: str
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for key, args in self.instructions if key == keyword]


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """The instructions of a Dockerfile: comments dropped, ``\\`` continuations joined."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue  # a comment inside a continued instruction
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        whole = (pending + stripped).strip()
        pending = ""
        keyword, _, args = whole.partition(" ")
        instructions.append((keyword.upper(), " ".join(args.split())))
    return instructions


def dockerfile_stages(text: str | None = None) -> tuple[dict[str, str], list[Stage]]:
    """The global ARG defaults (before the first FROM) and the stages of the Dockerfile."""
    instructions = dockerfile_instructions(DOCKERFILE.read_text() if text is None else text)
    global_args: dict[str, str] = {}
    stages: list[Stage] = []
    for keyword, args in instructions:
        if keyword == "FROM":
            words = args.split()
            base = re.sub(r"\$\{(\w+)\}|\$(\w+)",
                          lambda m: global_args.get(m[1] or m[2], m[0]), words[0])
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else str(len(stages))
            stages.append(Stage(name, base))
        elif not stages:
            if keyword == "ARG" and "=" in args:
                key, _, value = args.partition("=")
                global_args[key] = value
        else:
            stages[-1].instructions.append((keyword, args))
    return global_args, stages


def stage_chain(stages: list[Stage], target: str) -> list[Stage]:
    """``target`` and the stages it is built FROM, base first."""
    by_name = {stage.name: stage for stage in stages}
    chain = [by_name[target]]
    while chain[0].base in by_name:
        chain.insert(0, by_name[chain[0].base])
    return chain


# -- compose ---------------------------------------------------------------------------------------

_REPLACED_LISTS = ("command", "entrypoint", "test")  # compose replaces these whole
_VARIABLE = re.compile(r"\$\$|\$\{(?P<name>\w+)(?::-(?P<default>[^}]*))?\}")


def _merge(base: Any, override: Any, key: str = "") -> Any:
    """One compose file over another: mappings merge key by key, ``secrets`` (and the other
    lists of names) gain the new names, a command or health check test is replaced whole."""
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for name, value in override.items():
            merged[name] = _merge(base[name], value, name) if name in base else value
        return merged
    if isinstance(base, list) and isinstance(override, list) and key not in _REPLACED_LISTS:
        return base + [item for item in override if item not in base]
    return copy.deepcopy(override)


def interpolate(value: Any, variables: dict[str, str]) -> Any:
    """``${NAME}`` and ``${NAME:-default}`` substituted in every string, as compose does from
    the shell's environment and ``.env``; ``$$`` is a literal ``$``."""
    if isinstance(value, dict):
        return {k: interpolate(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, variables) for v in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        if match[0] == "$$":
            return "$"
        given = variables.get(match["name"])
        if given:
            return given
        if match["default"] is None:
            raise AssertionError(f"${{{match['name']}}} has no default and is not set")
        return match["default"]

    return _VARIABLE.sub(substitute, value)


def load_compose(*names: str, variables: dict[str, str] | None = None) -> dict[str, Any]:
    """``deploy/<name>`` files merged in order, variables substituted (their defaults unless
    ``variables`` gives them)."""
    merged: dict[str, Any] = {}
    for name in names:
        merged = _merge(merged, yaml.safe_load((DEPLOY / name).read_text()))
    return interpolate(merged, variables or {})


def command_of(service: dict[str, Any]) -> list[str]:
    command = service["command"]
    return shlex.split(command) if isinstance(command, str) else [str(a) for a in command]


def option(command: list[str], name: str) -> str:
    """The value after ``name`` in ``command``."""
    assert name in command, f"{name} missing from {command}"
    return command[command.index(name) + 1]


# -- services as local processes ------------------------------------------------------------------


@dataclass
class Localhost:
    """How a service of a compose file runs on this machine: ``secrets`` maps a secret's name
    to the local file standing in for ``/run/secrets/<name>``, ``port`` is the local port of the
    server's container port 8080, ``database`` the URL of the test's PostgreSQL database
    standing in for the ``postgres`` service, ``code`` the folder standing in for the worker
    image's working folder (its training code)."""

    config: dict[str, Any]
    secrets: dict[str, Path]
    port: int
    database: str
    code: Path

    def argv(self, name: str) -> list[str]:
        """The service's command, runnable here (``pipetune`` is this environment's)."""
        command = [self._arg(name, arg) for arg in command_of(self.config["services"][name])]
        for flag, local in (("--host", "127.0.0.1"), ("--port", str(self.port))):
            if flag in command:  # every interface / the container's port, on this machine
                command[command.index(flag) + 1] = local
        return self._program(command)

    def healthcheck(self, name: str) -> list[str]:
        test = self.config["services"][name]["healthcheck"]["test"]
        assert test[0] == "CMD", test
        return self._program([self._arg(name, arg) for arg in test[1:]])

    def environment(self, name: str) -> dict[str, str]:
        """This process's environment without pipetune's variables, plus the service's."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("PIPETUNE_")}
        env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")])
        env["PYTHONUNBUFFERED"] = "1"
        given = self.config["services"][name].get("environment") or {}
        if isinstance(given, list):
            given = dict(item.split("=", 1) for item in given)
        env.update({key: self._arg(name, str(value)) for key, value in given.items()})
        return env

    def _program(self, command: list[str]) -> list[str]:
        program, *args = command
        if program == "pipetune":
            return [str(Path(sys.executable).parent / "pipetune"), *args]
        copied = installed_scripts()
        assert program in copied, f"{program} is neither pipetune nor copied by the Dockerfile"
        return [sys.executable, str(ROOT / copied[program]), *args]

    def _arg(self, service: str, arg: str) -> str:
        if arg.startswith(("postgresql://", "postgres://")):
            return self._database_url(service, arg)
        for host in ("server", "127.0.0.1"):
            arg = arg.replace(f"{host}:{CONTAINER_PORT}", f"127.0.0.1:{self.port}")
        return self._secret_paths(service, arg)

    def _secret_paths(self, service: str, text: str) -> str:
        mounted = secret_names(self.config["services"][service])

        def local(match: re.Match[str]) -> str:
            name = match[1]
            assert name in mounted, f"{service} reads {SECRETS_DIR}{name} but mounts no such secret"
            return str(self.secrets[name])

        return re.sub(re.escape(SECRETS_DIR) + r"([\w.-]+)", local, text)

    def _database_url(self, service: str, url: str) -> str:
        """The server's PostgreSQL URL, checked against the database service and pointed at
        the test's database; its query (the password file) is kept."""
        given = urllib.parse.urlsplit(url)
        database = self.config["services"][given.hostname]["environment"]
        assert given.username == database["POSTGRES_USER"], url
        assert given.path == "/" + database["POSTGRES_DB"], url
        assert given.password is None, f"a password in the URL of {service}: {url}"
        assert given.port == 5432, url
        test = urllib.parse.urlsplit(self.database)
        local = given._replace(netloc=test.netloc, path=test.path)
        return self._secret_paths(service, urllib.parse.urlunsplit(local))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def secret_names(service: dict[str, Any]) -> list[str]:
    return [s if isinstance(s, str) else s["source"] for s in service.get("secrets", [])]


def installed_scripts() -> dict[str, str]:
    """The programs the Dockerfile copies into /usr/local/bin: name -> file of the context."""
    _, stages = dockerfile_stages()
    scripts = {}
    for stage in stages:
        for args in stage.all("COPY"):
            words = [w for w in args.split() if not w.startswith("--")]
            if len(words) == 2 and words[1].startswith("/usr/local/bin/"):
                scripts[words[1].rsplit("/", 1)[1]] = words[0]
    return scripts
