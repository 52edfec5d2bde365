"""Constraints of trials, as samplers use them: a trial is feasible when every constraint
value is <= 0. Values come from the trial's system attrs (``Trial.set_constraint``, or what a
sampler's ``constraints_func`` returned, recorded by ``record_constraints`` in
``after_trial``)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from pipetune._attrs import CONSTRAINTS_ATTR, constraints_of
from pipetune.datatypes import FrozenTrial, TrialState
from pipetune.errors import InvalidArgumentError

ConstraintsFunc = Callable[[FrozenTrial], Sequence[float]]


def check_constraints_func(owner: str, func: Any) -> ConstraintsFunc | None:
    """``func`` when it is None or callable, else an error naming ``owner``'s argument."""
    if func is not None and not callable(func):
        raise InvalidArgumentError(
            f"The 'constraints_func' argument of {owner} must be a function of a finished "
            f"trial returning its constraint values (<= 0 means satisfied). Got {func!r}.")
    return func


def record_constraints(func: ConstraintsFunc | None, trial: FrozenTrial,
                       state: TrialState) -> dict[str, Any] | None:
    """The system attrs that record ``func``'s constraint values for a COMPLETE or PRUNED
    trial (``after_trial``'s return); None without a function or for another state."""
    if func is None or state not in (TrialState.COMPLETE, TrialState.PRUNED):
        return None
    raw = func(trial)
    try:
        values = [float(v) for v in raw]
    except (TypeError, ValueError):
        raise InvalidArgumentError(
            f"constraints_func must return a sequence of numbers; for trial {trial.number} it "
            f"returned {raw!r}.") from None
    if any(math.isnan(v) for v in values):
        raise InvalidArgumentError(
            f"constraints_func returned NaN for trial {trial.number} ({raw!r}): a constraint "
            "value must be a number, <= 0 when satisfied.")
    return {CONSTRAINTS_ATTR: values}


def violation(trial: FrozenTrial) -> float:
    """How much ``trial`` violates its constraints: the sum of its positive constraint
    values; 0 for a feasible trial or one without constraints."""
    return sum(v for v in constraints_of(trial.system_attrs).values() if v > 0)


def has_constraints(trial: FrozenTrial) -> bool:
    return bool(constraints_of(trial.system_attrs))
