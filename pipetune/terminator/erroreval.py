"""How precisely the objective is known: the error evaluators a ``Terminator`` compares the
possible improvement with. An improvement smaller than the error cannot be told from noise."""

from __future__ import annotations

import abc
import math
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from pipetune._attrs import CV_SCORES_ATTR
from pipetune._numbers import real_number
from pipetune.datatypes import FrozenTrial, StudyDirection, TrialState
from pipetune.errors import InvalidArgumentError
from pipetune.terminator.improvement.evaluator import BaseImprovementEvaluator

__all__ = ["BaseErrorEvaluator", "CrossValidationErrorEvaluator", "MedianErrorEvaluator",
           "StaticErrorEvaluator", "report_cross_validation_scores"]


class BaseErrorEvaluator(abc.ABC):
    """Estimates the error of the objective's value, in its units."""

    @abc.abstractmethod
    def evaluate(self, trials: list[FrozenTrial], study_direction: StudyDirection) -> float:
        """The error, given the study's trials."""


def report_cross_validation_scores(trial: Any, scores: Sequence[float]) -> None:
    """Records the per-fold scores of a cross-validated objective on the trial (a system attr
    ``CrossValidationErrorEvaluator`` reads): call it from the objective before returning the
    mean score."""
    values = [real_number(score) for score in scores] \
        if isinstance(scores, Sequence) and not isinstance(scores, str) else []
    if len(values) < 2 or any(v is None or not math.isfinite(v) for v in values):
        raise InvalidArgumentError(
            f"report_cross_validation_scores takes the finite scores of 2 or more folds. "
            f"Got {scores!r}.")
    trial.set_system_attr(CV_SCORES_ATTR, values)


class CrossValidationErrorEvaluator(BaseErrorEvaluator):
    """The standard error of the best trial's cross-validated score, from the fold scores it
    reported (``report_cross_validation_scores``): their variance scaled by ``1/k + 1/(k-1)``
    for k folds, Nadeau and Bengio's correction for the overlap of the folds' training sets
    ("Inference for the Generalization Error", Machine Learning 52, 2003), as Makarova et al.
    (2022) use it to stop a search."""

    def evaluate(self, trials: list[FrozenTrial], study_direction: StudyDirection) -> float:
        scored = [(t.values[0], t) for t in trials
                  if t.state == TrialState.COMPLETE and t.values is not None]
        if not scored:
            raise InvalidArgumentError(
                "CrossValidationErrorEvaluator needs a COMPLETE trial; there is none yet.")
        pick = max if study_direction == StudyDirection.MAXIMIZE else min
        _, best = pick(scored, key=lambda scored_trial: scored_trial[0])
        scores = best.system_attrs.get(CV_SCORES_ATTR)
        if scores is None:
            raise InvalidArgumentError(
                f"The best trial ({best.number}) reported no cross-validation scores: call "
                "pipetune.terminator.report_cross_validation_scores(trial, scores) in the "
                "objective, or give the Terminator another error_evaluator.")
        k = len(scores)
        return math.sqrt((1 / k + 1 / (k - 1)) * float(np.var(scores)))


class StaticErrorEvaluator(BaseErrorEvaluator):
    """A fixed error, ``constant``: stop once the possible improvement falls below it."""

    def __init__(self, constant: float) -> None:
        self.constant = constant

    def evaluate(self, trials: list[FrozenTrial], study_direction: StudyDirection) -> float:
        return self.constant


class MedianErrorEvaluator(BaseErrorEvaluator):
    """A threshold set once from the study itself: ``threshold_ratio`` times the median of the
    improvements ``paired_improvement_evaluator`` estimated over the ``n_initial_trials``
    COMPLETE trials after the first ``warm_up_trials`` (random ones, usually). Stops when
    the possible improvement has shrunk to that fraction of what it was early on (the
    heuristic of Ishibashi et al., "A stopping criterion for Bayesian optimization by the gap
    of expected minimum simple regrets", AISTATS 2023). Until there are enough trials it
    returns a negative error, which no improvement is below."""

    def __init__(self, paired_improvement_evaluator: BaseImprovementEvaluator,
                 warm_up_trials: int = 10, n_initial_trials: int = 20,
                 threshold_ratio: float = 0.01) -> None:
        for name, value, least in (("warm_up_trials", warm_up_trials, 0),
                                   ("n_initial_trials", n_initial_trials, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise InvalidArgumentError(
                    f"{name} of MedianErrorEvaluator must be an int >= {least}. Got {value!r}.")
        if not (isinstance(threshold_ratio, (int, float)) and 0 < threshold_ratio < math.inf):
            raise InvalidArgumentError(
                f"threshold_ratio of MedianErrorEvaluator must be a positive number. "
                f"Got {threshold_ratio!r}.")
        self.paired_improvement_evaluator = paired_improvement_evaluator
        self.warm_up_trials = warm_up_trials
        self.n_initial_trials = n_initial_trials
        self.threshold_ratio = threshold_ratio
        self._threshold: float | None = None

    def evaluate(self, trials: list[FrozenTrial], study_direction: StudyDirection) -> float:
        if self._threshold is None:
            complete = sorted((t for t in trials if t.state == TrialState.COMPLETE),
                              key=lambda t: t.number)
            if len(complete) < self.warm_up_trials + self.n_initial_trials:
                return -sys.float_info.min
            first = self.warm_up_trials
            improvements = [self.paired_improvement_evaluator.evaluate(
                complete[first:first + n], study_direction)
                for n in range(1, self.n_initial_trials + 1)]
            self._threshold = min(float(np.median(improvements)) * self.threshold_ratio,
                                  sys.float_info.max)
        return self._threshold
