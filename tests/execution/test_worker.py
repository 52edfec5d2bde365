"""``pipetune worker``: real worker processes sharing one study on SQLite and PostgreSQL.

The objective module (``OBJECTIVE``) logs every evaluation to a file of its process, so the
tests check what ran independently of what the storage says. Chaos: a worker killed with
SIGKILL mid-trial (its trial must fail by heartbeat and be retried), a worker stopped with
SIGTERM, and PostgreSQL (a server of the test's own) restarted under running workers.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

import pipetune
from pipetune.datatypes import TrialState
from pipetune.errors import (
    InvalidArgumentError,
    StorageError,
    StorageUnavailableError,
    StudyNotFoundError,
)
from pipetune.execution.loop import retry_storage
from pipetune.execution.worker import (
    EXIT_DONE,
    EXIT_STOPPED_TRIALS_FAILED,
    STOP_REASON,
    Worker,
    WorkerOptions,
)
from pipetune.storage import InMemoryStorage

pytestmark = pytest.mark.timeout(120)

OBJECTIVE = r'''
import os, time

def objective(trial):
    x = trial.suggest_float("x", -1.0, 1.0)
    with open(os.path.join(os.environ["LOG_DIR"], f"log-{os.getpid()}"), "a") as log:
        log.write(f"{trial.number}\n")
    hang_at = int(os.environ.get("HANG_AT_CALL", "-1"))
    calls = globals().setdefault("_calls", [0])
    calls[0] += 1
    if calls[0] == hang_at:
        open(os.path.join(os.environ["LOG_DIR"], f"hanging-{os.getpid()}"), "w").close()
        time.sleep(float(os.environ.get("HANG_FOR", "60")))
    time.sleep(float(os.environ.get("SLEEP", "0.02")))
    return x * x
'''


def _start_worker(tmp_path: Path, url: str, *args: str, **env: str) -> subprocess.Popen:
    environment = {**os.environ, "LOG_DIR": str(tmp_path), **env}
    return subprocess.Popen(
        [sys.executable, "-m", "pipetune.cli", "worker", "--storage", url, "--study", "shared",
         "--objective", "objective_module:objective", "--sampler", "random", *args],
        cwd=tmp_path, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True)


def _wait_for(path_glob: str, folder: Path, timeout: float = 60.0) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = list(folder.glob(path_glob))
        if found:
            return min(found)
        time.sleep(0.02)
    raise AssertionError(f"nothing matched {path_glob} in {folder} within {timeout}s")


def _finish(worker: subprocess.Popen, timeout: float = 90.0) -> tuple[int, str]:
    output, _ = worker.communicate(timeout=timeout)
    return worker.returncode, output


def _evaluated(tmp_path: Path) -> Counter:
    """How often each trial number was evaluated, over every worker's log."""
    counts: Counter = Counter()
    for log in tmp_path.glob("log-*"):
        counts.update(int(line) for line in log.read_text().split())
    return counts


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "objective_module.py").write_text(OBJECTIVE)
    return tmp_path


def _create(url: str, **settings: float) -> pipetune.Study:
    return pipetune.create_study(storage=url, study_name="shared", **settings)


# -- several processes -------------------------------------------------------------------------

def test_three_workers_share_the_budget_exactly(workdir: Path, storage_url: str) -> None:
    study = _create(storage_url)
    workers = [_start_worker(workdir, storage_url, "--max-trials", "30") for _ in range(3)]
    for worker in workers:
        code, output = _finish(worker)
        assert code == EXIT_DONE, output
        assert "database is locked" not in output
    trials = study.trials
    assert [t.number for t in trials] == list(range(len(trials)))
    assert len({t.trial_id for t in trials}) == len(trials)
    assert sum(t.state != TrialState.FAIL for t in trials) == 30
    assert all(t.state == TrialState.COMPLETE for t in trials)
    evaluated = _evaluated(workdir)
    assert sorted(evaluated) == list(range(30)) and set(evaluated.values()) == {1}
    assert len({t.worker for t in trials}) >= 1 and study.system_attrs["max_trials"] == 30


def _most_at_once(trials: list) -> int:
    """The largest number of trials whose [start, end] spans overlap at one moment."""
    events = sorted([(t.datetime_start, 1) for t in trials]
                    + [(t.datetime_complete, -1) for t in trials])
    running = most = 0
    for _, change in events:
        running += change
        most = max(most, running)
    return most


