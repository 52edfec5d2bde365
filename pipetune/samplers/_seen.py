"""The configurations a study has already run, for samplers on finite search spaces.

On a grid (ints, stepped floats and categoricals only) a model-based sampler converges on the
few configurations it believes best and proposes them again and again: a repeat of a
deterministic training run tells nothing new, and under a pruner a repeat of a configuration
that passed the rungs passes them again and runs to the end, so the budget goes to copies.
Samplers use ``RunConfigurations`` to prefer a configuration not run yet while one is left.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pipetune.datatypes import FrozenTrial, TrialState
from pipetune.distributions import CategoricalDistribution, Distribution, FloatDistribution


def is_finite(space: Mapping[str, Distribution]) -> bool:
    """Whether the space holds finitely many configurations (no continuous float)."""
    return all(isinstance(d, CategoricalDistribution)
               or not (isinstance(d, FloatDistribution) and d.step is None)
               for d in space.values())


def configuration(params: Mapping[str, Any], names: Sequence[str]) -> tuple | None:
    """The values of ``names`` in ``params`` as a hashable key; None when one is missing."""
    try:
        return tuple(params[name] for name in names)
    except KeyError:
        return None


class RunConfigurations:
    """The configurations of given params that a study's COMPLETE, PRUNED and RUNNING trials
    ran (FAIL trials are left out: a failure may be worth retrying). A sampler keeps one: the
    finished trials are read once each from ``StudyView.finished_log`` (a finished trial never
    changes), so a proposal pays only for the trials finished since the last and the running
    ones, not for the whole history."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # (history, names) -> (how much of finished_log was read, configurations it held)
        self._finished: dict[tuple[int, tuple[str, ...]], tuple[int, set[tuple]]] = {}

    def of(self, view, names: Sequence[str], exclude_trial_id: int | None = None) -> set[tuple]:
        """The configurations run, except by the trial ``exclude_trial_id`` (the one being
        sampled)."""
        key = (view.history_key, tuple(names))
        log = view.finished_log
        with self._lock:
            read, finished = self._finished.get(key, (0, set()))
            _add(finished, (t for t in log[read:]
                            if t.state in (TrialState.COMPLETE, TrialState.PRUNED)), names)
            self._finished[key] = (len(log), finished)
            seen = set(finished)
        _add(seen, (t for t in view.unfinished
                    if t.state == TrialState.RUNNING and t.trial_id != exclude_trial_id), names)
        return seen


def _add(seen: set[tuple], trials: Iterable[FrozenTrial], names: Sequence[str]) -> None:
    for trial in trials:
        key = configuration(trial.params, names)
        if key is not None:
            seen.add(key)
