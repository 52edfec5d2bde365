"""Percentile pruning: stop a trial whose curve is worse than most finished trials' at the same
step. The median stopping rule is its 50th-percentile case (see ``median.py``)."""

from __future__ import annotations

import bisect
import math
from typing import TYPE_CHECKING

from pipetune.datatypes import FrozenTrial
from pipetune.pruners._rungs import (
    COMPARED_STATES,
    FinishedIndex,
    check_int,
    check_real,
    first_in_interval,
    is_usable,
    latest_is_nan,
    loss_signs,
    single_objective_only,
    to_losses,
)
from pipetune.pruners.base import BasePruner

if TYPE_CHECKING:
    from pipetune.view import StudyView


class _RunningBests:
    """For each step, the sorted running bests (best loss up to that step) of the finished
    COMPLETE and PRUNED trials that reported it; sorted so a percentile is one lookup."""

    def __init__(self, sign: float) -> None:
        self.signs = (sign,)
        self.n_finished = 0
        self.by_step: dict[int, list[float]] = {}

    def add(self, trial: FrozenTrial) -> None:
        if trial.state not in COMPARED_STATES:
            return
        self.n_finished += 1
        best: float | None = None
        values = trial.intermediate_values
        for step in sorted(values):
            losses = to_losses(values[step], self.signs)
            if is_usable(losses):
                best = losses[0] if best is None else min(best, losses[0])
            if best is not None:
                bisect.insort(self.by_step.setdefault(step, []), best)


def percentile_of_sorted(values: list[float], percentile: float) -> float:
    """The linearly interpolated percentile of sorted ``values`` (numpy's default method)."""
    position = (len(values) - 1) * percentile / 100.0
    low = math.floor(position)
    fraction = position - low
    lower = values[low]
    if fraction == 0.0 or low + 1 >= len(values):
        return lower
    upper = values[low + 1]
    if upper == lower:
        return lower
    # Weighted this way an infinite neighbour wins (-inf..5 gives -inf); only -inf..inf gives
    # NaN, and nothing is worse than NaN, so then nothing is pruned.
    return lower * (1.0 - fraction) + upper * fraction


class PercentilePruner(BasePruner):
    """Prunes a trial whose best value so far is worse than the given percentile of the other
    finished trials' best values up to the same step.

    The rule is the median stopping rule of Google Vizier (Golovin et al. 2017, "Google Vizier:
    A Service for Black-Box Optimization", section 3.2.2) with any percentile: at step ``s`` the
    trial's best value over its steps <= ``s`` is compared with, for every COMPLETE or PRUNED
    trial that reported step ``s``, *its* best value over its steps <= ``s``. Vizier compares
    against the other trials' running averages; we use their running bests, the same statistic
    as the trial's own, so a curve is never judged against a smoothed-out version of itself.
    ``percentile`` is the share of trials to keep: 25 keeps trials in the best quarter
    (of the lowest values when minimizing, of the highest when maximizing).

    Nothing is pruned until ``n_startup_trials`` trials are COMPLETE or PRUNED, at steps below
    ``n_warmup_steps``, at a report that is not the trial's first in its interval of
    ``interval_steps`` steps after the warm-up (see ``first_in_interval``), or when
    fewer than ``n_min_trials`` finished trials reported the step. A trial whose latest value
    is NaN is pruned at once (a diverged run does not come back); NaN values of other trials are
    skipped; infinities are ordinary values. For several objectives use SuccessiveHalvingPruner
    or HyperbandPruner: this rule has no single order to take a percentile in.
    """

    def __init__(self, percentile: float, n_startup_trials: int = 5, n_warmup_steps: int = 0,
                 interval_steps: int = 1, n_min_trials: int = 1) -> None:
        owner = type(self).__name__
        self._percentile = check_real(owner, "percentile", percentile, 0.0, 100.0)
        self._n_startup_trials = check_int(owner, "n_startup_trials", n_startup_trials, 0)
        self._n_warmup_steps = check_int(owner, "n_warmup_steps", n_warmup_steps, 0)
        self._interval_steps = check_int(owner, "interval_steps", interval_steps, 1)
        self._n_min_trials = check_int(owner, "n_min_trials", n_min_trials, 1)
        self._index: FinishedIndex[_RunningBests] = FinishedIndex()

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(percentile={self._percentile}, "
                f"n_startup_trials={self._n_startup_trials}, "
                f"n_warmup_steps={self._n_warmup_steps}, interval_steps={self._interval_steps}, "
                f"n_min_trials={self._n_min_trials})")

    def prune(self, view: StudyView, trial: FrozenTrial) -> bool:
        single_objective_only(type(self).__name__, view)
        step = trial.last_step
        if step is None or trial.state.is_finished():
            return False
        if latest_is_nan(trial):
            return True
        if not first_in_interval(trial, self._n_warmup_steps, self._interval_steps):
            return False
        signs = loss_signs(view.directions)
        own = _own_best(trial, signs)
        if own is None:
            return False
        with self._index.lock:
            state = self._index.current(view, signs, lambda: _RunningBests(signs[0]))
            if state.n_finished < self._n_startup_trials:
                return False
            others = state.by_step.get(step)
            if not others or len(others) < self._n_min_trials:
                return False
            threshold = percentile_of_sorted(others, self._percentile)
        return own > threshold


def _own_best(trial: FrozenTrial, signs: tuple[float, ...]) -> float | None:
    losses = [to_losses(v, signs) for v in trial.intermediate_values.values()]
    usable = [loss[0] for loss in losses if is_usable(loss)]
    return min(usable) if usable else None

