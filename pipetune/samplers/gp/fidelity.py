"""What the GP learns from trials stopped early: one observation per finished trial at the
budget it reached, and a view of a (params, budget) model at the full budget.

A PRUNED trial contributes its last finite intermediate value at the step it was reported at; a
COMPLETE trial its value at its last reported step (at the study's largest step when it
reported none). The budget becomes one more coordinate of the GP's input, log(1 + step) /
log(1 + largest step) in [0, 1], so the Matérn ARD kernel of ``kernel.py`` covers (params,
budget) jointly and learns from the data how fast the objective changes with the budget and how
much low-budget results say about the full budget — a kernel over (x, fidelity) as in BOCA
(Kandasamy et al. 2017, "Multi-fidelity Bayesian optimisation with continuous approximations")
and FABOLAS (Klein et al. 2017, a GP over (x, s) whose proposals are scored at s = full).
Proposals are scored at budget 1 only: the pruner, not the sampler, decides how far a trial
runs.

A stationary kernel alone transfers little from the low budgets: a learning curve moves far
more between its first steps and its last than between configurations at one step, so the model
fits a short length scale along the budget and leaves the full budget uncertain wherever trials
were pruned early, and log EI then keeps proposing those places, which are pruned early again.
So the GP gets a budget-dependent prior mean, as freeze-thaw models a curve as an asymptote
plus a decay shared in form by all configurations (Swersky et al. 2014): a pruned trial's loss
at step s counts minus the median of (loss at s - final loss) over the COMPLETE trials that
reported step s, an estimate of where its curve would have ended; the budget coordinate models
what that shift leaves.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pipetune.datatypes import FrozenTrial, StudyDirection, TrialState
from pipetune.samplers.gp.model import GaussianProcess

# Observations the multi-fidelity GP is fit on at most, COMPLETE trials always included: a fit
# costs O(n^3) and a prediction O(n) per candidate, and under a pruner most trials are pruned.
MAX_OBSERVATIONS = 300
FULL_BUDGET = 1.0


@dataclass(frozen=True)
class Observation:
    """One finished trial's result at the step it reached, as a loss (smaller is better)."""

    trial: FrozenTrial
    step: int | None  # None: a COMPLETE trial that reported no intermediate value
    loss: float


def has_pruned_observation(finished: Sequence[FrozenTrial]) -> bool:
    """Whether a PRUNED trial reported a finite intermediate value, which turns the budget
    axis on."""
    return any(t.state == TrialState.PRUNED and _last_finite(t) is not None for t in finished)


def observations(finished: Sequence[FrozenTrial], direction: StudyDirection
                 ) -> list[Observation]:
    """Every finished trial's result at its budget; PRUNED trials with no finite intermediate
    value and COMPLETE trials with a NaN or infinite value are left out. Intermediate values
    are in the objective's direction, so they are signed as the final values are."""
    sign = 1.0 if direction == StudyDirection.MINIMIZE else -1.0
    out = []
    for t in finished:
        if t.state == TrialState.COMPLETE:
            value = t.values[0] if t.values else math.nan
            if math.isfinite(value):
                last = max(t.intermediate_values) if t.intermediate_values else None
                out.append(Observation(t, last, sign * value))
        elif t.state == TrialState.PRUNED:
            last_finite = _last_finite(t)
            if last_finite is not None:
                out.append(Observation(t, last_finite[0], sign * last_finite[1]))
    return out


class CurveOffsets:
    """Per step, how much the COMPLETE trials' loss at that step exceeded their final loss,
    read once per finished trial (a finished trial never changes)."""

    def __init__(self) -> None:
        self.read = 0
        self._differences: dict[int, list[float]] = {}

    def update(self, finished: Sequence[FrozenTrial], direction: StudyDirection) -> None:
        sign = 1.0 if direction == StudyDirection.MINIMIZE else -1.0
        for t in finished[self.read:]:
            if t.state != TrialState.COMPLETE or not t.values or not math.isfinite(t.values[0]):
                continue
            for step, value in t.intermediate_values.items():
                if isinstance(value, (int, float)) and math.isfinite(value):
                    self._differences.setdefault(step, []).append(
                        sign * (float(value) - t.values[0]))
        self.read = len(finished)

    def at(self, steps: Sequence[int | None]) -> np.ndarray:
        """The median offset at each step (0 for None, a COMPLETE trial's own final value),
        taken at the nearest step some COMPLETE trial reported; 0 when none reported any."""
        known = np.array(sorted(self._differences), dtype=float)
        medians: dict[int, float] = {}
        out = np.zeros(len(steps))
        if not len(known):
            return out
        for i, step in enumerate(steps):
            if step is None:
                continue
            if step not in medians:
                nearest = int(known[int(np.argmin(np.abs(known - step)))])
                medians[step] = float(np.median(self._differences[nearest]))
            out[i] = medians[step]
        return out


def _last_finite(trial: FrozenTrial) -> tuple[int, float] | None:
    """The last step with a finite (single-objective) intermediate value, and that value."""
    for step in sorted(trial.intermediate_values, reverse=True):
        value = trial.intermediate_values[step]
        if isinstance(value, (int, float)) and math.isfinite(value):
            return step, float(value)
    return None


def budgets(observed: Sequence[Observation]) -> np.ndarray:
    """Each observation's budget in [0, 1]: log(1 + step) / log(1 + the largest step any
    finished trial reached), full for a COMPLETE trial that reported nothing. The log spreads
    the early steps, where learning curves change the most and where pruners stop trials."""
    steps = [o.step for o in observed if o.step is not None]
    largest = max(steps, default=0)
    if largest <= 0:
        return np.full(len(observed), FULL_BUDGET)
    scale = math.log1p(largest)
    return np.array([FULL_BUDGET if o.step is None else math.log1p(max(o.step, 0)) / scale
                     for o in observed])


def keep(observed: Sequence[Observation], budget: np.ndarray,
         limit: int | None = None) -> np.ndarray:
    """Indices (in the original order) of the observations the GP is fit on: all COMPLETE
    trials, then PRUNED ones by budget reached and, within a budget, the most recent first, up
    to ``limit`` observations. High-budget results say the most about the full budget, and
    recent trials are where the search is now."""
    limit = MAX_OBSERVATIONS if limit is None else limit
    if len(observed) <= limit:
        return np.arange(len(observed))
    complete = [i for i, o in enumerate(observed) if o.trial.state == TrialState.COMPLETE]
    pruned = [i for i, o in enumerate(observed) if o.trial.state != TrialState.COMPLETE]
    pruned.sort(key=lambda i: (-budget[i], -observed[i].trial.number))
    chosen = complete + pruned[:max(0, limit - len(complete))]
    return np.array(sorted(chosen), dtype=int)


def with_budget(points: np.ndarray, budget: float | np.ndarray) -> np.ndarray:
    """``points`` with the budget appended as the last coordinate."""
    column = np.broadcast_to(np.asarray(budget, dtype=float), (len(points),))
    return np.column_stack([points, column])


class AtFullBudget:
    """A GP over (params, budget) seen as a model of the params alone at the full budget: the
    acquisition and its optimizer score configurations as if they ran to the end."""

    def __init__(self, model: GaussianProcess) -> None:
        self.model = model

    def predict(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.model.predict(with_budget(points, FULL_BUDGET))

    def predict_with_gradients(self, points: np.ndarray) -> tuple[np.ndarray, ...]:
        mean, variance, mean_grad, variance_grad = self.model.predict_with_gradients(
            with_budget(points, FULL_BUDGET))
        return mean, variance, mean_grad[:, :-1], variance_grad[:, :-1]
