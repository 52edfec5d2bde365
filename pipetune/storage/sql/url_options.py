"""The options pipetune reads from a SQL storage URL before the driver sees it:
``?durability=``, ``?password_file=`` (PostgreSQL) and SQLite's read-only opening
(``?mode=ro``, or a file or folder this user cannot write)."""

from __future__ import annotations

import os
import pathlib
import sqlite3
from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import URL

from pipetune.errors import StorageURLError

__all__ = ["DURABILITY_LEVELS", "durability_of", "read_only_connect", "read_only_reason",
           "with_password_of_file"]

# The ``?durability=`` of a storage URL: ``relaxed`` commits return before the disk has them
# (SQLite in WAL mode with synchronous=NORMAL, PostgreSQL with synchronous_commit=off), ``full``
# commits wait for it. Each database's default is the most relaxed level at which no process
# crash loses a commit (DESIGN: a completed trial is never lost): on SQLite that is ``relaxed``
# (only a power loss or an OS crash can undo the last commits), on PostgreSQL ``full`` (with
# synchronous_commit=off a crash of the server process alone loses them). See docs/storage.md.
DURABILITY_LEVELS = ("relaxed", "full")
_DEFAULT_DURABILITY = {"sqlite": "relaxed", "postgresql": "full"}


def durability_of(parsed: URL) -> str:
    """The durability a storage URL asks for (see ``DURABILITY_LEVELS``), else its database's
    default."""
    default = _DEFAULT_DURABILITY.get(parsed.get_backend_name(), "full")
    level = parsed.query.get("durability", default)
    if level not in DURABILITY_LEVELS:
        raise StorageURLError(
            f"Unknown durability {level!r} in the storage URL "
            f"{parsed.render_as_string(hide_password=True)}. Use ?durability=full (every "
            "commit waits for the disk), ?durability=relaxed (commits return before the disk "
            f"has them), or leave it out for this database's default, {default!r} (see "
            "'Durability' in docs/storage.md)."
        )
    return level


def with_password_of_file(parsed: URL, path: Any, shown: str) -> URL:
    """``parsed`` with the password read from ``?password_file=`` (a secret mounted into a
    container, such as the file the PostgreSQL image's ``POSTGRES_PASSWORD_FILE`` names), so
    that the password is in no URL, command line or environment. The file holds the password
    alone; a trailing newline is dropped."""
    if parsed.get_backend_name() == "sqlite" or not isinstance(path, str) or not path:
        raise StorageURLError(
            f"The option password_file of the storage URL {shown} names one file holding the "
            "password of a PostgreSQL user: 'postgresql://user@host:5432/db?password_file="
            "/run/secrets/db_password'. SQLite takes no password; give the option once.")
    if parsed.password is not None:
        raise StorageURLError(
            f"The storage URL {shown} gives a password and a password_file: drop one.")
    try:
        password = pathlib.Path(path).read_text().rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
        raise StorageURLError(
            f"Cannot read the password_file {path!r} of the storage URL {shown}: {reason}. "
            "Point it at a file this user can read.") from None
    if not password:
        raise StorageURLError(
            f"The password_file {path!r} of the storage URL {shown} is empty: write the "
            "database user's password into it.")
    return parsed.difference_update_query(["password_file"]).set(password=password)


def read_only_reason(path: str, asked: bool) -> str | None:
    """Why the SQLite file at ``path`` must be opened read-only, or None: the URL asks for it
    (``?mode=ro``), or the file or its folder cannot be written (a shared read-only mount,
    another user's results), where a read-write open would fail even to read."""
    folder = os.path.dirname(path)
    if asked:
        return "its URL asks for mode=ro"
    if os.path.exists(path) and not os.access(path, os.W_OK):
        return f"the file {path!r} is not writable"
    if os.path.exists(path) and not os.access(folder, os.W_OK):
        return f"its folder {folder!r} is not writable"
    return None


def read_only_connect(path: str, busy_timeout: float) -> Callable[[], sqlite3.Connection]:
    """Opens connections to the SQLite file at ``path`` that can only read it.

    A reader of a WAL database shares its ``-shm`` index, and creates it when missing; in a
    folder nobody may write, and with no ``-wal`` left behind (the last writer checkpointed
    it), the file is opened immutable instead: with no writer possible there, it holds
    everything."""
    folder = os.path.dirname(path)
    immutable = not os.access(folder, os.W_OK) and not os.path.exists(f"{path}-wal")
    uri = f"{pathlib.Path(path).as_uri()}?mode=ro{'&immutable=1' if immutable else ''}"
    return lambda: sqlite3.connect(uri, uri=True, check_same_thread=False,
                                   timeout=busy_timeout)
