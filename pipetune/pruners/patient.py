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
    agrees (with ``None``, stagnation alone prunes) — early stopping with patience, as in
    Keras' ``EarlyStopping``, combined with any other rule.

    With the trial's values in step order, the last ``patience`` reports are its *recent*
    values and all before them its *earlier* ones. The trial has stagnated when it has more than
    ``patience`` reports and the best recent value does not beat the best earlier one by more
    than ``min_delta`` (lower is better when minimizing, higher when maximizing); with
    ``patience=0`` every trial counts as stagnated. NaN values are skipped, and a trial whose
    latest value is NaN is pruned at once. One objective only.
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
        """Whether ``trial`` has gone ``patience`` reports without improving by ``min_delta``."""
        values = trial.intermediate_values
        if len(values) <= self._patience:
            return False
        if self._patience == 0:
            return True
        signs = loss_signs(view.directions)
        losses = []
        for step in sorted(values):
            converted = to_losses(values[step], signs)
            losses.append(math.nan if converted is None else converted[0])
        split = len(losses) - self._patience
        earlier = [v for v in losses[:split] if not math.isnan(v)]
        recent = [v for v in losses[split:] if not math.isnan(v)]
        if not earlier:
            return False  # nothing to improve on yet
        if not recent:
            return True
        return not min(recent) < min(earlier) - self._min_delta