def test_workers_together_run_at_most_max_parallel_trials(workdir: Path,
                                                          storage_url: str) -> None:
    _create(storage_url)
    budget = ("--max-trials", "12", "--max-parallel", "2", "--concurrency", "2")
    workers = [_start_worker(workdir, storage_url, *budget, SLEEP="0.1") for _ in range(2)]
    for worker in workers:
        code, output = _finish(worker)
        assert code == EXIT_DONE, output
    study = pipetune.load_study(study_name="shared", storage=storage_url)
    trials = study.trials
    assert len(trials) == 12 and all(t.state == TrialState.COMPLETE for t in trials)
    # four threads asked, but never more than two trials ran at once
    assert _most_at_once(trials) <= 2
    assert study.system_attrs["max_parallel"] == 2


def test_a_killed_workers_trial_fails_by_heartbeat_and_is_retried(
        workdir: Path, storage_url: str) -> None:
    study = _create(storage_url, heartbeat_interval=0.2, grace_period=2.0, retry_failed=2)
    budget = ("--max-trials", "30")
    victim = _start_worker(workdir, storage_url, *budget, HANG_AT_CALL="3")
    hanging = _wait_for("hanging-*", workdir)
    others = [_start_worker(workdir, storage_url, *budget, SLEEP="0.05") for _ in range(2)]
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    for worker in others:
        code, output = _finish(worker)
        assert code == EXIT_DONE, output
    trials = study.trials
    (failed,) = [t for t in trials if t.state == TrialState.FAIL]
    assert failed.worker.endswith(f":{victim.pid}")
    assert failed.system_attrs["fail_reason"].startswith("no heartbeat for ")
    assert f"{victim.pid} presumed dead" in failed.system_attrs["fail_reason"]
    (retry,) = [t for t in trials if t.system_attrs.get("retry_of") == failed.number]
    assert retry.state == TrialState.COMPLETE and retry.params == failed.params
    assert [t.number for t in trials] == list(range(len(trials)))
    assert sum(t.state == TrialState.COMPLETE for t in trials) == 30
    assert len(trials) == 31
    assert hanging.name == f"hanging-{victim.pid}"


def test_sigterm_fails_a_trial_that_does_not_finish_in_time(workdir: Path,
                                                           sqlite_url: str) -> None:
    study = _create(sqlite_url)
    worker = _start_worker(workdir, sqlite_url, "--stop-timeout", "0.5", HANG_AT_CALL="2")
    _wait_for("hanging-*", workdir)
    worker.send_signal(signal.SIGTERM)
    code, output = _finish(worker)
    assert code == EXIT_STOPPED_TRIALS_FAILED, output
    trials = study.trials
    assert not [t for t in trials if not t.state.is_finished()]
    assert trials[-1].state == TrialState.FAIL
    assert trials[-1].system_attrs["fail_reason"] == STOP_REASON
    assert [t.state for t in trials[:-1]] == [TrialState.COMPLETE] * (len(trials) - 1)


def test_sigterm_lets_the_running_trial_finish(workdir: Path, sqlite_url: str) -> None:
    study = _create(sqlite_url)
    worker = _start_worker(workdir, sqlite_url, HANG_AT_CALL="2", HANG_FOR="1.0")
    _wait_for("hanging-*", workdir)
    worker.send_signal(signal.SIGTERM)
    code, output = _finish(worker)
    assert code == EXIT_DONE, output
    trials = study.trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * len(trials)
    assert len(trials) == 2  # it started nothing after the signal


def test_worker_on_a_missing_study_says_so(workdir: Path, sqlite_url: str) -> None:
    pipetune.create_study(storage=sqlite_url, study_name="other")
    code, output = _finish(_start_worker(workdir, sqlite_url))
    assert code == 2 and "No study named 'shared'" in output
    assert "pass --direction" in output  # and how a worker could create it


def test_workers_given_a_direction_create_the_study_once(workdir: Path, sqlite_url: str) -> None:
    workers = [_start_worker(workdir, sqlite_url, "--direction", "maximize", "--max-trials", "6")
               for _ in range(2)]
    for worker in workers:
        code, output = _finish(worker)
        assert code == EXIT_DONE, output
    study = pipetune.load_study(study_name="shared", storage=sqlite_url)
    assert study.direction == pipetune.StudyDirection.MAXIMIZE
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 6
    # A worker asking for other directions than the study's is refused.
    code, output = _finish(_start_worker(workdir, sqlite_url, "--directions", "minimize",
                                         "maximize"))
    assert code == 2 and "exists with directions ['maximize']" in output


SCRIPT = """\
import argparse
parser = argparse.ArgumentParser()
parser.add_argument("--x", type=float, required=True)
print(f"loss={(parser.parse_args().x - 0.3) ** 2:.6f}")
"""

STUDY_YAML = """\
study: scripted
command: [python, train.py]
params:
  x: {type: float, low: 0.0, high: 1.0}
objective: {metric: loss, regex: 'loss=([0-9.eE+-]+)'}
sampler: {name: random, seed: 0}
max_trials: 5
"""


