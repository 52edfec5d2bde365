"""Storage: the only code that persists anything. ``get_storage`` turns a URL into a backend."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from pipetune.errors import ConfigError, StorageURLError
from pipetune.storage.base import BaseStorage, TrackingStorage
from pipetune.storage.memory import InMemoryStorage

__all__ = ["DEFAULT_STORAGE", "STORAGE_ENV", "TOKEN_ENV", "TOKEN_FILE_ENV", "BaseStorage",
           "InMemoryStorage", "TrackingStorage", "default_storage_url", "get_storage",
           "remote_token", "sql_url"]

# The storage the ``pipetune`` command uses unless told another, and where ``start_run``
# records a run given none: ``$PIPETUNE_STORAGE``, else this file in the working folder.
DEFAULT_STORAGE = "sqlite:///pipetune.db"
STORAGE_ENV = "PIPETUNE_STORAGE"

_open_storages: dict[str, BaseStorage] = {}
_open_lock = threading.Lock()

_SQL_SCHEMES = ("sqlite", "postgresql", "postgres")
_HTTP_SCHEMES = ("http", "https")
_JOURNAL_SCHEME = "journal"
# The bearer token a remote storage (``http://host:port``) sends, read when it is first opened:
# the variable itself, or the file the second one names (a container's mounted secret, so that
# the token is in no environment or command line).
TOKEN_ENV = "PIPETUNE_TOKEN"
TOKEN_FILE_ENV = "PIPETUNE_TOKEN_FILE"


def default_storage_url() -> str:
    """``$PIPETUNE_STORAGE`` when set, else ``DEFAULT_STORAGE``."""
    return os.environ.get(STORAGE_ENV) or DEFAULT_STORAGE


def get_storage(storage: str | BaseStorage | None, *, create: bool = True) -> BaseStorage:
    """The storage named by ``storage``: a backend object as is, None for a new in-memory one,
    or a URL (``sqlite:///file.db``, ``postgresql://...``, ``http://host:port`` for a
    ``pipetune server``, with the token of ``remote_token`` and, for ``https://``, the CA
    bundle in ``$PIPETUNE_CA_BUNDLE``; a SQL URL may end in ``?durability=full`` for commits that
    wait for the disk; ``journal:///file.log`` for a journal file). One process shares one
    backend (and its connection pool) per URL. With ``create=False`` (what reading calls
    pass) a SQLite or journal file that does not exist is a StorageURLError naming it, never a
    new empty file."""
    if storage is None:
        return InMemoryStorage()
    if isinstance(storage, BaseStorage):
        return storage
    if not isinstance(storage, str):
        raise StorageURLError(
            f"storage must be a URL string, a storage object or None. Got {type(storage).__name__}."
        )
    scheme = storage.split(":", 1)[0].split("+", 1)[0].lower()
    if scheme == _JOURNAL_SCHEME:
        return _open_journal(storage, create)
    if scheme in _HTTP_SCHEMES:
        with _open_lock:
            if storage not in _open_storages:
                from pipetune.storage.remote import CA_BUNDLE_ENV, RemoteStorage

                _open_storages[storage] = RemoteStorage(
                    storage, token=remote_token(),
                    ca_bundle=os.environ.get(CA_BUNDLE_ENV) or None)
            return _open_storages[storage]
    if scheme not in _SQL_SCHEMES:
        raise StorageURLError(
            f"Unknown storage URL {storage!r}. Use 'sqlite:///path/to/file.db' (the embedded "
            "default), 'postgresql://user@host:5432/db', 'http://host:8080' (a pipetune "
            "server) or 'journal:///path/to/file.log' (a journal file on a shared folder)."
        )
    storage = sql_url(storage)
    with _open_lock:
        if storage not in _open_storages:
            from pipetune.storage.sql import SQLStorage

            _open_storages[storage] = SQLStorage(storage, create=create)
        return _open_storages[storage]


def remote_token() -> str | None:
    """The bearer token for a ``pipetune server``: ``$PIPETUNE_TOKEN``, or the one token in the
    file ``$PIPETUNE_TOKEN_FILE`` names (a secret mounted into a container: the same bare-token
    file the server's ``--token-file`` reads as a write token), else None. Setting both, or a
    file that is unreadable or holds anything but one token, is a ConfigError."""
    token, path = os.environ.get(TOKEN_ENV), os.environ.get(TOKEN_FILE_ENV)
    if not path:
        return token or None
    if token:
        raise ConfigError(
            f"Both ${TOKEN_ENV} and ${TOKEN_FILE_ENV} are set: unset one, so that it is clear "
            "which token the pipetune server gets.")
    try:
        words = Path(path).read_text().split()
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
        raise ConfigError(
            f"Cannot read the token file ${TOKEN_FILE_ENV}={path!r}: {reason}. Point it at a "
            "file this user can read.") from None
    if len(words) != 1:
        raise ConfigError(
            f"The token file ${TOKEN_FILE_ENV}={path!r} must hold one bare token (a write "
            f"token for workers), nothing else. It holds {len(words)} words: for a server "
            "token file of 'write <token>' lines, give the client a file of its write token "
            f"alone, or set ${TOKEN_ENV}.")
    return words[0]


def sql_url(url: str) -> str:
    """A SQL storage URL as pipetune opens it: a relative SQLite file made absolute (the
    working folder of now, so a process that changes folder opens the file it names), and
    PostgreSQL with pipetune's driver, psycopg 3, unless the URL names one."""
    scheme = url.split(":", 1)[0].lower()
    if scheme == "sqlite" and url.startswith("sqlite:///") and \
            not url.startswith("sqlite:////") and url != "sqlite:///:memory:":
        return "sqlite:///" + os.path.abspath(url[len("sqlite:///"):])
    if scheme in ("postgresql", "postgres"):  # SQLAlchemy's default driver is psycopg2
        return "postgresql+psycopg:" + url.split(":", 1)[1]
    return url


def _open_journal(url: str, create: bool) -> BaseStorage:
    """The journal storage of a ``journal:///path`` URL (relative to the working folder, like
    SQLite's; ``journal:////abs/path`` for an absolute one), shared per file in a process."""
    if not url.startswith("journal:///") or url == "journal:///":
        raise StorageURLError(
            f"A journal URL names a file: 'journal:///relative/file.log' or "
            f"'journal:////absolute/file.log'. Got {url!r}.")
    path = os.path.abspath(url[len("journal:///"):])
    if not create and not os.path.exists(path):
        raise StorageURLError(
            f"Cannot open the storage {url}: the journal file {path!r} does not exist, and "
            "reading never creates one. Fix the path (a relative one starts from the working "
            "folder), or create a study there first.")
    with _open_lock:
        key = f"journal:///{path}"
        if key not in _open_storages:
            from pipetune.storage.journal import JournalStorage

            _open_storages[key] = JournalStorage(path)
        return _open_storages[key]
