"""How much a study may still improve: the improvement evaluators a ``Terminator`` weighs
against the error of the objective's estimate."""

from __future__ import annotations

import abc
import math
from collections.abc import Sequence

import numpy as np

from pipetune.datatypes import FrozenTrial, StudyDirection, TrialState
from pipetune.errors import InvalidArgumentError
from pipetune.samplers._encoding import UnitSpace
from pipetune.samplers.gp.model import GaussianProcess
from pipetune.samplers.gp.optim import maximize
from pipetune.search_space import intersection_search_space

__all__ = ["BaseImprovementEvaluator", "BestValueStagnationEvaluator", "RegretBoundEvaluator",
           "finite_complete", "losses_of", "lowest_bound", "regret_bound"]

DEFAULT_TOP_TRIALS_RATIO = 0.5
DEFAULT_MIN_N_TRIALS = 20
# The probability that the true objective leaves the confidence band (GP-UCB's delta).
_DELTA = 0.1
# Srinivas et al. (2010) shrink GP-UCB's theoretical beta by this factor in their experiments:
# the bound holds with it in practice and is far less conservative.
_BETA_SHRINK = 5.0


def finite_complete(trials: Sequence[FrozenTrial]) -> list[FrozenTrial]:
    """The COMPLETE trials with finite values, in the order given."""
    return [t for t in trials if t.state == TrialState.COMPLETE and t.values is not None
            and all(math.isfinite(v) for v in t.values)]


def _complete(trials: Sequence[FrozenTrial], evaluator: str) -> list[FrozenTrial]:
    complete = finite_complete(trials)
    if not complete:
        raise InvalidArgumentError(
            f"{evaluator} needs at least one COMPLETE trial with a finite value; there is none "
            "yet.")
    return complete


def losses_of(trials: Sequence[FrozenTrial], direction: StudyDirection) -> np.ndarray:
    """The trials' values as losses: lower is better whatever the direction."""
    sign = -1.0 if direction == StudyDirection.MAXIMIZE else 1.0
    return sign * np.asarray([t.values[0] for t in trials if t.values is not None],
                             dtype=np.float64)


class BaseImprovementEvaluator(abc.ABC):
    """Estimates how much better than the best trial so far the study could still get."""

    @abc.abstractmethod
    def evaluate(self, trials: list[FrozenTrial], study_direction: StudyDirection) -> float:
        """The possible improvement, in the objective's units, given the study's trials."""


class RegretBoundEvaluator(BaseImprovementEvaluator):
    """An upper bound on the simple regret of the best trial: how far its value may be from
    the optimum, with high probability under a Gaussian-process model of the objective
    (Makarova et al., "Automatic Termination for Hyperparameter Optimization", AutoML 2022).

    A GP (pipetune's GP sampler's model) is fit to the best ``top_trials_ratio`` of the
    COMPLETE trials (at least ``min_n_trials`` of them), where the model matters. The bound is
    ``regret_bound`` of that model with delta = 0.1: the smallest upper confidence bound among
    those trials minus the smallest lower confidence bound over the whole search space. The
    search space is the params every COMPLETE trial shares.
    """

    def __init__(self, top_trials_ratio: float = DEFAULT_TOP_TRIALS_RATIO,
                 min_n_trials: int = DEFAULT_MIN_N_TRIALS, seed: int | None = None) -> None:
        if not 0 < top_trials_ratio <= 1:
            raise InvalidArgumentError(
                f"top_trials_ratio of RegretBoundEvaluator must be in (0, 1]. "
                f"Got {top_trials_ratio!r}.")
        if isinstance(min_n_trials, bool) or not isinstance(min_n_trials, int) \
                or min_n_trials < 1:
            raise InvalidArgumentError(
                f"min_n_trials of RegretBoundEvaluator must be a positive int. "
                f"Got {min_n_trials!r}.")
        self.top_trials_ratio = top_trials_ratio
        self.min_n_trials = min_n_trials
        self._rng = np.random.default_rng(seed)

    def evaluate(self, trials: list[FrozenTrial], study_direction: StudyDirection) -> float:
        complete = _complete(trials, "RegretBoundEvaluator")
        space = intersection_search_space(complete)
        if not space:
            raise InvalidArgumentError(
                "RegretBoundEvaluator models the params every COMPLETE trial shares, and these "
                "trials share none.")
        unit = UnitSpace.of(space)
        points = np.array([unit.encode(t.params) for t in complete])
        losses = losses_of(complete, study_direction)
        n_top = int(np.clip(int(len(losses) * self.top_trials_ratio), self.min_n_trials,
                            len(losses)))
        top = np.argsort(losses, kind="stable")[:n_top]
        points, losses = points[top], losses[top]
        scale = max(float(losses.std()), 1e-10)
        standardized = (losses - losses.mean()) / scale
        model = GaussianProcess.fit(points, standardized, unit.categorical)
        return regret_bound(model, unit, _DELTA, self._rng) * scale


