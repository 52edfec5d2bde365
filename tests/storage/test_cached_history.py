"""The cached study history (``pipetune.storage.cached``) reads a study incrementally: a finished
trial is fetched once, and what one trial costs the storage does not grow with the study."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection

import pipetune
from pipetune.datatypes import FrozenTrial, TrialState
from pipetune.samplers import TPESampler
from pipetune.storage import InMemoryStorage


class CountingStorage(InMemoryStorage):
    """An in-memory storage that counts the trials its reads hand out."""

    def __init__(self) -> None:
        super().__init__()
        self.finished_reads: Counter[int] = Counter()  # trial id -> times returned finished
        self.rows_read = 0  # trials returned by incremental and full reads together
        self.full_reads = 0

    def get_trials_since(self, study_id: int, last_seen_id: int,
                         also_ids: Collection[int] = ()) -> list[FrozenTrial]:
        trials = super().get_trials_since(study_id, last_seen_id, also_ids)
        self.rows_read += len(trials)
        self.finished_reads.update(t.trial_id for t in trials if t.state.is_finished())
        return trials

    def get_trials(self, study_id: int,
                   states: Collection[TrialState] | None = None) -> list[FrozenTrial]:
        trials = super().get_trials(study_id, states)
        self.full_reads += 1
        self.rows_read += len(trials)
        return trials


def objective(trial: pipetune.Trial) -> float:
    x = trial.suggest_float("x", -5.0, 5.0)
    kind = trial.suggest_categorical("kind", ["a", "b"])
    if kind == "a":  # a conditional param
        x += trial.suggest_int("shift", 0, 3)
    trial.report(x * x, step=0)
    trial.should_prune()
    return x * x


def test_each_finished_trial_is_read_once_and_reads_per_trial_stay_flat() -> None:
    storage = CountingStorage()
    study = pipetune.create_study(storage=storage, sampler=TPESampler(seed=0))
    study.optimize(objective, n_trials=40)
    early = storage.rows_read
    study.optimize(objective, n_trials=40)
    late = storage.rows_read - early

    trial_ids = [t.trial_id for t in study.trials]
    assert len(trial_ids) == 80
    # The study's history (one per Study object) took each finished trial exactly once.
    assert all(storage.finished_reads[i] == 1 for i in trial_ids)
    assert storage.full_reads == 0
    # Each trial is read a few times (new, while running, finished), however many came before:
    # the second 40 trials cost the storage as many rows as the first 40 (give or take the
    # first refresh of an empty study).
    assert late <= early + 5
    assert late <= 4 * 40


def test_a_second_process_view_catches_up_with_only_the_new_trials() -> None:
    storage = CountingStorage()
    writer = pipetune.create_study(study_name="s", storage=storage)
    writer.optimize(objective, n_trials=10)
    reader = pipetune.load_study(study_name="s", storage=storage)
    assert len(reader.trials) == 10
    writer.optimize(objective, n_trials=3)
    before = storage.rows_read
    assert [t.number for t in reader.trials] == list(range(13))
    # The reader's refresh fetched the 3 new trials, not the 10 it already holds.
    assert storage.rows_read - before == 3
    assert all(count <= 2 for count in storage.finished_reads.values())  # once per history
