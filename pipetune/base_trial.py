"""What an objective may call on a trial, whoever runs it: ``BaseTrial``, and ``FixedTrial``.

Three kinds of trial take an objective: ``pipetune.trial.Trial``, whose study samples each
param; ``FixedTrial``, built with the params it gives (to run an objective once outside any
study, in a test or for a final fit); and ``FrozenTrial`` (``pipetune.datatypes``), a stored
trial, which gives the params it had, so that ``objective(study.best_trial)`` re-runs the best
trial. The last two take what the objective reports and decide no pruning.
"""

from __future__ import annotations

import abc
import datetime as dt
import math
import numbers
import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pipetune._attrs import CONSTRAINT_PREFIX, constraints_of
from pipetune.distributions import (
    CategoricalChoice,
    CategoricalDistribution,
    Distribution,
    FloatDistribution,
    IntDistribution,
    check_distribution_compatibility,
)
from pipetune.errors import ArgumentTypeError, InvalidArgumentError


class BaseTrial(abc.ABC):
    """The objective's side of a trial. Besides the methods below, every trial has the
    attributes ``number``, ``params``, ``distributions``, ``user_attrs``, ``system_attrs``
    and ``datetime_start``."""

    if TYPE_CHECKING:  # each kind of trial holds it its own way (a field, a property)
        @property
        def system_attrs(self) -> dict[str, Any]: ...

    @abc.abstractmethod
    def suggest(self, name: str, distribution: Distribution) -> Any:
        """A value of ``distribution`` for the param ``name``; the ``suggest_*`` methods call
        it."""

    def suggest_float(self, name: str, low: float, high: float, *, step: float | None = None,
                      log: bool = False) -> float:
        """A float in ``[low, high]``, log-uniform when ``log``, on a grid when ``step``."""
        return float(self.suggest(name, FloatDistribution(low, high, log=log, step=step)))

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1,
                    log: bool = False) -> int:
        """An int in ``[low, high]`` (both included), log-scaled when ``log``."""
        return int(self.suggest(name, IntDistribution(low, high, log=log, step=step)))

    def suggest_categorical(self, name: str,
                            choices: Sequence[CategoricalChoice]) -> CategoricalChoice:
        """One of ``choices`` (str, int, float, bool or None)."""
        return self.suggest(name, CategoricalDistribution(choices))

    def suggest_uniform(self, name: str, low: float, high: float) -> float:
        """Same as ``suggest_float(name, low, high)``; kept for code written for Optuna 2."""
        return self.suggest_float(name, low, high)

    def suggest_loguniform(self, name: str, low: float, high: float) -> float:
        """Same as ``suggest_float(name, low, high, log=True)``."""
        return self.suggest_float(name, low, high, log=True)

    def suggest_discrete_uniform(self, name: str, low: float, high: float, q: float) -> float:
        """Same as ``suggest_float(name, low, high, step=q)``."""
        return self.suggest_float(name, low, high, step=q)

    @abc.abstractmethod
    def report(self, value: Any, step: int) -> None:
        """Records an intermediate value at ``step`` (see ``pipetune.trial.Trial.report``)."""

    @abc.abstractmethod
    def should_prune(self) -> bool:
        """Whether the trial should stop now."""

    @abc.abstractmethod
    def set_user_attr(self, key: str, value: Any) -> None:
        """Stores a JSON value with the trial."""

    @abc.abstractmethod
    def set_constraint(self, key: str, value: float) -> None:
        """Records the constraint ``key`` of the trial: satisfied when ``value <= 0``."""

    @property
    def constraints(self) -> dict[str, float]:
        """The trial's constraint values by name (``set_constraint``; a sampler's
        ``constraints_func`` names its values "0", "1", ...)."""
        return constraints_of(self.system_attrs)


