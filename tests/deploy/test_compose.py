"""deploy/compose.yaml (and its TLS addition) does what README.md's "Deploying" says.

The machines running these tests have no Docker daemon, so the compose file's services run
as local processes on 127.0.0.1 (``deploy_files.Localhost``): each one's command and
environment exactly as the file writes them, with only what a container runtime provides
replaced (service names and the published port by 127.0.0.1 and a free port, mounted secrets
by local files, the postgres service by the test's own PostgreSQL database). This proves the
wiring the files describe: commands, options, secrets, the health check, the order of start;
not the images (tests/deploy/test_dockerfile.py checks those statically).
"""

from __future__ import annotations

import http.client
import json
import re
import secrets
import signal
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from availability import require_installed
from certificates import self_signed
from deploy_files import (
    DEPLOY,
    ROOT,
    Localhost,
    command_of,
    free_port,
    load_compose,
    option,
    secret_names,
)

from pipetune.cli import build_parser

BUDGET = 8
STUDY = "deployed"
VARIABLES = {"PIPETUNE_MAX_TRIALS": str(BUDGET), "PIPETUNE_STUDY": STUDY}

# The training code the test's workers carry (the image's /app): every worker's first trial
# waits until the other worker has started one too, so the two demonstrably share the study.
RENDEZVOUS_CODE = '''
import os
import time
from pathlib import Path

HERE = Path(__file__).parent


def objective(trial):
    x = trial.suggest_float("x", -10, 10)
    (HERE / f"started-{os.getpid()}").touch()
    deadline = time.monotonic() + 60
    while len(list(HERE.glob("started-*"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    return (x - 2) ** 2
'''


def _start(local: Localhost, service: str, folder: Path, log_name: str) -> subprocess.Popen:
    cwd = local.code if service == "worker" else folder  # the worker image's WORKDIR /app
    with (folder / f"{log_name}.log").open("w") as log:  # a file: a full pipe would block it
        return subprocess.Popen(local.argv(service), cwd=cwd, env=local.environment(service),
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)


def _wait_healthy(local: Localhost, server: subprocess.Popen, folder: Path) -> None:
    """Runs the compose file's health check until it passes, as compose does before it starts
    the services that depend on the server."""
    deadline = time.monotonic() + 60
    while subprocess.run(local.healthcheck("server"), env=local.environment("server"),
                         capture_output=True).returncode != 0:
        assert server.poll() is None, (folder / "server.log").read_text()
        assert time.monotonic() < deadline, "the server's health check never passed"
        time.sleep(0.2)


def _stop(process: subprocess.Popen) -> int:
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


def _get(url: str, token: str | None, context=None) -> tuple[int, bytes]:
    request = urllib.request.Request(url)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30, context=context) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def _write_secrets(folder: Path, names: list[str]) -> tuple[dict[str, Path], str]:
    """Local files for the secrets (``deploy/secrets/*`` as README.md makes them)."""
    token = secrets.token_urlsafe(24)
    files = {}
    for name in names:
        files[name] = folder / "secrets" / name
        files[name].parent.mkdir(exist_ok=True)
    files["pipetune_token"].write_text(token + "\n")
    # The test's PostgreSQL trusts 127.0.0.1, so this password is read but not checked.
    files["postgres_password"].write_text(secrets.token_urlsafe(12) + "\n")
    return files, token


def _worker_counts(folder: Path, names: list[str]) -> list[int]:
    counts = []
    for name in names:
        found = re.search(r"ran (\d+) trial\(s\) of study", (folder / f"{name}.log").read_text())
        assert found, (folder / f"{name}.log").read_text()
        counts.append(int(found[1]))
    return counts


def test_the_services_run_a_study_to_exactly_its_budget(tmp_path: Path,
                                                        postgres_url: str) -> None:
    """PostgreSQL, the server with a token from a secret, and the file's replicas of workers
    started before the server (they retry until it answers): together they run exactly the
    budget and exit 0, and the server's dashboard lists the study."""
    require_installed("fastapi", "uvicorn", extra="server")
    config = load_compose("compose.yaml", variables=VARIABLES)
    files, token = _write_secrets(tmp_path, list(config["secrets"]))
    code = tmp_path / "code"
    code.mkdir()
    (code / "train.py").write_text(RENDEZVOUS_CODE)
    local = Localhost(config, files, free_port(), postgres_url, code)
    replicas = config["services"]["worker"]["deploy"]["replicas"]
    assert replicas == 2

    workers = [_start(local, "worker", tmp_path, f"worker-{i}") for i in range(replicas)]
    # The workers find no server and retry (Kubernetes has no depends_on): the server starts
    # once both have said so.
    deadline = time.monotonic() + 60
    logs = [tmp_path / f"worker-{i}.log" for i in range(replicas)]
    while not all("Opening the study failed; retrying" in log.read_text() for log in logs):
        assert all(worker.poll() is None for worker in workers), [p.read_text() for p in logs]
        assert time.monotonic() < deadline, [log.read_text() for log in logs]
        time.sleep(0.2)
    server = _start(local, "server", tmp_path, "server")
    try:
        _wait_healthy(local, server, tmp_path)
        codes = [worker.wait(timeout=120) for worker in workers]
        logs = "\n".join((tmp_path / f"worker-{i}.log").read_text() for i in range(replicas))
        assert codes == [0] * replicas, logs

        counts = _worker_counts(tmp_path, [f"worker-{i}" for i in range(replicas)])
        assert sum(counts) == BUDGET and min(counts) >= 1, counts
        assert len(list(code.glob("started-*"))) == replicas

        base = f"http://127.0.0.1:{local.port}"
        status, body = _get(f"{base}/api/v1/dashboard/studies", token)
        assert status == 200, body
        (card,) = [c for c in json.loads(body) if c["study_name"] == STUDY]
        assert card["n_trials"] == BUDGET and card["states"]["COMPLETE"] == BUDGET
        assert card["states"]["RUNNING"] == 0
        status, page = _get(base + "/", None)
        assert status == 200 and b"<html" in page.lower()
        assert _get(f"{base}/api/v1/dashboard/studies", None)[0] == 401  # the token is needed
    finally:
        for worker in workers:
            if worker.poll() is None:
                _stop(worker)
        code_of_server = _stop(server)
    assert code_of_server == 0, (tmp_path / "server.log").read_text()  # a graceful stop


