"""The search space the finished trials of a study share: every param suggested, with the same
domain, in each of them. Samplers that model all params jointly (GP, CMA-ES, NSGA-II) fit on
it and leave the other params (conditional ones, or ones whose domain changed) to an
independent sampler. Optuna calls it the intersection search space, and so do we."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from typing import Any

from pipetune.datatypes import FrozenTrial, TrialState
from pipetune.distributions import Distribution
from pipetune.errors import InvalidArgumentError

__all__ = ["IntersectionSearchSpace", "intersection_search_space"]


def _states(include_pruned: bool) -> tuple[TrialState, ...]:
    return (TrialState.COMPLETE, TrialState.PRUNED) if include_pruned else (TrialState.COMPLETE,)


def _narrow(space: dict[str, Distribution] | None, trials: Iterable[FrozenTrial],
            states: tuple[TrialState, ...]) -> dict[str, Distribution] | None:
    """``space`` narrowed to the params each trial in ``states`` has with the same domain
    (None: no such trial yet, so no space either)."""
    for trial in trials:
        if trial.state not in states:
            continue
        if space is None:
            space = dict(trial.distributions)
        else:
            space = {name: d for name, d in space.items() if trial.distributions.get(name) == d}
    return space


def intersection_search_space(trials: Iterable[FrozenTrial],
                              include_pruned: bool = False) -> dict[str, Distribution]:
    """The params that every COMPLETE trial of ``trials`` (and PRUNED one, with
    ``include_pruned``) suggested with one same domain, sorted by name; empty before any
    finished. A param whose domain changed from one trial to another is left out."""
    return dict(sorted((_narrow(None, trials, _states(include_pruned)) or {}).items()))


class IntersectionSearchSpace:
    """The intersection search space of one study, kept up to date incrementally.

    ``calculate(study)`` reads a study's trials (Optuna's way); ``update(finished_log)`` reads
    only the trials appended to an append-only log of finished trials since the last call
    (``StudyView.finished_log``, the samplers' way). Either returns the space sorted by name,
    so a seeded study does not depend on the order a storage returns params in.

    Args:
        include_pruned: count PRUNED trials as well as COMPLETE ones.
    """

    def __init__(self, include_pruned: bool = False) -> None:
        self._states = _states(include_pruned)
        self._lock = threading.Lock()
        self._read = 0
        self._space: dict[str, Distribution] | None = None
        self._study: str | None = None

    def update(self, finished_log: Sequence[FrozenTrial]) -> dict[str, Distribution]:
        """The space after the trials of ``finished_log`` not read yet."""
        with self._lock:
            self._space = _narrow(self._space, finished_log[self._read:], self._states)
            self._read = len(finished_log)
            return dict(sorted((self._space or {}).items()))

    def calculate(self, study: Any, use_cache: bool = False) -> dict[str, Distribution]:
        """The space of ``study`` (a ``pipetune.Study``, or anything with ``study_name`` and
        ``trials``). One instance serves one study: another raises ``InvalidArgumentError``.
        ``use_cache`` is accepted for Optuna's signature; the study's trials are read anew."""
        name = study.study_name
        if self._study is None:
            self._study = name
        elif self._study != name:
            raise InvalidArgumentError(
                f"This IntersectionSearchSpace serves study {self._study!r}, not {name!r}: "
                "make one per study.")
        return intersection_search_space(study.trials, include_pruned=len(self._states) > 1)
