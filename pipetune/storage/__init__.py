"""Storage: the only code that persists anything. ``get_storage`` turns a URL into a backend."""

from __future__ import annotations

import os
import threading

from pipetune.errors import StorageURLError
from pipetune.storage.base import BaseStorage
from pipetune.storage.memory import InMemoryStorage

__all__ = ["DEFAULT_STORAGE", "STORAGE_ENV", "BaseStorage", "InMemoryStorage",
           "default_storage_url", "get_storage"]

# The storage the ``pipetune`` command uses unless told another, and where ``start_run``
# records a run given none: ``$PIPETUNE_STORAGE``, else this file in the working folder.
DEFAULT_STORAGE = "sqlite:///pipetune.db"
STORAGE_ENV = "PIPETUNE_STORAGE"

_open_storages: dict[str, BaseStorage] = {}
_open_lock = threading.Lock()

_SQL_SCHEMES = ("sqlite", "postgresql", "postgres")
_HTTP_SCHEMES = ("http", "https")
# The bearer token a remote storage (``http://host:port``) sends, read when it is first opened.
TOKEN_ENV = "PIPETUNE_TOKEN"


def default_storage_url() -> str:
    """``$PIPETUNE_STORAGE`` when set, else ``DEFAULT_STORAGE``."""
    return os.environ.get(STORAGE_ENV) or DEFAULT_STORAGE


def get_storage(storage: "str | BaseStorage | None", *, create: bool = True) -> BaseStorage:
    """The storage named by ``storage``: a backend object as is, None for a new in-memory one,
    or a URL (``sqlite:///file.db``, ``postgresql://...``, ``http://host:port`` for a
    ``pipetune server``, with the token in ``$PIPETUNE_TOKEN`` and, for ``https://``, the CA
    bundle in ``$PIPETUNE_CA_BUNDLE``; a SQL URL may end in ``?durability=full`` for commits that
    wait for the disk). One process shares one backend (and its connection pool) per URL. With ``create=False`` (what reading calls pass) a
    SQLite file that does not exist is a StorageURLError naming it, never a new empty file."""
    if storage is None:
        return InMemoryStorage()
    if isinstance(storage, BaseStorage):
        return storage
    if not isinstance(storage, str):
        raise StorageURLError(
            f"storage must be a URL string, a storage object or None. Got {type(storage).__name__}."
        )
    scheme = storage.split(":", 1)[0].split("+", 1)[0].lower()
    if scheme in _HTTP_SCHEMES:
        with _open_lock:
            if storage not in _open_storages:
                from pipetune.storage.remote import CA_BUNDLE_ENV, RemoteStorage

                _open_storages[storage] = RemoteStorage(
                    storage, token=os.environ.get(TOKEN_ENV) or None,
                    ca_bundle=os.environ.get(CA_BUNDLE_ENV) or None)
            return _open_storages[storage]
    if scheme not in _SQL_SCHEMES:
        raise StorageURLError(
            f"Unknown storage URL {storage!r}. Use 'sqlite:///path/to/file.db' (the embedded "
            "default), 'postgresql://user@host:5432/db' or 'http://host:8080' (a pipetune "
            "server)."
        )
    if scheme == "sqlite" and storage.startswith("sqlite:///") and \
            not storage.startswith("sqlite:////") and storage != "sqlite:///:memory:":
        # A relative file means the working folder of now: key the shared backend by the
        # absolute path, so a process that changes folder opens the file it names.
        storage = "sqlite:///" + os.path.abspath(storage[len("sqlite:///"):])
    if scheme in ("postgresql", "postgres") and "+" not in storage.split(":", 1)[0]:
        # SQLAlchemy's default PostgreSQL driver is psycopg2; pipetune ships psycopg 3.
        storage = "postgresql+psycopg:" + storage.split(":", 1)[1]
    with _open_lock:
        if storage not in _open_storages:
            from pipetune.storage.sql import SQLStorage

            _open_storages[storage] = SQLStorage(storage, create=create)
        return _open_storages[storage]
