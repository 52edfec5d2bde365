"""Issue 14: each hole found by attacking ``pipetune server`` as a client on the network would,
as an attack that now fails, against a real ``pipetune server`` process (``conftest.py``: a
SQLite file, a write and a read token, a 1 MiB artifact cap).

Covered: (1) no file read through the dashboard's log route, (2) no fail-open auth, (3) no
``like`` pattern that freezes the server, (4) the token checked before a body is read and
bodies capped, (7) artifacts served as downloads, a Host allowlist, 400s instead of 500s for
bad names, filters and windows, (8) TLS with certificate verification.
"""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

import pytest
from availability import require_installed
from certificates import self_signed

require_installed("fastapi", "uvicorn", extra="server")

from server_process import READ, WRITE, RealServer, free_port, pipetune_command, started, token_file

import pipetune
from pipetune.cli import build_parser, main
from pipetune.cli.server import app_options
from pipetune.datatypes import StudyDirection, TrialState
from pipetune.errors import FilterSyntaxError, StorageError
from pipetune.launch import LaunchSpec, MetricSpec, ScriptObjective
from pipetune.search import MAX_CONDITIONS, MAX_DEPTH, MAX_FILTER_LENGTH
from pipetune.space import SearchSpace
from pipetune.storage import InMemoryStorage, get_storage
from pipetune.storage.remote import RemoteStorage

API = "/api/v1"
TRAIN = Path(__file__).parent.parent / "launch" / "scripts" / "train.py"
NOTE = "a" * 300
REDOS = "user_attrs.note like '%a%a%a%a%a%a%b'"  # exponential for a backtracking regex


def _writer(server: RealServer) -> RemoteStorage:
    return RemoteStorage(server.url, token=WRITE)


def _study(server: RealServer, name: str) -> tuple[RemoteStorage, int]:
    remote = _writer(server)
    return remote, remote.create_study(name, [StudyDirection.MINIMIZE])


def _error_of(body: bytes) -> dict:
    error = json.loads(body)
    assert set(error) == {"error", "message"}
    return error


# -- 1. no file read through the API -----------------------------------------------------------


def test_a_forged_log_file_attr_is_refused_and_never_read(real_server: RealServer) -> None:
    remote, sid = _study(real_server, "file-read")
    forged = json.dumps({"system_attrs": {"log_file": "/etc/passwd"}}).encode()
    status, _, body = real_server.request("POST", f"{API}/studies/{sid}/trials", forged, WRITE)
    assert status == 400 and "log_file" in _error_of(body)["message"]
    # A worker records the path of its trial's log on its own machine while the trial runs;
    # the dashboard serves the stored log only, never a file an attribute names.
    for path in ("/etc/passwd", "/dev/zero", str(real_server.folder / "db.sqlite")):
        trial = remote.claim_trial(sid)
        remote.set_trial_attr(trial.trial_id, "log_file", path, system=True)
        remote.finish_trial(trial.trial_id, TrialState.COMPLETE, [1.0])
        route = f"{API}/dashboard/studies/{sid}/trials/{trial.number}"
        status, _, body = real_server.request("GET", route + "/log?tail=5", token=READ,
                                              timeout=10)
        assert status == 404 and "no stored log" in _error_of(body)["message"]
        assert b"root:" not in body and b"SQLite" not in body
        assert json.loads(real_server.request("GET", route, token=READ)[2])["has_log"] is False
    remote.close()



