"""Suggestions reach storage in batches (``pipetune._param_buffer``): one write for a trial's
burst of suggestions, visible to other readers a moment later, and never after its result."""

from __future__ import annotations

import time

import pipetune
from pipetune import _param_buffer
from pipetune.errors import StorageUnavailableError
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


class FakeClock:
    """Stands in for ``time`` in ``pipetune._param_buffer``: it moves only when told to."""

    def __init__(self) -> None:
        self.now = time.monotonic()

    def monotonic(self) -> float:
        return self.now


def test_a_running_trials_params_are_stored_50_ms_after_its_first_suggestion(monkeypatch):
    """The promise of docs/studies.md, on a fake clock so machine load cannot decide the outcome: a
    suggestion is stored once 50 ms have passed since the trial's first unwritten one, while
    the trial still runs and stores nothing else, together with those made meanwhile (a
    later suggestion does not push the write back)."""
    clock = FakeClock()
    monkeypatch.setattr(_param_buffer, "time", clock)
    storage = CountingStorage()
    study = pipetune.create_study(storage=storage)
    trial = study.ask()
    start = clock.now
    trial.suggest_float("lr", 1e-4, 1e-1, log=True)
    clock.now = start + 0.04
    time.sleep(0.2)  # the writer looks several times; on a loaded machine perhaps not at all
    assert storage.param_writes == []  # not yet due
    trial.suggest_int("layers", 1, 4)
    clock.now = start + 0.05  # 50 ms after the first suggestion
    deadline = time.monotonic() + 10  # generous: only how soon the writer thread runs
    while not storage.param_writes and time.monotonic() < deadline:
        time.sleep(0.01)
    assert storage.param_writes == [["layers", "lr"]]
    seen = storage.get_trials(study.run_interface.study_id)[0]  # as another reader sees the trial
    assert seen.state == pipetune.TrialState.RUNNING and set(seen.params) == {"lr", "layers"}
    study.tell(trial, 0.0)


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


class OneTrialUnreachable(CountingStorage):
    """Cannot store the params of one trial, as if the storage were down for its writes."""

    def __init__(self) -> None:
        super().__init__()
        self.unreachable: int | None = None

    def set_trial_params(self, trial_id, params):
        if trial_id == self.unreachable:
            raise StorageUnavailableError("The storage memory failed: connection refused")
        super().set_trial_params(trial_id, params)


def test_params_another_trial_cannot_write_do_not_fail_this_one():
    storage = OneTrialUnreachable()
    study = pipetune.create_study(storage=storage)
    first = study.ask()
    storage.unreachable = first.trial_id
    first.suggest_float("x", 0, 1)
    second = study.ask()  # the claim writes what this process has buffered, first's too
    second.suggest_float("y", 0, 1)
    study.tell(second, 1.0)
    storage.unreachable = None  # the storage answers again: first's own result writes them
    study.tell(first, 0.5)
    assert [t.params.keys() for t in study.trials] == [{"x"}, {"y"}]
    assert [t.state for t in study.trials] == [pipetune.TrialState.COMPLETE] * 2
