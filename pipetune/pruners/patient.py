"""Patience: tolerate a plateau for a while before letting another pruner decide."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from pipetune.datatypes import FrozenTrial
from pipetune.errors import InvalidArgumentError
from pipetune.pruners._rungs import (
    check_int,
    check_real,
    latest_is_nan,
    loss_signs,
    single_objective_only,
    to_losses,
)
from pipetune.pruners.base import BasePruner

if TYPE_CHECKING:
    from pipetune.view import StudyView


class PatientPruner(BasePruner):
    """Prunes only a trial that has stopped improving, and then only if ``wrapped_pruner``
    agrees (with ``None``, stagnation alone prunes): early stopping with patience, combined
    with any other rule. The rule is Optuna's, so studies moved over prune alike.

    With the trial's values in step order, its last ``patience + 1`` reports are its *recent*
    values and all before them its *earlier* ones. The trial has stagnated when it has more than
    ``patience + 1`` reports and even its best recent value is worse than its best earlier one
    by more than ``min_delta`` (a tolerance: lower is better when minimizing, higher when
    maximizing). A trial that holds its best value, or comes back within ``min_delta`` of it,
    is kept. NaN values are skipped (with only NaN among the recent or the earlier values
    nothing has stagnated), and a trial whose latest value is NaN is pruned at once. Patience
    counts reports, not step numbers. One objective only.
    """

    def __init__(self, wrapped_pruner: BasePruner | None, patience: int,
                 min_delta: float = 0.0) -> None:
        if wrapped_pruner is not None and not isinstance(wrapped_pruner, BasePruner):
            raise InvalidArgumentError(
                "The 'wrapped_pruner' argument of PatientPruner must be a pipetune pruner "
                f"(e.g. pipetune.pruners.MedianPruner()) or None. Got {wrapped_pruner!r}.")
        self._wrapped = wrapped_pruner
        self._patience = check_int("PatientPruner", "patience", patience, 0)
        self._min_delta = check_real("PatientPruner", "min_delta", min_delta, 0.0)
        if math.isinf(self._min_delta):
            raise InvalidArgumentError(
                f"The 'min_delta' argument of PatientPruner must be a finite number >= 0. "
                f"Got {min_delta!r}.")

    def __repr__(self) -> str:
        return (f"PatientPruner({self._wrapped!r}, patience={self._patience}, "
                f"min_delta={self._min_delta})")

    def prune(self, view: StudyView, trial: FrozenTrial) -> bool:
        single_objective_only("PatientPruner", view)
        if not trial.intermediate_values or trial.state.is_finished():
            return False
        if latest_is_nan(trial):
            return True
        if not self.stagnated(view, trial):
            return False
        return True if self._wrapped is None else bool(self._wrapped.prune(view, trial))

    def stagnated(self, view: StudyView, trial: FrozenTrial) -> bool:
        """Whether the last ``patience + 1`` reports of ``trial`` all fell short of its best
        earlier value by more than ``min_delta``."""
        signs = loss_signs(view.directions)
        losses = []
        for step in sorted(trial.intermediate_values):
            converted = to_losses(trial.intermediate_values[step], signs)
            losses.append(math.nan if converted is None else converted[0])
        split = len(losses) - (self._patience + 1)
        if split <= 0:
            return False  # not enough reports to run out of patience
        earlier = [v for v in losses[:split] if not math.isnan(v)]
        recent = [v for v in losses[split:] if not math.isnan(v)]
        if not earlier or not recent:
            return False
        return min(recent) > min(earlier) + self._min_delta
