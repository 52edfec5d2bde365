"""``Terminator``: stops a whole study once it can no longer improve by more than the noise of
its objective, and ``TerminatorCallback``, which asks it after every trial of ``optimize``."""

from __future__ import annotations

import abc
import logging
from typing import Any

from pipetune.datatypes import FrozenTrial, TrialState
from pipetune.errors import InvalidArgumentError
from pipetune.terminator.erroreval import (
    BaseErrorEvaluator,
    CrossValidationErrorEvaluator,
    StaticErrorEvaluator,
)
from pipetune.terminator.improvement.evaluator import (
    DEFAULT_MIN_N_TRIALS,
    BaseImprovementEvaluator,
    BestValueStagnationEvaluator,
    RegretBoundEvaluator,
)

__all__ = ["BaseTerminator", "Terminator", "TerminatorCallback"]

logger = logging.getLogger("pipetune")


class BaseTerminator(abc.ABC):
    """Decides whether a study should stop."""

    @abc.abstractmethod
    def should_terminate(self, study: Any) -> bool:
        """True when running more trials of ``study`` is not worth it."""


class Terminator(BaseTerminator):
    """Stops a single-objective study when the improvement still possible
    (``improvement_evaluator``, by default the regret bound of ``RegretBoundEvaluator``) is
    smaller than the error of the objective itself (``error_evaluator``, by default the
    cross-validation error the objective reports; ``StaticErrorEvaluator(0)`` for
    ``BestValueStagnationEvaluator``): a better trial could no longer be told from a lucky
    one. It never stops a study of fewer than ``min_n_trials`` COMPLETE trials."""

    def __init__(self, improvement_evaluator: BaseImprovementEvaluator | None = None,
                 error_evaluator: BaseErrorEvaluator | None = None,
                 min_n_trials: int = DEFAULT_MIN_N_TRIALS) -> None:
        if isinstance(min_n_trials, bool) or not isinstance(min_n_trials, int) \
                or min_n_trials < 1:
            raise InvalidArgumentError(
                f"min_n_trials of Terminator must be a positive int. Got {min_n_trials!r}.")
        self.improvement_evaluator = improvement_evaluator or RegretBoundEvaluator()
        if error_evaluator is None:
            error_evaluator = StaticErrorEvaluator(0) \
                if isinstance(self.improvement_evaluator, BestValueStagnationEvaluator) \
                else CrossValidationErrorEvaluator()
        self.error_evaluator = error_evaluator
        self.min_n_trials = min_n_trials

    def should_terminate(self, study: Any) -> bool:
        if len(study.directions) != 1:
            raise InvalidArgumentError(
                f"A Terminator stops single-objective studies; study {study.study_name!r} has "
                f"{len(study.directions)} objectives.")
        trials = study.get_trials(states=(TrialState.COMPLETE,))
        if len(trials) < self.min_n_trials:
            return False
        direction = study.directions[0]
        improvement = self.improvement_evaluator.evaluate(trials, direction)
        error = self.error_evaluator.evaluate(trials, direction)
        return improvement < error


class TerminatorCallback:
    """A callback of ``Study.optimize`` that stops the study (``study.stop()``: the trials in
    flight finish, no new one starts) when ``terminator`` (default: ``Terminator()``) says so."""

    def __init__(self, terminator: BaseTerminator | None = None) -> None:
        self.terminator = terminator or Terminator()

    def __call__(self, study: Any, trial: FrozenTrial) -> None:
        if self.terminator.should_terminate(study):
            logger.info("Study %r stopped by its terminator after trial %d.",
                        study.study_name, trial.number)
            study.stop()
