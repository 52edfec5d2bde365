"""Several OS processes sharing one SQLite study: the embedded default must hold up to that.

Each test starts real interpreters running ``WORKER`` (below) on the same database file, releases
them together, and checks the study afterwards: unique dense trial numbers, nothing lost, no
"database is locked" in any process's output, and a process killed mid-study leaves a file
the next process continues from.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import pipetune
from pipetune.datatypes import TrialState

pytestmark = pytest.mark.timeout(240)

# The worker process. It logs one JSON line per objective call, so the test can tell what was
# evaluated (and how often) independently of what the storage says.
WORKER = r'''
import json, os, sys, time
import pipetune
from pipetune.samplers import GridSampler, RandomSampler

cfg = json.loads(sys.argv[1])
Path = os.path.join
open(Path(cfg["sync_dir"], f"ready-{os.getpid()}"), "w").close()
while not os.path.exists(Path(cfg["sync_dir"], "go")):
    time.sleep(0.005)

if cfg["mode"] == "grid":
    sampler = GridSampler(cfg["grid"], seed=cfg["seed"])
else:
    sampler = RandomSampler(seed=cfg["seed"])
study = pipetune.create_study(study_name="shared", storage=cfg["url"], sampler=sampler,
                              load_if_exists=True)
log = open(cfg["log"], "a")

def objective(trial):
    if cfg["mode"] == "grid":
        a = trial.suggest_categorical("a", cfg["grid"]["a"])
        b = trial.suggest_categorical("b", cfg["grid"]["b"])
        value = a + len(b)
    else:
        x = trial.suggest_int("x", 0, 1000)
        y = trial.suggest_float("y", -5.0, 5.0)
        z = trial.suggest_categorical("z", ["relu", "tanh", None])
        trial.report(y, step=0)
        value = x + y * y + (z is None)
    if trial.number == cfg.get("hang_at"):
        open(Path(cfg["sync_dir"], "hanging"), "w").close()
        time.sleep(600)
    log.write(json.dumps({"pid": os.getpid(), "number": trial.number,
                          "params": trial.params}) + "\n")
    log.flush()
    return value

study.optimize(objective, n_trials=cfg["n_trials"])
print("worker done", os.getpid())
'''


@dataclass
class Worker:
    process: subprocess.Popen
    log: Path
    output: Path

    def finish(self, timeout: float = 180) -> str:
        """Waits for the worker and returns its combined output; fails the test if it failed."""
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            pytest.fail(f"worker did not finish in {timeout} s:\n{self.text()}")
        text = self.text()
        assert self.process.returncode == 0, text
        assert "database is locked" not in text, text
        return text

    def text(self) -> str:
        return self.output.read_text(errors="replace")

    def records(self) -> list[dict[str, Any]]:
        """The worker's log lines so far (a line still being written is left out)."""
        if not self.log.exists():
            return []
        lines = self.log.read_text().split("\n")[:-1]
        return [json.loads(line) for line in lines]


_started: list[subprocess.Popen] = []


@pytest.fixture(autouse=True)
def _reap_workers() -> Iterator[None]:
    """Kills any worker a failing test left running (one may be sleeping in its objective)."""
    yield
    while _started:
        process = _started.pop()
        if process.poll() is None:
            process.kill()
            process.wait()


def start_workers(tmp_path: Path, url: str, n: int, *, mode: str = "random", n_trials: int,
                  wait: bool = True, **extra: Any) -> list[Worker]:
    """Starts ``n`` worker processes and releases them together once all are ready."""
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    sync_dir = tmp_path / "sync"
    sync_dir.mkdir(exist_ok=True)
    workers = []
    for i in range(n):
        cfg = {"url": url, "mode": mode, "n_trials": n_trials, "seed": i,
               "sync_dir": str(sync_dir), "log": str(tmp_path / f"log-{i}.jsonl"), **extra}
        output = tmp_path / f"output-{i}.txt"
        with output.open("wb") as sink:
            process = subprocess.Popen([sys.executable, str(script), json.dumps(cfg)],
                                       stdout=sink, stderr=subprocess.STDOUT)
        _started.append(process)
        workers.append(Worker(process, Path(cfg["log"]), output))
    deadline = time.monotonic() + 120
    while len(list(sync_dir.glob("ready-*"))) < n:
        for worker in workers:
            if worker.process.poll() is not None:
                pytest.fail(f"worker exited before starting:\n{worker.text()}")
        if time.monotonic() > deadline:
            pytest.fail("workers did not start within 120 s")
        time.sleep(0.01)
    (sync_dir / "go").touch()
    return workers


def wait_for(path: Path, worker: Worker, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if worker.process.poll() is not None:
            pytest.fail(f"worker exited early:\n{worker.text()}")
        if time.monotonic() > deadline:
            pytest.fail(f"{path.name} did not appear within {timeout} s")
        time.sleep(0.01)


def assert_dense(trials: list[pipetune.FrozenTrial]) -> None:
    numbers = [t.number for t in trials]
    assert numbers == list(range(len(trials)))
    assert len({t.trial_id for t in trials}) == len(trials)


def integrity(db_file: str) -> str:
    with sqlite3.connect(db_file) as conn:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]


