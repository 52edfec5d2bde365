"""Which trials are best: the optimum of one objective, the Pareto front of several."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from pipetune.datatypes import FrozenTrial, StudyDirection, TrialState


def best_trial_of(trials: Iterable[FrozenTrial],
                  directions: Sequence[StudyDirection]) -> FrozenTrial | None:
    """The COMPLETE trial with the best value (the earliest on ties); None for several objectives
    or when nothing has completed."""
    if len(directions) != 1:
        return None
    sign = 1.0 if directions[0] == StudyDirection.MINIMIZE else -1.0
    best = None
    best_key = float("inf")
    for trial in trials:
        if trial.state == TrialState.COMPLETE and trial.values is not None:
            key = sign * trial.values[0]
            if key < best_key:
                best, best_key = trial, key
    return best


def pareto_front(trials: Iterable[FrozenTrial],
                 directions: Sequence[StudyDirection]) -> list[FrozenTrial]:
    """The COMPLETE trials no other COMPLETE trial dominates (every objective at least as good,
    one strictly better), ordered by number."""
    complete = [t for t in trials if t.state == TrialState.COMPLETE and t.values is not None]
    if not complete:
        return []
    signs = np.array([1.0 if d == StudyDirection.MINIMIZE else -1.0 for d in directions])
    losses = np.array([t.values for t in complete], dtype=float) * signs
    on_front = is_pareto_efficient(losses)
    return [t for t, keep in zip(complete, on_front) if keep]


def is_pareto_efficient(losses: np.ndarray) -> np.ndarray:
    """Boolean mask of the rows of ``losses`` (to minimize) that no other row dominates."""
    n = len(losses)
    efficient = np.ones(n, dtype=bool)
    for i in range(n):
        if not efficient[i]:
            continue
        dominated_by_i = np.all(losses[i] <= losses, axis=1) & np.any(losses[i] < losses, axis=1)
        efficient &= ~dominated_by_i
    return efficient
