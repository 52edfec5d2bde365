"""Thresholds: stop a trial whose value leaves a fixed range."""

from __future__ import annotations

import math
import numbers
from typing import TYPE_CHECKING, Any

from pipetune.datatypes import FrozenTrial
from pipetune.errors import ArgumentTypeError, InvalidArgumentError
from pipetune.pruners._rungs import (
    check_int,
    first_in_interval,
    latest_is_nan,
    single_objective_only,
    to_losses,
)
from pipetune.pruners.base import BasePruner

if TYPE_CHECKING:
    from pipetune.view import StudyView


def _bound(name: str, value: Any, default: float) -> float:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or math.isnan(value):
        raise ArgumentTypeError(
            f"The {name!r} argument of ThresholdPruner must be a number or None. Got {value!r}.")
    return float(value)


class ThresholdPruner(BasePruner):
    """Prunes a trial whose latest value is below ``lower`` or above ``upper`` (either may be
    None; not both): a loss that has exploded or an accuracy stuck at chance is not worth
    more steps, whatever the other trials do. The bounds are in the objective's own units,
    whichever its direction.

    Nothing is pruned at steps below ``n_warmup_steps`` or at a report that is not the trial's
    first in its interval of ``interval_steps`` steps after the warm-up (as for
    ``PercentilePruner``). A latest value of NaN prunes at once. One objective only.
    """

    def __init__(self, lower: float | None = None, upper: float | None = None,
                 n_warmup_steps: int = 0, interval_steps: int = 1) -> None:
        if lower is None and upper is None:
            raise ArgumentTypeError(
                "ThresholdPruner needs a bound: give lower=, upper= or both.")
        self._lower = _bound("lower", lower, -math.inf)
        self._upper = _bound("upper", upper, math.inf)
        if self._lower > self._upper:
            raise InvalidArgumentError(
                f"The 'lower' argument of ThresholdPruner ({lower!r}) must not exceed 'upper' "
                f"({upper!r}).")
        self._n_warmup_steps = check_int("ThresholdPruner", "n_warmup_steps", n_warmup_steps, 0)
        self._interval_steps = check_int("ThresholdPruner", "interval_steps", interval_steps, 1)

    def __repr__(self) -> str:
        return (f"ThresholdPruner(lower={self._lower}, upper={self._upper}, "
                f"n_warmup_steps={self._n_warmup_steps}, interval_steps={self._interval_steps})")

    @property
    def needs_history(self) -> bool:
        return False

    def prune(self, view: StudyView, trial: FrozenTrial) -> bool:
        single_objective_only("ThresholdPruner", view)
        step = trial.last_step
        if step is None or trial.state.is_finished():
            return False
        if latest_is_nan(trial):
            return True
        if not first_in_interval(trial, self._n_warmup_steps, self._interval_steps):
            return False
        losses = to_losses(trial.intermediate_values[step], (1.0,))  # the value as it is
        return losses is not None and not self._lower <= losses[0] <= self._upper