def db_path(url: str) -> str:
    return url.removeprefix("sqlite:///")


def test_two_processes_optimize_one_study(tmp_path: Path, sqlite_url: str) -> None:
    workers = start_workers(tmp_path, sqlite_url, 2, n_trials=150)
    for worker in workers:
        worker.finish()
    trials = pipetune.load_study(study_name="shared", storage=sqlite_url).trials
    assert len(trials) == 300
    assert_dense(trials)
    assert all(t.state == TrialState.COMPLETE for t in trials)
    assert all(set(t.params) == {"x", "y", "z"} and t.intermediate_values for t in trials)
    logged = [r["number"] for w in workers for r in w.records()]
    assert sorted(logged) == list(range(300))  # every trial evaluated exactly once
    assert all(len(w.records()) == 150 for w in workers)
    assert integrity(db_path(sqlite_url)) == "ok"


def test_process_killed_mid_trial_leaves_a_study_that_continues(
        tmp_path: Path, sqlite_url: str) -> None:
    (worker,) = start_workers(tmp_path, sqlite_url, 1, n_trials=1000, hang_at=20)
    wait_for(tmp_path / "sync" / "hanging", worker)
    os.kill(worker.process.pid, signal.SIGKILL)
    worker.process.wait()
    assert integrity(db_path(sqlite_url)) == "ok"

    study = pipetune.load_study(study_name="shared", storage=sqlite_url)
    before = study.trials
    assert [t.state for t in before] == [TrialState.COMPLETE] * 20 + [TrialState.RUNNING]
    study.optimize(lambda trial: trial.suggest_float("y", -1.0, 1.0) ** 2, n_trials=10)
    after = study.trials
    assert_dense(after)
    assert after[20].state == TrialState.RUNNING  # until heartbeat detection marks it FAIL
    assert [t.number for t in after if t.state == TrialState.COMPLETE] == (
        list(range(20)) + list(range(21, 31)))
    assert after[:20] == before[:20]


def test_process_killed_at_any_moment_leaves_a_loadable_file(
        tmp_path: Path, sqlite_url: str) -> None:
    (worker,) = start_workers(tmp_path, sqlite_url, 1, n_trials=100_000)
    deadline = time.monotonic() + 120
    while len(worker.records()) < 40:  # well inside the run, writes in flight all the time
        assert worker.process.poll() is None, worker.text()
        assert time.monotonic() < deadline, "the worker made no progress"
        time.sleep(0.005)
    os.kill(worker.process.pid, signal.SIGKILL)
    worker.process.wait()
    assert integrity(db_path(sqlite_url)) == "ok"

    study = pipetune.load_study(study_name="shared", storage=sqlite_url)
    killed = study.trials
    assert len([t for t in killed if t.state == TrialState.RUNNING]) <= 1
    study.optimize(lambda trial: trial.suggest_int("x", 0, 9), n_trials=5)
    trials = study.trials
    assert_dense(trials)
    assert len(trials) == len(killed) + 5
    assert all(t.state == TrialState.COMPLETE for t in trials[len(killed):])
    assert trials[:len(killed)] == killed  # nothing written before the kill changed


def test_enqueued_trials_run_exactly_once_across_processes(
        tmp_path: Path, sqlite_url: str) -> None:
    study = pipetune.create_study(study_name="shared", storage=sqlite_url)
    for x in range(30):
        study.enqueue_trial({"x": x})
    workers = start_workers(tmp_path, sqlite_url, 2, n_trials=20)
    for worker in workers:
        worker.finish()
    records = [r for w in workers for r in w.records()]
    assert sorted(r["number"] for r in records) == list(range(40))
    enqueued = [r for r in records if r["number"] < 30]
    assert sorted(r["params"]["x"] for r in enqueued) == list(range(30))
    assert all(r["params"]["x"] == r["number"] for r in enqueued)  # queue order kept
    trials = study.trials
    assert_dense(trials)
    assert all(t.state == TrialState.COMPLETE for t in trials)
    assert [t.number for t in trials if "fixed_params" in t.system_attrs] == list(range(30))


def test_grid_shared_by_two_processes_evaluates_each_point_once(
        tmp_path: Path, sqlite_url: str) -> None:
    grid = {"a": [0, 1, 2, 3, 4], "b": ["p", "qq", "rrr", "ssss"]}
    workers = start_workers(tmp_path, sqlite_url, 2, mode="grid", grid=grid, n_trials=30)
    for worker in workers:
        worker.finish()
    points = [(r["params"]["a"], r["params"]["b"]) for w in workers for r in w.records()]
    assert len(points) == len(set(points))
    assert set(points) == set(itertools.product(grid["a"], grid["b"]))
    study = pipetune.load_study(study_name="shared", storage=sqlite_url)
    complete = study.get_trials(states=[TrialState.COMPLETE])
    assert sorted((t.params["a"], t.params["b"]) for t in complete) == sorted(points)
