"""``EMMREvaluator``: how much the last trial changed what a Gaussian-process model expects of
the study's result, after Ishibashi, Karasuyama, Takeuchi and Hino, "A stopping criterion for
Bayesian optimization by the gap of expected minimum simple regrets" (AISTATS 2023).

Their quantity is the expected minimum simple regret of the model after ``t`` trials: how much
worse, in expectation under the GP posterior, the point with the lowest posterior mean is
than the true minimum. Once another trial barely changes it, the search has stopped learning
where the minimum is. Its change from ``t - 1`` to ``t`` trials is bounded by two terms that
can be computed:

- how far the lowest posterior mean moved: ``|min mu_{t-1} - min mu_t|``;
- how far the expected minimum of the objective can move, bounded by Pinsker's inequality:
  the minimum lies, with probability ``1 - delta``, in a band of width ``kappa_{t-1}`` (the
  regret bound of ``RegretBoundEvaluator`` under the model of ``t - 1`` trials), so its
  expectation moves by at most ``kappa_{t-1} * sqrt(KL / 2)``, where ``KL`` is the
  Kullback-Leibler divergence of the posterior after ``t`` trials from the one before. Both
  posteriors share their kernel, and conditioning on the new trial changes only what the
  model says at its point, so ``KL`` is that of two normal distributions: the model's
  prediction at the new trial's params with and without it.

The sum, in the objective's units, is what ``evaluate`` returns. The paper pairs it with the
threshold of ``MedianErrorEvaluator``: stop once it falls to a small fraction of what it was
early in the study.
"""

from __future__ import annotations

import math
import sys
import warnings

import numpy as np

from pipetune.datatypes import FrozenTrial, StudyDirection
from pipetune.errors import InvalidArgumentError
from pipetune.samplers._encoding import UnitSpace
from pipetune.samplers.gp.model import GaussianProcess
from pipetune.search_space import intersection_search_space
from pipetune.terminator.improvement.evaluator import (
    BaseImprovementEvaluator,
    finite_complete,
    losses_of,
    lowest_bound,
    regret_bound,
)

__all__ = ["MARGIN_FOR_NUMARICAL_STABILITY", "EMMREvaluator"]

# While there is too little to judge, ``evaluate`` returns the largest float times this (the
# name as Optuna spells it): larger than any error, with room left for arithmetic on it.
MARGIN_FOR_NUMARICAL_STABILITY = 0.1
_NOT_YET = sys.float_info.max * MARGIN_FOR_NUMARICAL_STABILITY


class EMMREvaluator(BaseImprovementEvaluator):
    """The change in expected minimum simple regret that the latest COMPLETE trial brought,
    bounded from above (see the module doc), on pipetune's GP model of the params every
    COMPLETE trial shares; pair it with ``MedianErrorEvaluator(EMMREvaluator())``.

    ``deterministic_objective=True`` fits the model without observation noise;
    ``delta`` is the probability that the objective's minimum lies outside the band the
    bound uses. Before ``min_n_trials`` COMPLETE trials (at least 2: it compares the model
    before and after the last one), or when they share no param, it returns
    ``sys.float_info.max * MARGIN_FOR_NUMARICAL_STABILITY``: no reason to stop yet.
    """

    def __init__(self, deterministic_objective: bool = False, delta: float = 0.1,
                 min_n_trials: int = 2, seed: int | None = None) -> None:
        if isinstance(min_n_trials, bool) or not isinstance(min_n_trials, int) \
                or min_n_trials < 2:
            raise InvalidArgumentError(
                f"min_n_trials of EMMREvaluator must be an int >= 2: it compares the model "
                f"before and after the latest trial. Got {min_n_trials!r}.")
        if not (isinstance(delta, (int, float)) and 0 < delta < 1):
            raise InvalidArgumentError(
                f"delta of EMMREvaluator must be a probability in (0, 1). Got {delta!r}.")
        self.deterministic_objective = deterministic_objective
        self.delta = delta
        self.min_n_trials = min_n_trials
        self._rng = np.random.default_rng(seed)

    def evaluate(self, trials: list[FrozenTrial], study_direction: StudyDirection) -> float:
        complete = sorted(finite_complete(trials), key=lambda t: t.number)
        if len(complete) < self.min_n_trials:
            return _NOT_YET
        space = intersection_search_space(complete)
        if not space:
            warnings.warn("EMMREvaluator models the params every COMPLETE trial shares, and "
                          "these trials share none: it cannot judge, so it says go on.",
                          UserWarning, stacklevel=2)
            return _NOT_YET
        unit = UnitSpace.of(space)
        points = np.array([unit.encode(t.params) for t in complete])
        losses = losses_of(complete, study_direction)
        scale = max(float(losses.std()), 1e-10)
        standardized = (losses - losses.mean()) / scale
        after = GaussianProcess.fit(points, standardized, unit.categorical,
                                    deterministic=self.deterministic_objective)
        before = GaussianProcess(points[:-1], standardized[:-1], unit.categorical,
                                 after.hyperparameters)
        moved = abs(lowest_bound(before, unit, 0.0, self._rng)
                    - lowest_bound(after, unit, 0.0, self._rng))
        band = regret_bound(before, unit, self.delta, self._rng)
        (mean_after,), (variance_after,) = after.predict(points[-1:])
        (mean_before,), (variance_before,) = before.predict(points[-1:])
        divergence = 0.5 * (math.log(variance_before / variance_after)
                            + (variance_after + (mean_after - mean_before) ** 2)
                            / variance_before - 1)
        return (moved + band * math.sqrt(max(divergence, 0.0) / 2)) * scale
