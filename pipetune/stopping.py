"""Stopping criteria: conditions on a study's progress that end ``optimize`` early.

``n_trials`` and ``timeout`` bound a run by budget; these end it by outcome: the target was
reached, nothing improved for a while, or the objective looks broken. Each is checked after
every finished trial of the run (``optimize(..., stop_when=[...])``).

``MaxTrialsCallback`` is Optuna's way to bound a study rather than a run: a callback that
stops ``optimize`` once the study holds that many trials in the given states.
"""

from __future__ import annotations

import abc
import math
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from pipetune._attrs import FAIL_REASON_ATTR
from pipetune.datatypes import FrozenTrial, StudyDirection, TrialState
from pipetune.errors import InvalidArgumentError, TooManyFailuresError


@dataclass(frozen=True)
class Progress:
    """What a criterion sees after each finished trial of one ``optimize`` run."""

    directions: tuple[StudyDirection, ...]
    trial: FrozenTrial  # the trial that just finished
    best: FrozenTrial | None  # the best COMPLETE trial of the study (single objective)
    trials_since_improvement: int  # finished trials of this run since the best last improved
    failed_in_a_row: int  # FAIL trials of this run since the last non-FAIL one


class StoppingCriterion(abc.ABC):
    """Says when a run should stop."""

    def check_study(self, directions: tuple[StudyDirection, ...]) -> None:
        """Raises InvalidArgumentError when the criterion cannot apply to such a study."""

    @abc.abstractmethod
    def reason_to_stop(self, progress: Progress) -> str | None:
        """Why the run should stop now, or None to go on."""


def _single_objective(name: str, directions: tuple[StudyDirection, ...]) -> None:
    if len(directions) != 1:
        raise InvalidArgumentError(
            f"{name} needs a single-objective study; this one has {len(directions)} objectives.")


def _positive_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidArgumentError(f"The 'n_trials' argument of {name} must be an int >= 1. "
                                   f"Got {value!r}.")


@dataclass(frozen=True)
class TargetValue(StoppingCriterion):
    """Stops once a COMPLETE trial reaches ``value`` (at most it when minimizing, at least it
    when maximizing)."""

    value: float

    def __post_init__(self) -> None:
        if isinstance(self.value, bool) or not isinstance(self.value, (int, float)) \
                or math.isnan(self.value):
            raise InvalidArgumentError(
                f"The 'value' argument of TargetValue must be a number. Got {self.value!r}.")

    def check_study(self, directions: tuple[StudyDirection, ...]) -> None:
        _single_objective("TargetValue", directions)

    def reason_to_stop(self, progress: Progress) -> str | None:
        best = None if progress.best is None else progress.best.value
        if progress.best is None or best is None:
            return None
        reached = (best <= self.value if progress.directions[0] == StudyDirection.MINIMIZE
                   else best >= self.value)
        return (f"trial {progress.best.number} reached the target value {self.value:g} "
                f"({best:g})") if reached else None


@dataclass(frozen=True)
class NoImprovement(StoppingCriterion):
    """Stops when the best value has not improved for ``n_trials`` finished trials."""

    n_trials: int

    def __post_init__(self) -> None:
        _positive_int("NoImprovement", self.n_trials)

    def check_study(self, directions: tuple[StudyDirection, ...]) -> None:
        _single_objective("NoImprovement", directions)

    def reason_to_stop(self, progress: Progress) -> str | None:
        if progress.trials_since_improvement >= self.n_trials:
            return f"no improvement in the last {progress.trials_since_improvement} trials"
        return None


@dataclass(frozen=True)
class FailedInARow(StoppingCriterion):
    """Stops a run whose objective looks broken: ``n_trials`` FAIL trials in a row raise
    TooManyFailuresError carrying the last failure's reason."""

    n_trials: int

    def __post_init__(self) -> None:
        _positive_int("FailedInARow", self.n_trials)

    def reason_to_stop(self, progress: Progress) -> str | None:
        if progress.failed_in_a_row < self.n_trials:
            return None
        reason = progress.trial.system_attrs.get(FAIL_REASON_ATTR, "no reason recorded")
        raise TooManyFailuresError(
            f"{progress.failed_in_a_row} trials failed in a row, so the study stopped; the last "
            f"(trial {progress.trial.number}) failed with: {reason.rstrip('.')}. Fix the "
            "objective, or allow more failures in a row.")


def track(progress: Progress | None, directions: tuple[StudyDirection, ...], trial: FrozenTrial,
          best: FrozenTrial | None, improved: bool) -> Progress:
    """The progress after ``trial`` finished, from the progress before it."""
    since = 0 if improved else (progress.trials_since_improvement + 1 if progress else 1)
    failed = (progress.failed_in_a_row + 1 if progress else 1) \
        if trial.state == TrialState.FAIL else 0
    return Progress(directions=directions, trial=trial, best=best,
                    trials_since_improvement=since, failed_in_a_row=failed)


class MaxTrialsCallback:
    """A callback (``optimize(..., callbacks=[MaxTrialsCallback(100)])``) that stops the run
    once the study holds ``n_trials`` trials in ``states`` (COMPLETE ones by default; None:
    every state), counting those of every run and process. Trials already running finish.
    ``create_study(max_trials=...)`` bounds the trials every process starts instead."""

    def __init__(self, n_trials: int,
                 states: Collection[TrialState] | None = (TrialState.COMPLETE,)) -> None:
        _positive_int("MaxTrialsCallback", n_trials)
        self.n_trials = n_trials
        self.states = None if states is None else tuple(TrialState.parse(s) for s in states)

    def __repr__(self) -> str:
        return f"MaxTrialsCallback({self.n_trials}, states={self.states})"

    def __call__(self, study: Any, trial: FrozenTrial) -> None:
        if len(study.get_trials(deepcopy=False, states=self.states)) >= self.n_trials:
            study.stop()