def test_workers_run_the_script_of_a_study_file(tmp_path: Path, sqlite_url: str) -> None:
    (tmp_path / "train.py").write_text(SCRIPT)
    (tmp_path / "study.yaml").write_text(STUDY_YAML)
    workers = [subprocess.Popen(
        [sys.executable, "-m", "pipetune.cli", "worker", "--storage", sqlite_url,
         "--config", "study.yaml"], cwd=tmp_path, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    for worker in workers:
        code, output = _finish(worker)
        assert code == EXIT_DONE, output
    study = pipetune.load_study(study_name="scripted", storage=sqlite_url)
    trials = study.trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 5
    assert all(t.values[0] == pytest.approx((t.params["x"] - 0.3) ** 2, abs=1e-6)
               for t in trials)


def test_worker_needs_one_objective(workdir: Path, sqlite_url: str) -> None:
    _create(sqlite_url)
    code, output = _finish(subprocess.Popen(
        [sys.executable, "-m", "pipetune.cli", "worker", "--storage", sqlite_url, "--study",
         "shared"], cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    assert code == 2 and "exactly one of --objective" in output


# -- PostgreSQL restarted under running workers ------------------------------------------------

def test_workers_ride_out_a_postgresql_restart(workdir: Path, private_postgres) -> None:
    url = private_postgres.url
    study = _create(url, heartbeat_interval=0.5, grace_period=20.0)
    workers = [_start_worker(workdir, url, "--max-trials", "60", SLEEP="0.1") for _ in range(2)]
    try:
        deadline = time.monotonic() + 60
        while sum(_evaluated(workdir).values()) < 10 and time.monotonic() < deadline:
            time.sleep(0.05)
        completed_before = {t.number for t in study.trials if t.state == TrialState.COMPLETE}
        private_postgres.restart()
        outputs = []
        for worker in workers:
            code, output = _finish(worker)
            assert code == EXIT_DONE, output
            outputs.append(output)
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    assert any("retrying" in output for output in outputs), outputs  # the restart was felt
    study = pipetune.load_study(study_name="shared", storage=url)
    trials = study.trials
    assert [t.number for t in trials] == list(range(len(trials)))
    assert sum(t.state == TrialState.COMPLETE for t in trials) == 60
    assert all(t.state.is_finished() for t in trials)
    # Nothing completed before the restart is lost.
    assert completed_before <= {t.number for t in trials if t.state == TrialState.COMPLETE}
    assert completed_before


# -- in process ----------------------------------------------------------------------------------

def test_retry_storage_backs_off_until_the_storage_answers(monkeypatch) -> None:
    monkeypatch.setattr(time, "sleep", lambda _: None)
    answers = iter([StorageUnavailableError("down"), StorageUnavailableError("still down"),
                    "ok"])

    def call() -> str:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert retry_storage(call, "Test") == "ok"
    with pytest.raises(StorageUnavailableError):
        retry_storage(lambda: (_ for _ in ()).throw(StorageUnavailableError("down")), "Test",
                      give_up_after=0.0)
    for error in (StudyNotFoundError("no study"),  # the caller's own mistake
                  StorageError("written by a newer pipetune")):  # no retry makes it usable
        calls = []

        def fails(error: Exception = error) -> None:
            calls.append(1)  # noqa: B023 - called within this iteration
            raise error

        with pytest.raises(type(error)):
            retry_storage(fails, "Test")
        assert len(calls) == 1


def test_in_process_worker_threads_refill_failed_slots() -> None:
    storage = InMemoryStorage()
    study = pipetune.create_study(storage=storage, study_name="s",
                                  sampler=pipetune.samplers.RandomSampler(seed=1))

    def objective(trial: pipetune.Trial) -> float:
        x = trial.suggest_float("x", 0, 1)
        if trial.number % 4 == 1:
            raise ValueError("flaky")
        return x

    worker = Worker(study.run_interface, objective, WorkerOptions(max_trials=12, concurrency=3))
    assert worker.run() == EXIT_DONE
    trials = study.trials
    assert sum(t.state == TrialState.COMPLETE for t in trials) == 12
    assert all(t.state.is_finished() for t in trials)
    assert sorted(worker.numbers) == [t.number for t in trials]


def test_worker_options_are_validated() -> None:
    for kwargs in ({"max_trials": 0}, {"max_parallel": 0}, {"concurrency": 0},
                   {"stop_timeout": -1.0}, {"max_trials": True}):
        (name,) = kwargs
        with pytest.raises(InvalidArgumentError, match=f"'{name}'"):
            WorkerOptions(**kwargs)
