"""``pipetune server`` and the remote storage: tokens, errors over HTTP, studies run end to end.

Every server here listens on 127.0.0.1 (a free port) on a thread of the test process, except the
one started through the real ``pipetune server`` command.
"""

from __future__ import annotations

import json
import math
import os
import pickle
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from availability import require_installed

require_installed("fastapi", "uvicorn", extra="server")

import pipetune
from pipetune.cli import build_parser
from pipetune.datatypes import StudyDirection, TrialState
from pipetune.errors import (
    ConfigError,
    DuplicateStudyError,
    StorageError,
    StorageUnavailableError,
    StudyNotFoundError,
    TrialNotFoundError,
    UpdateFinishedTrialError,
)
from pipetune.server import BackgroundServer, create_app, read_token_file
from pipetune.server.errors import status_of
from pipetune.storage import InMemoryStorage, get_storage
from pipetune.storage.remote import RemoteStorage
from pipetune.storage.sql import SQLStorage

WRITE, READ = "w-secret", "r-secret"


def _forget(url: str) -> None:
    """Closes the clients ``get_storage`` cached for ``url`` (``create_study(storage=url)``)."""
    from pipetune import storage as storage_module

    with storage_module._open_lock:
        cached = [storage_module._open_storages.pop(key)
                  for key in list(storage_module._open_storages) if key.startswith(url)]
    for backend in cached:
        backend.close()


@pytest.fixture
def server() -> Iterator[BackgroundServer]:
    with BackgroundServer(create_app(InMemoryStorage())) as running:
        yield running
        _forget(running.url)


@pytest.fixture
def token_server() -> Iterator[BackgroundServer]:
    app = create_app(InMemoryStorage(), {WRITE: "write", READ: "read"})
    with BackgroundServer(app) as running:
        yield running
        _forget(running.url)


