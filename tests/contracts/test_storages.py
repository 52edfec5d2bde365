"""Runs the storage contract (``pipetune.testing.storage``) over every storage backend."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pipetune.storage import InMemoryStorage
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
    def storage(self, postgres_empty_url: str) -> Iterator[SQLStorage]:
        backend = SQLStorage(postgres_empty_url)
        yield backend
        backend.close()
