"""The study history as TPE needs it: one column per param, one row per usable trial, kept
up to date incrementally from ``StudyView.finished_log`` (finished trials never change, so each
is read once) and ranked best-first for the split into good and bad trials."""

from __future__ import annotations

import bisect
import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from pipetune._best import crowding_distance, pareto_ranks
from pipetune.datatypes import FrozenTrial, StudyDirection, TrialState
from pipetune.distributions import CategoricalDistribution, Distribution
from pipetune.samplers._constraints import violation


@dataclass(frozen=True)
class Ranked:
    """Row indices of usable trials, best first, with how many count as good."""

    order: np.ndarray
    n_below: int


class Observations:
    """Columns of the finished COMPLETE and PRUNED trials of one study (FAIL ones tell nothing
    about the objective and are left out)."""

    def __init__(self, directions: tuple[StudyDirection, ...]) -> None:
        self.signs = np.array([1.0 if d == StudyDirection.MINIMIZE else -1.0 for d in directions])
        self._lock = threading.Lock()
        self._read = 0  # how much of finished_log has been consumed
        self.n = 0
        self.numbers: list[int] = []
        self._state_rank: list[int] = []  # 0 complete, 1 pruned
        self._losses: list[tuple[float, ...]] = []  # sign-adjusted so smaller is better
        self._pruned_steps: list[int] = []
        # Total constraint violation (0: feasible or unconstrained): infeasible trials rank
        # after every feasible one, the least violating first.
        self._violations: list[float] = []
        # One objective: per step, the sorted losses every finished COMPLETE or PRUNED trial
        # reported there, the cohort a pruned trial is compared with at its own last step.
        self._at_step: dict[int, list[float]] = {}
        self._values: dict[str, list] = {}  # name -> external value or None per row
        self.distributions: dict[str, Distribution] = {}  # latest seen, per name
        self._encoded: dict[tuple[str, Distribution], np.ndarray] = {}
        self._ranked_arrays: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] = (
            np.empty(0, dtype=int), np.empty((0, len(self.signs))), np.empty(0), np.empty(0))

    def update(self, finished_log: Sequence[FrozenTrial]) -> None:
        with self._lock:
            for trial in finished_log[self._read:]:
                self._add(trial)
            self._read = len(finished_log)

    def _add(self, trial: FrozenTrial) -> None:
        if len(self.signs) == 1 and trial.state in (TrialState.COMPLETE, TrialState.PRUNED):
            for step, value in trial.intermediate_values.items():
                loss = float(np.atleast_1d(np.asarray(value, dtype=float))[0]) * self.signs[0]
                if not math.isnan(loss):
                    bisect.insort(self._at_step.setdefault(step, []), loss)
        if trial.state == TrialState.COMPLETE and trial.values is not None:
            self._state_rank.append(0)
            self._losses.append(tuple(np.asarray(trial.values) * self.signs))
            self._pruned_steps.append(0)
            self._violations.append(violation(trial))
        elif trial.state == TrialState.PRUNED and trial.intermediate_values:
            # A pruned trial counts as worse than every complete one; pruned ones are compared
            # at equal budget (see rank).
            step = max(trial.intermediate_values)
            losses = np.atleast_1d(np.asarray(trial.intermediate_values[step], dtype=float))
            if len(losses) != len(self.signs) or np.isnan(losses).any():
                return
            self._state_rank.append(1)
            self._losses.append(tuple(losses * self.signs))
            self._pruned_steps.append(step)
            self._violations.append(violation(trial))
        else:
            return
        for name in trial.params:
            if name not in self._values:
                self._values[name] = [None] * self.n
            self.distributions[name] = trial.distributions[name]
        for name, column in self._values.items():
            column.append(trial.params.get(name))
        self.numbers.append(trial.number)
        self.n += 1

    def column(self, name: str, distribution: Distribution, n_rows: int) -> np.ndarray:
        """The param's values in the first ``n_rows`` rows as internal floats for
        ``distribution`` (NaN where a trial lacks it, or holds a value outside the domain, e.g.
        a choice since removed). Encoded incrementally: each row is converted once per domain.

        Callers pass the ``n`` they read once, so that the columns and the ranking of one
        suggestion cover the same rows while other threads add trials."""
        with self._lock:
            key = (name, distribution)
            encoded = self._encoded.get(key, np.empty(0))
            if len(encoded) < self.n:
                values = self._values.get(name)
                new_rows = [None] * (self.n - len(encoded)) if values is None \
                    else values[len(encoded):]
                encoded = np.concatenate([encoded, _encode(new_rows, distribution)])
                self._encoded[key] = encoded
            return encoded[:n_rows]

    def rank(self, gamma: Callable[[int], int], n_rows: int) -> Ranked:
        """The first ``n_rows`` usable trials best-first: complete ones by loss (by Pareto rank,
        then crowding, for several objectives), then pruned ones.

        With one objective a pruned trial is ranked by its standing at its own last step: the
        share of finished trials that reported a better value at that step. BOHB (Falkner et
        al. 2018) fits its model only on observations made at one budget, so that a run cut
        short is never compared with the values of runs that went on; here every pruned trial
        is compared with all trials at the budget it got. Under Hyperband that keeps a trial
        that led its aggressive bracket at a small step ahead of one that trailed a
        conservative bracket at a large step, which its bracket merely let run longer. Ties go
        to the trial that got further, then to the lower value."""
        if n_rows == 0:
            return Ranked(np.empty(0, dtype=int), 0)
        with self._lock:
            # Extend the arrays by the rows added since the last call only.
            state, losses, steps, violations = self._ranked_arrays
            if len(state) < self.n:
                k = len(state)
                state = np.concatenate([state, self._state_rank[k:]]).astype(int)
                losses = np.vstack([losses.reshape(k, len(self.signs)),
                                    np.array(self._losses[k:], dtype=float)])
                steps = np.concatenate([steps, self._pruned_steps[k:]])
                violations = np.concatenate([violations, self._violations[k:]])
                self._ranked_arrays = (state, losses, steps, violations)
            state, losses, steps = state[:n_rows], losses[:n_rows], steps[:n_rows]
            violations = violations[:n_rows]
            n_usable = n_rows
            n_below = min(gamma(n_usable), n_usable)
            standing = np.zeros(n_usable)
            # Only pruned trials that enter the good set need their standing.
            if losses.shape[1] == 1 and int(np.count_nonzero(state == 0)) < n_below:
                for row in np.flatnonzero(state == 1):
                    cohort = self._at_step.get(int(steps[row]), [])
                    if cohort:
                        standing[row] = bisect.bisect_left(cohort, losses[row, 0]) / len(cohort)
        if losses.shape[1] == 1:
            order = np.lexsort((losses[:, 0], -steps, standing, state, violations))
        else:
            order = _multi_objective_order(losses, state, violations)
        return Ranked(order, n_below)