@pytest.fixture(autouse=True)
def _close_clients(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Closes every RemoteStorage a test opens, so no socket outlives its test."""
    opened: list[RemoteStorage] = []
    original = RemoteStorage.__init__

    def tracking_init(self: RemoteStorage, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        opened.append(self)

    monkeypatch.setattr(RemoteStorage, "__init__", tracking_init)
    yield
    for client in opened:
        client.close()


def _http(method: str, url: str, body: Any = None, token: str | None = None) -> tuple[int, Any]:
    """One raw request, as a client other than RemoteStorage would send it."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# -- authorization ---------------------------------------------------------------------------------


def test_writes_need_a_write_token(token_server: BackgroundServer) -> None:
    url = token_server.url + "/api/v1/studies"
    body = {"study_name": "s", "directions": ["MINIMIZE"]}
    status, error = _http("POST", url, body)
    assert status == 401 and "token" in error["message"]
    assert _http("POST", url, body, token="not-a-token")[0] == 401
    status, error = _http("POST", url, body, token=READ)
    assert status == 403 and "write" in error["message"]
    assert token_server.app.state.storage.list_studies() == []
    status, created = _http("POST", url, body, token=WRITE)
    assert status == 201
    assert token_server.app.state.storage.get_study_id("s") == created["study_id"]


def test_reads_need_any_known_token(token_server: BackgroundServer) -> None:
    token_server.app.state.storage.create_study("s", [StudyDirection.MINIMIZE])
    url = token_server.url + "/api/v1/studies"
    assert _http("GET", url)[0] == 401
    for token in (READ, WRITE):
        status, studies = _http("GET", url, token=token)
        assert status == 200 and [s["study_name"] for s in studies] == ["s"]
    # the health probe and the spec stay open
    assert _http("GET", token_server.url + "/api/v1/health")[0] == 200
    assert _http("GET", token_server.url + "/openapi.json")[0] == 200


def test_remote_storage_with_tokens(token_server: BackgroundServer) -> None:
    with pytest.raises(StorageError, match="PIPETUNE_TOKEN"):
        RemoteStorage(token_server.url).list_studies()
    reader = RemoteStorage(token_server.url, token=READ)
    assert reader.list_studies() == []
    with pytest.raises(StorageError, match="write token"):
        reader.create_study("s", [StudyDirection.MINIMIZE])
    writer = RemoteStorage(token_server.url, token=WRITE)
    study_id = writer.create_study("s", [StudyDirection.MAXIMIZE])
    assert reader.get_study_directions(study_id) == (StudyDirection.MAXIMIZE,)


def test_get_storage_reads_the_token_from_the_environment(
        token_server: BackgroundServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIPETUNE_TOKEN", WRITE)
    study = pipetune.create_study(study_name="env", storage=token_server.url)
    study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=3)
    backend = token_server.app.state.storage
    assert backend.count_trials(backend.get_study_id("env")) == 3


def test_token_file_format(tmp_path: Path) -> None:
    path = tmp_path / "tokens"
    path.write_text("# dashboard\nread abc\n\nwrite def\n")
    assert read_token_file(path) == {"abc": "read", "def": "write"}
    path.write_text("# made by the secrets manager\n  s3cr3t-token  \n")
    assert read_token_file(path) == {"s3cr3t-token": "write"}  # one bare token: a write token
    path.write_text("write def\nadmin xyz\n")
    with pytest.raises(ConfigError, match="Line 2") as refused:
        read_token_file(path)
    assert "xyz" not in str(refused.value)  # a token never lands in a log
    path.write_text("read def\nwrite def\n")
    with pytest.raises(ConfigError, match="one role"):
        read_token_file(path)
    for empty in ("", "\n\n", "# only comments\n# here\n"):
        path.write_text(empty)
        with pytest.raises(ConfigError, match="holds no token"):
            read_token_file(path)
    with pytest.raises(ConfigError, match="Cannot read"):
        read_token_file(tmp_path / "missing")


# -- errors over HTTP --------------------------------------------------------------------------


def test_errors_keep_their_type_and_message_through_the_client(server: BackgroundServer) -> None:
    remote = RemoteStorage(server.url)
    with pytest.raises(StudyNotFoundError, match="nope"):
        remote.get_study_id("nope")
    with pytest.raises(StudyNotFoundError):
        pipetune.load_study(study_name="nope", storage=server.url)
    study_id = remote.create_study("s", [StudyDirection.MINIMIZE])
    with pytest.raises(DuplicateStudyError, match="load_if_exists"):
        remote.create_study("s", [StudyDirection.MINIMIZE])
    trial = remote.claim_trial(study_id)
    remote.finish_trial(trial.trial_id, TrialState.COMPLETE, [1.0])
    with pytest.raises(UpdateFinishedTrialError):
        remote.set_trial_attr(trial.trial_id, "k", 1)
    with pytest.raises(TrialNotFoundError):
        remote.get_trial(trial.trial_id + 100)


def test_error_statuses_follow_the_table(server: BackgroundServer) -> None:
    api = server.url + "/api/v1"
    assert _http("GET", api + "/studies/by-name?name=nope")[0] == 404
    body = {"study_name": "s", "directions": ["MINIMIZE"]}
    assert _http("POST", api + "/studies", body)[0] == 201
    status, error = _http("POST", api + "/studies", body)
    assert (status, error["error"]) == (409, "DuplicateStudyError")
    status, error = _http("POST", api + "/studies", {"study_name": "t", "directions": ["up"]})
    assert (status, error["error"]) == (400, "InvalidArgumentError")
    status, error = _http("POST", api + "/studies", {"directions": []})  # a schema error
    assert (status, error["error"]) == (400, "InvalidArgumentError")
    assert "study_name" in error["message"] and "Field required" in error["message"]
    assert status_of(StorageUnavailableError("down")) == 503
    assert status_of(StorageError("not a database")) == 500
    assert status_of(RuntimeError("bug")) == 500


def test_a_malformed_trial_to_add_is_a_bad_request(server: BackgroundServer) -> None:
    api = server.url + "/api/v1"
    study_id = RemoteStorage(server.url).create_study("s", [StudyDirection.MINIMIZE])
    whole = {"trial_id": 0, "number": 0, "state": "WAITING", "values": None, "params": {},
             "user_attrs": {}, "system_attrs": {}, "intermediate_values": [],
             "datetime_start": None, "datetime_complete": None, "worker": None}
    for broken in ({}, {**whole, "state": "DONE"}, {**whole, "user_attrs": [1]},
                   {**whole, "worker": 7}, {**whole, "intermediate_values": [[2**70, 1.0]]},
                   {**whole, "datetime_start": "yesterday"},
                   {**whole, "system_attrs": {"log_file": "/etc/passwd"}},
                   {**whole, "params": {"x": {"internal": 9, "distribution": {
                       "type": "categorical", "choices": [1]}}}}):  # no choice 9
        status, error = _http("POST", f"{api}/studies/{study_id}/trials/add", {"trial": broken})
        assert (status, error["error"]) == (400, "InvalidArgumentError"), broken
    status, added = _http("POST", f"{api}/studies/{study_id}/trials/add", {"trial": whole})
    assert (status, added["state"], added["number"]) == (201, "WAITING", 0)


def test_openapi_spec_lists_versioned_paths(server: BackgroundServer) -> None:
    status, spec = _http("GET", server.url + "/openapi.json")
    assert status == 200
    assert "/api/v1/studies" in spec["paths"]
    assert "/api/v1/studies/{study_id}/trials/claim" in spec["paths"]
    assert all(path.startswith("/api/v1/") for path in spec["paths"])


def test_values_nan_and_infinity_round_trip(server: BackgroundServer) -> None:
    remote = RemoteStorage(server.url)
    study_id = remote.create_study("s", [StudyDirection.MINIMIZE, StudyDirection.MAXIMIZE])
    trial = remote.claim_trial(study_id)
    remote.set_trial_intermediate_value(trial.trial_id, 0, (math.nan, -math.inf))
    remote.finish_trial(trial.trial_id, TrialState.COMPLETE, [math.inf, 2.5])
    stored = remote.get_trial(trial.trial_id)
    assert stored.values == (math.inf, 2.5)
    first, second = stored.intermediate_values[0]
    assert math.isnan(first) and second == -math.inf
    remote.set_study_attr(study_id, "odd", [math.inf])
    assert remote.get_study_attrs(study_id) == {"odd": [math.inf]}


# -- running studies through the server ------------------------------------------------------


def test_create_study_and_optimize_through_the_server(server: BackgroundServer) -> None:
    study = pipetune.create_study(study_name="e2e", storage=server.url, direction="minimize")

    def objective(trial: pipetune.Trial) -> float:
        x = trial.suggest_float("x", -3.0, 3.0)
        kind = trial.suggest_categorical("kind", ["a", "b"])
        trial.report(x * x, step=0)
        return x * x + (kind == "b")

    study.optimize(objective, n_trials=12, n_jobs=2)
    backend = server.app.state.storage
    study_id = backend.get_study_id("e2e")
    assert backend.count_trials(study_id, [TrialState.COMPLETE]) == 12
    assert sorted(t.number for t in backend.get_trials(study_id)) == list(range(12))
    again = pipetune.load_study(study_name="e2e", storage=server.url)
    assert again.best_value == min(t.value for t in backend.get_trials(study_id))
    assert set(again.best_params) == {"x", "kind"}


def test_heartbeats_and_stale_trials_through_the_server() -> None:
    with BackgroundServer(create_app(SQLStorage("sqlite://"))) as running:
        remote = RemoteStorage(running.url)
        study_id = remote.create_study("s", [StudyDirection.MINIMIZE])
        trial = remote.claim_trial(study_id, worker="w1")
        remote.heartbeat(trial.trial_id)
        assert remote.fail_stale_trials(study_id, grace_period=3600.0) == []
        assert remote.get_trial(trial.trial_id).state == TrialState.RUNNING


# -- connection failures -----------------------------------------------------------------------


def test_unreachable_server_is_a_storage_error_naming_the_url() -> None:
    url = f"http://127.0.0.1:{_free_port()}"
    with pytest.raises(StorageUnavailableError, match=url.replace(".", r"\.")):
        RemoteStorage(url, retries=1).list_studies()


def test_a_restarted_server_is_survived() -> None:
    backend = InMemoryStorage()
    first = BackgroundServer(create_app(backend)).start()
    port = first.port
    remote = RemoteStorage(first.url)
    study_id = remote.create_study("s", [StudyDirection.MINIMIZE])
    first.stop()
    restarted: list[BackgroundServer] = []

    def restart() -> None:
        time.sleep(0.3)
        restarted.append(BackgroundServer(create_app(backend), port=port).start())

    thread = threading.Thread(target=restart)
    thread.start()
    try:
        trial = remote.claim_trial(study_id)  # refused at first, then retried
        assert trial.number == 0
    finally:
        thread.join()
        for server in restarted:
            server.stop()


# -- the command -----------------------------------------------------------------------------


def test_server_binds_to_loopback_by_default() -> None:
    args = build_parser().parse_args(["server"])
    assert args.host == "127.0.0.1" and args.port == 8080


def test_pipetune_server_command_serves_a_sqlite_file(tmp_path: Path) -> None:
    port = _free_port()
    tokens = tmp_path / "tokens"
    tokens.write_text("write w1\nread r1\n")
    command = [sys.executable, "-c", "import sys; from pipetune.cli import main; sys.exit(main())",
               "server", "--storage",
               f"sqlite:///{tmp_path / 'db.sqlite'}", "--port", str(port),
               "--token-file", str(tokens)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if _http("GET", url + "/api/v1/health")[0] == 200:
                    break
            except (urllib.error.URLError, ConnectionError):
                pass
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.1)
        remote = RemoteStorage(url, token="w1")
        study_id = remote.create_study("cli", [StudyDirection.MINIMIZE])
        remote.finish_trial(remote.claim_trial(study_id).trial_id, TrialState.COMPLETE, [0.5])
        assert RemoteStorage(url, token="r1").count_trials(study_id) == 1
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=20)
    assert process.returncode == 0, stderr  # SIGTERM is a graceful stop
    assert "127.0.0.1" in stderr
    reopened = SQLStorage(f"sqlite:///{tmp_path / 'db.sqlite'}")
    assert reopened.count_trials(reopened.get_study_id("cli"), [TrialState.COMPLETE]) == 1
    reopened.close()


def test_remote_storage_pickles_as_its_address(server: BackgroundServer) -> None:
    remote = RemoteStorage(server.url, token="t", retries=2)
    study_id = remote.create_study("s", [StudyDirection.MINIMIZE])
    copy = pickle.loads(pickle.dumps(remote))
    assert copy.url == server.url and copy.get_study_name(study_id) == "s"
    copy.close()


def test_get_storage_opens_a_remote_storage_for_http_urls(server: BackgroundServer) -> None:
    storage = get_storage(server.url)
    assert isinstance(storage, RemoteStorage) and storage.url == server.url
    assert get_storage(server.url) is storage
