"""The read-only view of a study that samplers and pruners see.

A view holds the study's directions and a snapshot of its trials; it never holds the storage,
so an algorithm cannot write to it (except for ``claim_key``, the one atomic reservation a
finite sampler needs). ``pipetune.storage.cached.StudyHistory`` serves views incrementally:
finished trials never change, so each is fetched once and appended to the view's
``finished_log``, which only grows.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import TypeVar, overload

from pipetune._best import best_trial_of
from pipetune.datatypes import FrozenTrial, StudyDirection, TrialState

_T = TypeVar("_T")


class GrowingLog(Sequence[_T]):
    """A read-only window on the first ``length`` items of an append-only list: views share
    the history's log without copying it, and what a view shows never changes."""

    __slots__ = ("_items", "_length")

    def __init__(self, items: list[_T], length: int) -> None:
        self._items = items
        self._length = length

    def __len__(self) -> int:
        return self._length

    @overload
    def __getitem__(self, index: int) -> _T: ...

    @overload
    def __getitem__(self, index: slice) -> list[_T]: ...

    def __getitem__(self, index: int | slice) -> _T | list[_T]:
        if isinstance(index, slice):
            return self._items[slice(*index.indices(self._length))]
        if index < 0:
            index += self._length
        if not 0 <= index < self._length:
            raise IndexError(index)
        return self._items[index]


@dataclass(frozen=True)
class StudyView:
    """What samplers and pruners may see of a study: its directions and a snapshot of its
    trials ordered by number. It cannot write, except for ``claim_key`` (see the storage)."""

    study_name: str
    directions: tuple[StudyDirection, ...]
    trials: tuple[FrozenTrial, ...]
    claim_key: Callable[[str, int], bool] = field(repr=False, compare=False)
    # Finished trials in the order this process first saw them finished. It only grows, so an
    # algorithm can remember how far it has read and fit on the new trials alone.
    finished_log: Sequence[FrozenTrial] = ()
    unfinished: tuple[FrozenTrial, ...] = ()
    # Identifies the history the log comes from, for algorithms caching what they read of it.
    history_key: int = 0

    def get_trials(self, states: Collection[TrialState] | None = None) -> list[FrozenTrial]:
        if states is None:
            return list(self.trials)
        return [t for t in self.trials if t.state in states]

    @property
    def best_trial(self) -> FrozenTrial | None:
        return best_trial_of(self.trials, self.directions)

    @property
    def is_multi_objective(self) -> bool:
        return len(self.directions) > 1