def regret_bound(model: GaussianProcess, unit: UnitSpace, delta: float,
                 rng: np.random.Generator) -> float:
    """The width of the band in which the minimum of the objective lies with probability
    ``1 - delta`` under ``model`` (in its standardized units): the smallest upper confidence
    bound among the model's trials minus the smallest lower confidence bound over the search
    space, the bands ``mean +/- sqrt(beta) * sd`` with GP-UCB's ``beta = 2 log(d n^2 pi^2 /
    (6 delta))`` (Srinivas et al., ICML 2010, Theorem 1), shrunk five-fold as in their
    experiments."""
    points = model.points
    beta = 2 * math.log(unit.dim * len(points) ** 2 * math.pi ** 2 / (6 * delta))
    root_beta = math.sqrt(beta / _BETA_SHRINK)
    mean, variance = model.predict(points)
    best_upper = float(np.min(mean + root_beta * np.sqrt(variance)))
    return best_upper - lowest_bound(model, unit, root_beta, rng)


def lowest_bound(model: GaussianProcess, unit: UnitSpace, root_beta: float,
                 rng: np.random.Generator) -> float:
    """The smallest ``mean - root_beta * sd`` of ``model`` over the search space, searched from
    the model's trials (the smallest mean itself with ``root_beta=0``)."""
    points = model.points

    def negative_bound(x: np.ndarray, with_gradient: bool
                       ) -> tuple[np.ndarray, np.ndarray | None]:
        if not with_gradient:
            mean, variance = model.predict(x)
            return -(mean - root_beta * np.sqrt(variance)), None
        mean, variance, mean_grad, variance_grad = model.predict_with_gradients(x)
        sd = np.sqrt(variance)
        bound_grad = mean_grad - root_beta * variance_grad / (2 * sd[:, None])
        return -(mean - root_beta * sd), -bound_grad

    mean, _ = model.predict(points)
    optimum = maximize(negative_bound, unit, points[np.argsort(mean)], rng)
    lowest, _ = negative_bound(np.vstack([points, optimum]), False)
    return -float(np.max(lowest))


class BestValueStagnationEvaluator(BaseImprovementEvaluator):
    """How many more trials without a better value the study may run: ``max_stagnation_trials``
    minus the COMPLETE trials since the best one. Below zero the study stagnated; a
    ``Terminator`` pairs it with ``StaticErrorEvaluator(0)`` by default."""

    def __init__(self, max_stagnation_trials: int = 30) -> None:
        if isinstance(max_stagnation_trials, bool) or not isinstance(max_stagnation_trials, int) \
                or max_stagnation_trials < 0:
            raise InvalidArgumentError(
                f"max_stagnation_trials of BestValueStagnationEvaluator must be an int >= 0. "
                f"Got {max_stagnation_trials!r}.")
        self.max_stagnation_trials = max_stagnation_trials

    def evaluate(self, trials: list[FrozenTrial], study_direction: StudyDirection) -> float:
        losses = losses_of(_complete(trials, "BestValueStagnationEvaluator"), study_direction)
        best = int(np.argmin(losses))  # the first of equal bests: ties do not renew it
        return self.max_stagnation_trials - (len(losses) - 1 - best)
