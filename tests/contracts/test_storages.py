"""Runs the storage contract (``pipetune.testing.storage``) over every storage backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from availability import require_installed

from pipetune.storage import InMemoryStorage
from pipetune.storage.journal import JournalFileBackend, JournalFileOpenLock, JournalStorage
from pipetune.storage.sql import SQLStorage
from pipetune.testing.storage import StorageContract


class TestInMemoryStorage(StorageContract):
    @pytest.fixture
    def storage(self) -> Iterator[InMemoryStorage]:
        backend = InMemoryStorage()
        yield backend
        backend.close()


class TestSQLiteFileStorage(StorageContract):
    @pytest.fixture
    def storage(self, sqlite_url: str) -> Iterator[SQLStorage]:
        backend = SQLStorage(sqlite_url)
        yield backend
        backend.close()


class TestSQLiteMemoryStorage(StorageContract):
    @pytest.fixture
    def storage(self) -> Iterator[SQLStorage]:
        backend = SQLStorage("sqlite://")
        yield backend
        backend.close()


class TestPostgreSQLStorage(StorageContract):
    @pytest.fixture
    def storage(self, postgres_empty_url: str, tmp_path: Path) -> Iterator[SQLStorage]:
        backend = SQLStorage(postgres_empty_url, artifact_root=tmp_path / "artifacts")
        yield backend
        backend.close()


class TestJournalStorage(StorageContract):
    @pytest.fixture
    def storage(self, tmp_path: Path) -> Iterator[JournalStorage]:
        backend = JournalStorage(JournalFileBackend(tmp_path / "journal.log"))
        yield backend
        backend.close()


class TestJournalStorageWithOpenLock(StorageContract):
    """The lock made by an exclusive open, for NFS mounts where symbolic links are refused."""

    @pytest.fixture
    def storage(self, tmp_path: Path) -> Iterator[JournalStorage]:
        path = tmp_path / "journal.log"
        backend = JournalStorage(JournalFileBackend(path, JournalFileOpenLock(str(path))))
        yield backend
        backend.close()


class TestRemoteStorage(StorageContract):
    """The remote storage against a real ``pipetune server`` on 127.0.0.1, one per class; each
    test swaps a fresh in-memory storage in behind it."""

    @pytest.fixture(scope="class")
    @classmethod
    def server(cls) -> Iterator[object]:
        require_installed("fastapi", "uvicorn", extra="server")
        from pipetune.server import BackgroundServer, create_app

        with BackgroundServer(create_app(InMemoryStorage())) as running:
            yield running

    @pytest.fixture
    def storage(self, server: object) -> Iterator[object]:
        from pipetune.storage.remote import RemoteStorage

        server.app.state.storage = InMemoryStorage()
        backend = RemoteStorage(server.url)
        yield backend
        backend.close()