def _encode(values: list, distribution: Distribution) -> np.ndarray:
    if isinstance(distribution, CategoricalDistribution):
        indices = [None if v is None else distribution.index_of(v) for v in values]
        return np.array([np.nan if i is None else i for i in indices], dtype=float)
    array = np.array([np.nan if v is None else v for v in values], dtype=float)
    array[(array < distribution.low) | (array > distribution.high)] = np.nan
    return array


def _multi_objective_order(losses: np.ndarray, state: np.ndarray,
                           violations: np.ndarray) -> np.ndarray:
    """Rows ordered by non-dominated front (MOTPE, Ozaki et al. 2020), and within a front by
    crowding distance, most isolated first (NSGA-II, Deb et al. 2002), so the good set spreads
    along the front; then infeasible complete rows by violation, then pruned ones."""
    rows = np.arange(len(losses))
    ranked = (state == 0) & (violations == 0)
    complete = rows[ranked]
    ranks = pareto_ranks(losses[complete])
    order: list[np.ndarray] = []
    for rank in range(int(ranks.max()) + 1 if len(ranks) else 0):
        front = complete[ranks == rank]
        order.append(front[np.argsort(-crowding_distance(losses[front]), kind="stable")])
    rest = rows[~ranked]
    order.append(rest[np.lexsort((state[rest], violations[rest]))])
    return np.concatenate(order).astype(int)