def _self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate naming the server as the workers reach it: "server" in the compose
    network, 127.0.0.1 here."""
    return self_signed(folder / "tls.crt", folder / "tls.key", "server", ("server",))


def test_with_the_tls_file_workers_reach_the_server_over_https(tmp_path: Path,
                                                               postgres_url: str) -> None:
    """compose.yaml plus compose.tls.yaml: the server serves HTTPS with the mounted
    certificate, its health check passes over HTTPS, and a worker carrying the example
    training code (deploy/example, the image's default) trusts the mounted CA and runs the
    budget."""
    require_installed("fastapi", "uvicorn", extra="server")
    config = load_compose("compose.yaml", "compose.tls.yaml",
                          variables={**VARIABLES, "PIPETUNE_MAX_TRIALS": "4"})
    files, token = _write_secrets(tmp_path, list(config["secrets"]))
    cert, key = _self_signed(tmp_path)
    files.update(tls_cert=cert, tls_key=key, tls_ca=cert)
    example = ROOT / config["services"]["worker"]["build"]["args"]["TRAINING_CODE"]
    local = Localhost(config, files, free_port(), postgres_url, example)

    server = _start(local, "server", tmp_path, "server")
    try:
        _wait_healthy(local, server, tmp_path)
        worker = _start(local, "worker", tmp_path, "worker")
        assert worker.wait(timeout=120) == 0, (tmp_path / "worker.log").read_text()
        assert _worker_counts(tmp_path, ["worker"]) == [4]
        trusting = ssl.create_default_context(cafile=str(cert))
        status, body = _get(f"https://127.0.0.1:{local.port}/api/v1/dashboard/studies",
                            token, trusting)
        assert status == 200
        (card,) = [c for c in json.loads(body) if c["study_name"] == STUDY]
        assert card["states"]["COMPLETE"] == 4
        with pytest.raises((OSError, http.client.HTTPException)):  # no plain HTTP beside it
            _get(f"http://127.0.0.1:{local.port}/api/v1/health", None)
    finally:
        assert _stop(server) == 0, (tmp_path / "server.log").read_text()


# -- what the file says, read without running it -------------------------------------------


def test_the_commands_are_ones_the_pipetune_command_accepts() -> None:
    for files in (["compose.yaml"], ["compose.yaml", "compose.tls.yaml"]):
        config = load_compose(*files)
        for name in ("server", "worker"):
            command = command_of(config["services"][name])
            assert command[0] == "pipetune"
            args = build_parser().parse_args(command[1:])
            assert args.handler.__name__ == f"cmd_{name}"


def test_workers_wait_for_a_healthy_server_and_stop_within_their_grace_period() -> None:
    services = load_compose("compose.yaml")["services"]
    worker, server = services["worker"], services["server"]
    assert worker["depends_on"]["server"]["condition"] == "service_healthy"
    assert server["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "healthcheck" in server and "healthcheck" in services["postgres"]
    stop_timeout = float(option(command_of(worker), "--stop-timeout"))
    assert float(worker["stop_grace_period"].rstrip("s")) > stop_timeout
    # Without compose's ordering (Kubernetes, a restarted server) the worker retries itself.
    assert float(option(command_of(worker), "--storage-retry-for")) >= 60
    assert worker["restart"] == "on-failure"  # a worker that spent the budget stays down


def test_only_the_server_holds_the_database_password_and_no_secret_is_written_out() -> None:
    config = load_compose("compose.yaml", "compose.tls.yaml")
    services = config["services"]
    assert "postgres_password" in secret_names(services["server"])
    assert "postgres_password" not in secret_names(services["worker"])
    assert set(services["worker"]["networks"]) == {"workers"}  # the database is out of reach
    assert config["networks"]["database"]["internal"] is True
    assert option(command_of(services["worker"]), "--storage").startswith("https://server:")
    # Secrets travel as files: no token or password in a command line or an environment.
    for name, service in services.items():
        words = command_of(service) if "command" in service else []
        environment = service.get("environment") or {}
        for key, value in environment.items():
            if re.search("TOKEN|PASSWORD|SECRET|KEY", key):
                assert key.endswith("_FILE") and str(value).startswith("/run/secrets/"), key
        for word in words:
            assert not re.search(r"://[^/@]*:[^/@]*@", word), f"{name}: a password in {word}"
    for secret in config["secrets"].values():
        path = (DEPLOY / secret["file"]).resolve()
        assert path.parent == DEPLOY / "secrets"
    ignored = (DEPLOY / "secrets" / ".gitignore").read_text().split()
    assert "*" in ignored  # the secrets never reach git