def test_adding_a_whole_trial_needs_a_write_token_a_small_body_and_no_forged_attr(
        real_server: RealServer) -> None:
    """``POST .../trials/add`` (Study.add_trial through a server) writes a finished trial:
    refused without a token, with a read token, above the JSON cap, and with a log_file."""
    remote, sid = _study(real_server, "add")
    route = f"{API}/studies/{sid}/trials/add"
    whole = {"trial_id": 0, "number": 0, "state": "COMPLETE", "values": [1.0], "params": {},
             "user_attrs": {}, "system_attrs": {}, "intermediate_values": [],
             "datetime_start": None, "datetime_complete": None, "worker": None}
    body = json.dumps({"trial": whole}).encode()
    assert real_server.request("POST", route, body, None)[0] == 401
    assert real_server.request("POST", route, body, READ)[0] == 403
    forged = json.dumps({"trial": {**whole, "system_attrs": {"log_file": "/etc/passwd"}}})
    status, _, answer = real_server.request("POST", route, forged.encode(), WRITE)
    assert status == 400 and "log_file" in _error_of(answer)["message"]
    head = _head(real_server, "POST", route, f"Authorization: Bearer {WRITE}",
                 "Content-Type: application/json", f"Content-Length: {96 << 20}")
    assert _raw(real_server, head)[0] == 413
    assert remote.count_trials(sid) == 0  # none of them wrote anything
    assert real_server.request("POST", route, body, WRITE)[0] == 201
    assert remote.count_trials(sid) == 1
    remote.close()

def test_a_launched_trials_log_travels_as_its_artifact(real_server: RealServer, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture) -> None:
    """A script launched by a worker of the server: its log reaches the dashboard and
    ``pipetune logs`` as the stored artifact ``output.log``."""
    remote = _writer(real_server)
    study = pipetune.create_study(study_name="launched", storage=remote)
    launch = LaunchSpec((sys.executable, str(TRAIN)), MetricSpec("loss", r"final_loss=(\S+)"),
                        log_dir=str(tmp_path / "worker-logs"))
    space = SearchSpace.from_dict({"x": {"type": "float", "low": 0.5, "high": 2.0}})
    study.optimize(ScriptObjective(space, launch), n_trials=1)
    sid = study.run_interface.study_id
    status, _, body = real_server.request(
        "GET", f"{API}/dashboard/studies/{sid}/trials/0/log?tail=50", token=READ)
    assert status == 200 and b"final_loss=" in body
    monkeypatch.setenv("PIPETUNE_TOKEN", READ)
    assert main(["logs", "launched", "0", "--tail", "50", "--storage", real_server.url]) == 0
    assert "final_loss=" in capsys.readouterr().out
    remote.close()


# -- 2. no fail-open auth ----------------------------------------------------------------------


def test_a_token_file_without_a_token_stops_the_server_from_starting(tmp_path: Path) -> None:
    for text in ("", "# tokens go here\n\n"):
        tokens = token_file(tmp_path, text)
        result = subprocess.run(
            pipetune_command("server", "--storage", f"sqlite:///{tmp_path / 'db.sqlite'}",
                             "--port", str(free_port()), "--token-file", str(tokens)),
            capture_output=True, text=True, timeout=120)
        assert result.returncode == 2 and "holds no token" in result.stderr
    assert not (tmp_path / "db.sqlite").exists()


