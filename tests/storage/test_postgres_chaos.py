"""Chaos on PostgreSQL: three ``pipetune worker`` processes share one study while every
connection to its database is terminated every 2 s for the whole study (a failover, an
idle-connection reaper), and two of the workers are killed with SIGKILL mid-study.

What must hold: exactly ``max_trials`` trials COMPLETE, and the only FAIL trials are those of
the killed workers, failed by heartbeat and run again: a trial never fails because its
storage blinked.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import pipetune
from pipetune.datatypes import TrialState

pytestmark = pytest.mark.timeout(180)

MAX_TRIALS = 36

# Writes on every path a trial takes: params, intermediate values, attrs, metrics, the result.
OBJECTIVE = r'''
import os, time

def objective(trial):
    with open(os.path.join(os.environ["LOG_DIR"], f"log-{os.getpid()}"), "a") as log:
        log.write(f"{trial.number}\n")
    x = trial.suggest_float("x", -1.0, 1.0)
    for step in range(3):
        time.sleep(0.05)
        trial.report(x * x + 1.0 / (step + 1), step)
        trial.log_metric("loss", x * x, step)
    trial.set_user_attr("pid", os.getpid())
    return x * x
'''


def _start_worker(folder: Path, url: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "pipetune.cli", "worker", "--storage", url, "--study", "chaos",
         "--objective", "chaos_objective:objective", "--sampler", "random",
         "--max-trials", str(MAX_TRIALS)],
        cwd=folder, env={**os.environ, "LOG_DIR": str(folder)}, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True)


def _trials_started_by(folder: Path, worker: subprocess.Popen) -> int:
    log = folder / f"log-{worker.pid}"
    return len(log.read_text().split()) if log.exists() else 0


class _ConnectionKiller:
    """Terminates every connection to one database every ``interval`` seconds."""

    def __init__(self, url: str, interval: float) -> None:
        import psycopg

        self._admin = psycopg.connect(url.replace("postgresql+psycopg", "postgresql")
                                      .rsplit("/", 1)[0] + "/postgres", autocommit=True)
        self._database = url.rsplit("/", 1)[1]
        self._interval = interval
        self._stop = threading.Event()
        self.terminated = 0
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.terminated += sum(row[0] for row in self._admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND pid <> pg_backend_pid()", (self._database,)))

    def __enter__(self) -> _ConnectionKiller:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._admin.close()


def test_workers_finish_the_study_exactly_through_dropped_connections_and_kills(
        tmp_path: Path, postgres_url: str) -> None:
    (tmp_path / "chaos_objective.py").write_text(OBJECTIVE)
    pipetune.create_study(storage=postgres_url, study_name="chaos", heartbeat_interval=0.5,
                          grace_period=3.0, retry_failed=3)
    workers = [_start_worker(tmp_path, postgres_url) for _ in range(3)]
    killed: list[subprocess.Popen] = []
    outputs: list[str] = []
    try:
        with _ConnectionKiller(postgres_url, interval=2.0) as killer:
            for victim in workers[:2]:  # each killed mid-study, a new worker in its place
                deadline = time.monotonic() + 60
                while _trials_started_by(tmp_path, victim) < 3 and time.monotonic() < deadline:
                    time.sleep(0.02)
                os.kill(victim.pid, signal.SIGKILL)
                victim.wait()
                killed.append(victim)
                workers.append(_start_worker(tmp_path, postgres_url))
            for worker in workers[2:]:
                output, _ = worker.communicate(timeout=150)
                outputs.append(output)
                assert worker.returncode == 0, output
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    assert killer.terminated >= 3  # connections were really cut, over and over
    assert any("retrying" in output for output in outputs), outputs  # and the workers felt it

    trials = pipetune.load_study(study_name="chaos", storage=postgres_url).trials
    assert [t.number for t in trials] == list(range(len(trials)))
    assert sum(t.state == TrialState.COMPLETE for t in trials) == MAX_TRIALS
    assert all(t.state in (TrialState.COMPLETE, TrialState.FAIL) for t in trials)
    failed = [t for t in trials if t.state == TrialState.FAIL]
    assert len(failed) <= len(killed)  # one trial in flight per killed worker, at most
    killed_names = tuple(f":{victim.pid}" for victim in killed)
    for trial in failed:
        # Failed by heartbeat as a killed worker's trial, never by a storage error...
        assert trial.system_attrs["fail_reason"].startswith("no heartbeat for"), trial
        assert trial.worker.endswith(killed_names)
        # ...and run again to completion with its params (a worker killed within the 50 ms
        # before its params were written leaves none: the retry then draws its own).
        (retry,) = [t for t in trials if t.system_attrs.get("retry_of") == trial.number]
        assert retry.state == TrialState.COMPLETE
        assert retry.params == trial.params or not trial.params
    for trial in trials:
        if trial.state == TrialState.COMPLETE:
            assert sorted(trial.intermediate_values) == [0, 1, 2]
            assert trial.user_attrs["pid"] and trial.params.keys() == {"x"}
