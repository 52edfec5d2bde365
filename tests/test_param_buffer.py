"""Suggestions reach storage in batches (``pipetune._param_buffer``): one write for a trial's
burst of suggestions, visible to other readers a moment later, and never after its result."""

from __future__ import annotations

import threading
import time

import pipetune
from pipetune.storage import InMemoryStorage


class CountingStorage(InMemoryStorage):
    """Counts the param writes reaching the storage."""

    def __init__(self) -> None:
        super().__init__()
        self.param_writes: list[list[str]] = []

    def set_trial_params(self, trial_id, params):
        self.param_writes.append(sorted(params))
        super().set_trial_params(trial_id, params)


def test_a_burst_of_suggestions_is_one_write_stored_before_the_result():
    storage = CountingStorage()
    study = pipetune.create_study(storage=storage)

    def objective(trial):
        return sum(trial.suggest_float(f"x{i}", 0, 1) for i in range(6))

    study.optimize(objective, n_trials=3)
    assert storage.param_writes == [[f"x{i}" for i in range(6)]] * 3
    assert all(len(t.params) == 6 for t in study.trials)


def test_a_training_trials_params_show_while_it_runs():
    storage = CountingStorage()
    study = pipetune.create_study(storage=storage)
    training, done = threading.Event(), threading.Event()

    def objective(trial):
        trial.suggest_float("lr", 1e-4, 1e-1, log=True)
        training.set()
        done.wait(10)  # a long training run that reports nothing
        return 0.0

    runner = threading.Thread(target=study.optimize, args=(objective,), kwargs={"n_trials": 1})
    runner.start()
    training.wait(10)
    deadline = time.monotonic() + 5
    while not storage.get_trials(study._study_id)[0].params and time.monotonic() < deadline:
        time.sleep(0.01)
    seen = storage.get_trials(study._study_id)[0]
    done.set()
    runner.join()
    assert seen.state == pipetune.TrialState.RUNNING and "lr" in seen.params


def test_other_threads_sample_with_the_params_of_running_trials():
    storage = CountingStorage()
    study = pipetune.create_study(storage=storage)
    first = study.ask()
    first.suggest_float("x", 0, 1)
    second = study.ask()  # claiming writes what this process has buffered
    running = [t for t in study.trials if t.number == first.number]
    assert running[0].params == first.params
    study.tell(first, 1.0)
    study.tell(second, 2.0)


def test_studies_that_retry_failed_trials_write_each_suggestion_at_once():
    storage = CountingStorage()
    study = pipetune.create_study(storage=storage, heartbeat_interval=60, retry_failed=1)
    trial = study.ask()
    trial.suggest_float("x", 0, 1)
    trial.suggest_int("n", 1, 3)
    # a process dying now must leave the params for the retry to copy
    assert storage.param_writes == [["x"], ["n"]]
    study.tell(trial, 0.0)
