"""Fixtures of the server tests: ``real_server``, one real ``pipetune server`` process per test
module (``server_process.py``), over a SQLite file, with a write and a read token and a 1 MiB
artifact cap."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from availability import require_installed
from server_process import RealServer, started, token_file


@pytest.fixture(scope="module")
def real_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealServer]:
    require_installed("fastapi", "uvicorn", extra="server")
    folder = tmp_path_factory.mktemp("real-server")
    with started(folder, "server", "--storage", f"sqlite:///{folder / 'db.sqlite'}",
                 "--token-file", str(token_file(folder)), "--max-artifact-mb", "1") as server:
        yield server