def test_another_address_than_loopback_needs_tokens_or_insecure(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    sqlite = f"sqlite:///{tmp_path / 'db.sqlite'}"
    for command in (["server"], ["dashboard", "--no-browser"]):
        assert main([*command, "--host", "0.0.0.0", "--storage", sqlite]) == 2
        error = capsys.readouterr().err
        assert "--token-file" in error and "--insecure" in error
    assert not (tmp_path / "db.sqlite").exists()
    # --insecure serves anyway (checked without opening a socket), with a warning
    args = build_parser().parse_args(["server", "--host", "0.0.0.0", "--insecure"])
    assert app_options(args)["tokens"] == {}
    assert "--insecure" in capsys.readouterr().err
    loopback = build_parser().parse_args(["server", "--host", "127.0.0.1"])
    assert app_options(loopback)["tokens"] == {}  # an open server on loopback stays fine


# -- 3. no request freezes the server ----------------------------------------------------------


def test_a_backtracking_like_pattern_does_not_freeze_the_server(real_server: RealServer) -> None:
    remote, sid = _study(real_server, "redos")
    for _ in range(20):
        trial = remote.claim_trial(sid)
        remote.set_trial_attr(trial.trial_id, "note", NOTE)
        remote.finish_trial(trial.trial_id, TrialState.COMPLETE, [1.0])
    query = urllib.parse.urlencode({"filter": REDOS})
    answers: dict[str, tuple[int, bytes]] = {}

    def ask(route: str) -> None:
        status, _, body = real_server.request("GET", f"{route}?{query}", token=READ, timeout=60)
        answers[route] = (status, body)

    routes = [f"{API}/dashboard/studies/{sid}/trials",  # Python
              f"{API}/studies/{sid}/trials/search"]  # SQL
    askers = [threading.Thread(target=ask, args=(route,)) for route in routes]
    for asker in askers:
        asker.start()
    assert real_server.request("GET", f"{API}/health", timeout=10)[0] == 200
    for asker in askers:
        asker.join(60)
    assert answers[routes[0]][0] == 200 and json.loads(answers[routes[0]][1])["total"] == 0
    assert answers[routes[1]] == (200, b"[]")
    remote.close()


def test_any_filter_over_ten_thousand_trials_answers_promptly_in_python() -> None:
    storage = InMemoryStorage()
    study = pipetune.create_study(storage=storage, study_name="big")
    for number in range(10_000):
        trial_id = storage.create_trial(study.run_interface.study_id,
                                        state=TrialState.RUNNING).trial_id
        storage.set_trial_attr(trial_id, "note", NOTE)
        storage.finish_trial(trial_id, TrialState.COMPLETE, [float(number)])
    likes = " or ".join(["user_attrs.note like '%" + "_a" * 40 + "b%'"] * 4)
    conditions = " or ".join(f"value = {i}" for i in range(MAX_CONDITIONS))
    for condition in (REDOS, likes, "number in (" + ", ".join(map(str, range(100))) + ")",
                      conditions):
        assert len(condition) <= MAX_FILTER_LENGTH
        started_at = time.monotonic()
        study.search(condition)
        # generous: does-not-hang (about 0.05 to 1 s here; the old regex never finished)
        assert time.monotonic() - started_at < 10, condition


# -- 4. the token before the body, bodies capped -----------------------------------------------


def _raw(server: RealServer, head: str, body: bytes = b"", chunks: int = 0,
         chunk: bytes = b"") -> tuple[int, bytes]:
    """Sends ``head`` and ``body`` (then ``chunks`` chunks of a chunked body) on a raw
    socket while reading the answer, which may come before the body is all sent."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:

        def send() -> None:
            try:
                sock.sendall(head.encode() + body)
                for _ in range(chunks):
                    sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                sock.sendall(b"0\r\n\r\n" if chunks else b"")
            except OSError:
                pass  # the server answered and closed: that is the point

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        answer = b""
        while not _whole(answer):
            data = sock.recv(65536)
            if not data:
                break
            answer += data
    status = int(answer.split(b" ", 2)[1])
    return status, answer


def _whole(answer: bytes) -> bool:
    """Whether ``answer`` holds a response's head and all the body its Content-Length says."""
    head, separator, body = answer.partition(b"\r\n\r\n")
    length = head.lower().partition(b"content-length: ")[2].split(b"\r\n", 1)[0]
    return bool(separator) and len(body) >= int(length or 0)


def _head(server: RealServer, method: str, path: str, *lines: str) -> str:
    return "\r\n".join([f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{server.port}",
                        *lines, "", ""])


def test_a_huge_body_without_a_token_is_refused_before_it_is_read(
        real_server: RealServer) -> None:
    before = real_server.rss_bytes()
    head = _head(real_server, "POST", f"{API}/studies", "Content-Type: application/json",
                 f"Content-Length: {96 << 20}")
    # 96 MB announced, 64 KiB sent: the 401 cannot be waiting for the rest.
    status, answer = _raw(real_server, head, b"[" * 65536)
    assert status == 401 and b"bearer token" in answer
    head = _head(real_server, "PUT", f"{API}/trials/1/attrs/k", f"Authorization: Bearer {READ}",
                 "Content-Type: application/json", f"Content-Length: {96 << 20}")
    assert _raw(real_server, head, b"[" * 65536)[0] == 403
    assert real_server.rss_bytes() - before < 32 << 20


def test_bodies_above_their_cap_get_413_and_are_not_buffered(real_server: RealServer) -> None:
    remote, sid = _study(real_server, "caps")
    trial = remote.claim_trial(sid)
    before = real_server.rss_bytes()
    token = f"Authorization: Bearer {WRITE}"
    json_route = f"{API}/trials/{trial.trial_id}/attrs/big"
    head = _head(real_server, "PUT", json_route, token, "Content-Type: application/json",
                 f"Content-Length: {96 << 20}")
    status, answer = _raw(real_server, head)  # refused from its Content-Length alone
    assert status == 413 and b"MiB" in answer
    chunked = _head(real_server, "PUT", json_route, token, "Content-Type: application/json",
                    "Transfer-Encoding: chunked")
    assert _raw(real_server, chunked, chunks=160, chunk=b" " * 65536)[0] == 413  # 10 MiB
    artifact = f"{API}/trials/{trial.trial_id}/artifacts/model.bin"
    head = _head(real_server, "PUT", artifact, token, f"Content-Length: {2 << 20}")
    assert _raw(real_server, head)[0] == 413  # the server was started with a 1 MiB cap
    chunked = _head(real_server, "PUT", artifact, token, "Transfer-Encoding: chunked")
    assert _raw(real_server, chunked, chunks=32, chunk=b"x" * 65536)[0] == 413
    assert real_server.rss_bytes() - before < 32 << 20
    assert remote.list_artifacts(trial.trial_id) == []
    remote.put_artifact(trial.trial_id, "model.bin", b"x" * (1 << 19))  # under the cap: stored
    assert len(remote.read_artifact(trial.trial_id, "model.bin")) == 1 << 19
    remote.close()


# -- 7. smaller holes --------------------------------------------------------------------------


def test_an_uploaded_html_artifact_is_served_as_a_download(real_server: RealServer) -> None:
    remote, sid = _study(real_server, "html")
    trial = remote.claim_trial(sid)
    remote.put_artifact(trial.trial_id, "report/page.html", b"<script>alert(1)</script>",
                        "text/html")
    status, headers, body = real_server.request(
        "GET", f"{API}/trials/{trial.trial_id}/artifacts/report/page.html", token=READ)
    assert status == 200 and body == b"<script>alert(1)</script>"
    assert headers["content-type"] == "application/octet-stream"
    assert headers["content-disposition"] == 'attachment; filename="page.html"'
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["content-security-policy"] == "sandbox"
    remote.close()


def test_a_request_for_another_host_is_refused(real_server: RealServer) -> None:
    """DNS rebinding: a page of evil.example whose name now points at 127.0.0.1."""
    for path in ("/", f"{API}/health", f"{API}/studies"):
        status, _, body = real_server.request("GET", path, token=READ,
                                              headers={"Host": f"evil.example:{real_server.port}"})
        assert status == 400 and "--allowed-host evil.example" in _error_of(body)["message"]
    for host in ("localhost", f"localhost:{real_server.port}", "[::1]:80"):
        assert real_server.request("GET", f"{API}/studies", token=READ,
                                   headers={"Host": host})[0] == 200


def test_the_dashboard_command_checks_the_host_too(tmp_path: Path) -> None:
    with started(tmp_path, "dashboard", "--no-browser", "--storage",
                 f"sqlite:///{tmp_path / 'db.sqlite'}", "--allowed-host", "tuner.lan") as server:
        assert server.request("GET", "/", headers={"Host": "evil.example"})[0] == 400
        for host in ("127.0.0.1", "tuner.lan:8080"):
            assert server.request("GET", "/", headers={"Host": host})[0] == 200


def test_bad_names_filters_and_windows_are_400s(real_server: RealServer) -> None:
    remote, sid = _study(real_server, "bad-input")
    trial = remote.claim_trial(sid)
    for name in ("nul%00.txt", "x" * 300, "/".join(["deep"] * 40) + "/f.txt", "a/../../b"):
        status, _, body = real_server.request(
            "PUT", f"{API}/trials/{trial.trial_id}/artifacts/{name}", b"x", WRITE)
        assert status == 400 and _error_of(body)["error"] == "InvalidArgumentError", name
    deep = "(" * (MAX_DEPTH + 1) + "number = 1" + ")" * (MAX_DEPTH + 1)
    bad_filters = {deep: "nests", "not " * 200 + "number = 1": "at most",
                   " or ".join(["number = 1"] * (MAX_CONDITIONS + 1)): "comparisons"}
    for routes in (f"{API}/studies/{sid}/trials/search", f"{API}/dashboard/studies/{sid}/trials"):
        for text, reason in bad_filters.items():
            query = urllib.parse.urlencode({"filter": text})
            status, _, body = real_server.request("GET", f"{routes}?{query}", token=READ)
            error = _error_of(body)
            assert (status, error["error"]) == (400, "FilterSyntaxError") and reason in \
                error["message"]
    search = f"{API}/studies/{sid}/trials/search"
    for window in ("limit=1e20", f"limit={10**20}", f"offset={10**20}", "offset=-1",
                   "limit=-5"):
        status, _, body = real_server.request("GET", f"{search}?{window}", token=READ)
        assert status == 400 and _error_of(body)["error"] == "InvalidArgumentError", window
    with pytest.raises(FilterSyntaxError, match="nests"):
        remote.search_trials(sid, deep)
    remote.close()


# -- 8. TLS --------------------------------------------------------------------------------


def _self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 signed by its own key (PEM files)."""
    return self_signed(folder / "cert.pem", folder / "key.pem")


def test_tls_with_a_self_signed_certificate(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    cert, key = _self_signed(tmp_path)
    tokens = token_file(tmp_path, "# one bare token, as secret managers write it\ns3cr3t\n")
    trusting = ssl.create_default_context(cafile=str(cert))
    with started(tmp_path, "server", "--storage", f"sqlite:///{tmp_path / 'db.sqlite'}",
                 "--token-file", str(tokens), "--tls-cert", str(cert), "--tls-key", str(key),
                 tls=trusting) as server:
        assert server.url.startswith("https://")
        remote = RemoteStorage(server.url, token="s3cr3t", ca_bundle=str(cert))
        sid = remote.create_study("tls", [StudyDirection.MINIMIZE])  # the bare token writes
        remote.close()
        with pytest.raises(StorageError, match="PIPETUNE_CA_BUNDLE"):
            RemoteStorage(server.url, token="s3cr3t", retries=0).list_studies()
        monkeypatch.setenv("PIPETUNE_TOKEN", "s3cr3t")
        monkeypatch.setenv("PIPETUNE_CA_BUNDLE", str(cert))
        from_environment = get_storage(server.url)
        assert from_environment.get_study_name(sid) == "tls"
        from_environment.close()  # an idle TLS connection holds a graceful stop back
        plain = RemoteStorage(server.url.replace("https", "http"), token="s3cr3t", retries=0)
        with pytest.raises(StorageError):
            plain.list_studies()
        plain.close()


def test_tls_files_that_cannot_serve_are_refused_before_starting(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    cert, _ = _self_signed(tmp_path)
    sqlite = f"sqlite:///{tmp_path / 'db.sqlite'}"
    assert main(["server", "--storage", sqlite, "--tls-cert", str(cert)]) == 2
    assert "--tls-key" in capsys.readouterr().err
    assert main(["server", "--storage", sqlite, "--tls-cert", str(cert), "--tls-key",
                 str(tmp_path / "missing.pem")]) == 2
    assert "--tls-key" in capsys.readouterr().err
    assert not (tmp_path / "db.sqlite").exists()