def check_constraint(key: Any, value: Any) -> float:
    """The float a constraint ``value`` stands for; ArgumentTypeError (a TypeError) for a
    value ``float()`` does not take, InvalidArgumentError for NaN."""
    if not isinstance(key, str) or not key:
        raise InvalidArgumentError(f"A constraint name must be a non-empty string. Got {key!r}.")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ArgumentTypeError(
            f"The value of the constraint {key!r} must be a number (<= 0 when satisfied). "
            f"Got {value!r} of type {type(value).__name__}.") from None
    if math.isnan(number):
        raise InvalidArgumentError(
            f"The value of the constraint {key!r} is NaN: give a number, <= 0 when satisfied.")
    return number


def add_constraint(system_attrs: dict[str, Any], key: str, value: Any) -> dict[str, Any] | None:
    """The system attr recording a constraint set on a trial holding ``system_attrs``, or None
    (with a warning) when that constraint already has a value: the first one is kept."""
    number = check_constraint(key, value)
    if CONSTRAINT_PREFIX + key in system_attrs:
        warnings.warn(f"The constraint {key!r} already has a value; {number} is ignored.",
                      stacklevel=3)
        return None
    return {CONSTRAINT_PREFIX + key: number}


def given_value(owner: str, params: Mapping[str, Any], distributions: Mapping[str, Distribution],
                name: str, distribution: Distribution) -> Any:
    """The value ``params`` gives the param ``name`` when an objective suggests it from
    ``distribution``: what a FixedTrial or a FrozenTrial returns. A value outside the domain
    is returned with a warning; a domain of another kind than the one ``distributions``
    recorded for ``name`` is a ParamConflictError."""
    if name not in params:
        raise InvalidArgumentError(
            f"{owner} has no value for the param {name!r} (it has {sorted(params)}): give it "
            "one when building the trial.")
    value = params[name]
    internal = distribution.to_internal_repr(value)  # a value no domain of this kind holds
    if not distribution.contains(internal):
        warnings.warn(f"The value {value!r} of the param {name!r} is outside {distribution!r}.",
                      stacklevel=4)
    if name in distributions:
        check_distribution_compatibility(distributions[name], distribution)
    return value


class FixedTrial(BaseTrial):
    """A trial whose params are given: ``objective(FixedTrial({"lr": 0.01, "depth": 3}))``
    runs an objective once, outside any study, with those values.

    ``params`` and ``distributions`` hold what the objective suggested so far; a param it
    suggests that ``params`` lacks is an InvalidArgumentError. Reports are ignored and it is
    never pruned; user attrs and constraints are kept on the object.
    """

    number: int
    params: dict[str, Any]
    distributions: dict[str, Distribution]
    user_attrs: dict[str, Any]
    system_attrs: dict[str, Any]
    datetime_start: dt.datetime | None

    def __init__(self, params: Mapping[str, Any], number: int = 0) -> None:
        if not isinstance(params, Mapping):
            raise ArgumentTypeError(
                f"FixedTrial takes a dict of param name -> value. Got {params!r}.")
        if isinstance(number, bool) or not isinstance(number, numbers.Integral):
            raise ArgumentTypeError(f"A trial number must be an int. Got {number!r}.")
        self._given: dict[str, Any] = dict(params)
        self.number = int(number)
        self.params = {}
        self.distributions = {}
        self.user_attrs = {}
        self.system_attrs = {}
        self.datetime_start = dt.datetime.now()

    def __repr__(self) -> str:
        return f"FixedTrial({self._given!r}, number={self.number})"

    def suggest(self, name: str, distribution: Distribution) -> Any:
        value = given_value("This FixedTrial", self._given, self.distributions, name,
                            distribution)
        self.params[name] = value
        self.distributions[name] = distribution
        return value

    def report(self, value: Any, step: int) -> None:
        """Ignored: a fixed trial has no study to record it in."""

    def should_prune(self) -> bool:
        """False: nothing prunes a fixed trial."""
        return False

    def set_user_attr(self, key: str, value: Any) -> None:
        self.user_attrs[key] = value

    def set_constraint(self, key: str, value: float) -> None:
        self.system_attrs.update(add_constraint(self.system_attrs, key, value) or {})


__all__ = ["BaseTrial", "FixedTrial", "add_constraint", "check_constraint", "given_value"]
