"""This process's incremental copy of a study's history, served as the read-only views
(``pipetune.view``) samplers and pruners get.

A finished trial never changes, so it is fetched once; each refresh asks the storage only for
trials newer than the last one seen plus those seen unfinished. The cost of a refresh therefore
depends on what changed, not on how many trials the study has.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import cast

from pipetune.datatypes import FrozenTrial, StudyDirection
from pipetune.storage.base import BaseStorage
from pipetune.view import GrowingLog, StudyView


class StudyHistory:
    """Thread-safe incremental cache of one study's trials in this process."""

    def __init__(self, storage: BaseStorage, study_id: int, study_name: str,
                 directions: Sequence[StudyDirection]) -> None:
        self._storage = storage
        self._study_id = study_id
        self._study_name = study_name
        self._directions = tuple(directions)
        self._lock = threading.Lock()
        self._by_number: list[FrozenTrial | None] = []  # numbers are dense: 0..n-1
        self._holes = 0  # None entries in _by_number
        self._last_seen_id = -1
        self._snapshot: tuple[FrozenTrial, ...] | None = None
        self._finished_log: list[FrozenTrial] = []
        self._unfinished: dict[int, FrozenTrial] = {}

    def refresh(self) -> None:
        with self._lock:
            delta = self._storage.get_trials_since(
                self._study_id, self._last_seen_id, tuple(self._unfinished))
            for trial in delta:
                if trial.number >= len(self._by_number):
                    missing = trial.number + 1 - len(self._by_number)
                    self._by_number.extend([None] * missing)
                    self._holes += missing
                previous = self._by_number[trial.number]
                if previous is None:
                    self._holes -= 1
                if previous != trial:
                    self._by_number[trial.number] = trial
                    self._snapshot = None
                # A finished trial comes back exactly once: it is neither newer than the last
                # seen id nor asked for as unfinished afterwards.
                if trial.state.is_finished():
                    self._unfinished.pop(trial.trial_id, None)
                    self._finished_log.append(trial)
                else:
                    self._unfinished[trial.trial_id] = trial
                self._last_seen_id = max(self._last_seen_id, trial.trial_id)

    def view(self, refresh: bool = True) -> StudyView:
        """A consistent snapshot of the study, refreshed from storage first unless told not to."""
        if refresh:
            self.refresh()
        with self._lock:
            if self._snapshot is None:
                # Numbers are dense, so a hole is rare (a trial created while this refresh ran).
                # Without holes every entry is a trial: the cast skips a filtering pass.
                self._snapshot = tuple(t for t in self._by_number if t is not None) \
                    if self._holes else cast("tuple[FrozenTrial, ...]", tuple(self._by_number))
            trials = self._snapshot
            finished_log = GrowingLog(self._finished_log, len(self._finished_log))
            unfinished = tuple(self._unfinished.values())
        return StudyView(
            study_name=self._study_name, directions=self._directions, trials=trials,
            claim_key=lambda key, trial_id: self._storage.claim_key(self._study_id, key, trial_id),
            finished_log=finished_log, unfinished=unfinished, history_key=id(self))
