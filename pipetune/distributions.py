"""Domains of hyperparameters and their internal float encoding.

A distribution is the domain of one hyperparameter. Samplers and storage work on an *internal*
value, always a float: the number itself for float and int domains, the index of the choice for
categorical ones. ``to_internal`` / ``to_external`` convert between the two and round-trip
exactly for every value the domain contains.

The names Optuna gives the same things work too: ``BaseDistribution``, ``to_internal_repr`` /
``to_external_repr``, ``json_to_distribution`` / ``distribution_to_json`` (Optuna's JSON form),
``check_distribution_compatibility``, and the constructors of Optuna 2's domains
(``UniformDistribution`` and the like), which warn and return the domain of today.
"""

from __future__ import annotations

import abc
import dataclasses
import json
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from pipetune.errors import InvalidDistributionError, ParamConflictError

CategoricalChoice = None | bool | int | float | str
CategoricalChoiceType = CategoricalChoice  # Optuna's name for it

# Relative tolerance used when checking that a value lies on a step grid: float steps such as
# 0.1 are not exactly representable, so exact modular arithmetic would reject valid grids.
_STEP_TOLERANCE = 1e-8


def _finite(value: float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an int beyond the float range
        return False


def _check_number(kind: str, name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not _finite(value):
        raise InvalidDistributionError(
            f"The {name!r} bound of a {kind} distribution must be a finite number. Got {value!r}."
        )


# Internal values are floats, so an int domain must stay where every integer is a float.
_MAX_EXACT_INT = 2**53


def _check_flag(kind: str, value: Any) -> bool:
    # numpy's bool is not a subclass of bool; accept it, reject "yes", 1, None and the like.
    if isinstance(value, bool) or (getattr(getattr(value, "dtype", None), "kind", None) == "b"
                                   and getattr(value, "ndim", None) == 0):
        return bool(value)
    raise InvalidDistributionError(
        f"The 'log' flag of a {kind} distribution must be True or False. Got {value!r}."
    )


def _steps_between(low: float, high: float, step: float) -> float:
    return (high - low) / step


def _on_grid(n_steps: float) -> bool:
    if not math.isfinite(n_steps):  # a step so small the range overflows: not a usable grid
        return False
    return abs(n_steps - round(n_steps)) <= _STEP_TOLERANCE * max(1.0, abs(n_steps))


class BaseDistribution(abc.ABC):
    """What every domain offers: the internal encoding, membership, and its JSON form.

    Printed as Optuna prints a domain, its settings by name in alphabetical order, e.g.
    ``FloatDistribution(high=1.0, log=False, low=0.0, step=None)``.
    """

    # Every domain is a dataclass; this tells the type checker so (``dataclasses.fields``).
    __dataclass_fields__: ClassVar[dict[str, dataclasses.Field[Any]]]

    @abc.abstractmethod
    def to_internal(self, value: Any) -> float:
        """The internal float of a user-facing value of the domain."""

    @abc.abstractmethod
    def to_external(self, internal: float) -> Any:
        """The user-facing value of an internal float."""

    @abc.abstractmethod
    def contains(self, internal: float) -> bool:
        """Whether an internal float lies in the domain."""

    @abc.abstractmethod
    def single(self) -> bool:
        """Whether the domain holds one value only."""

    @abc.abstractmethod
    def to_json(self) -> str:
        """The JSON pipetune's storages keep (``distribution_from_json`` reads it)."""

    def to_internal_repr(self, value: Any) -> float:
        """``to_internal`` under Optuna's name: ValueError for a value that cannot belong to
        the domain."""
        return self.to_internal(value)

    def to_external_repr(self, internal: float) -> Any:
        """``to_external`` under Optuna's name."""
        return self.to_external(internal)

    def __repr__(self) -> str:
        settings = sorted((f.name, getattr(self, f.name))
                          for f in dataclasses.fields(self) if f.repr)
        shown = ", ".join(f"{name}={value!r}" for name, value in settings)
        return f"{type(self).__name__}({shown})"


def _internal_number(distribution: FloatDistribution | IntDistribution, value: Any) -> float:
    """Optuna's ``to_internal_repr`` of a numeric domain: any value ``float()`` takes (the
    string "1.5", True) but NaN, or a value <= 0 in a log domain. The range is not checked."""
    try:
        internal = float(value)
    except (TypeError, ValueError):
        raise InvalidDistributionError(
            f"{value!r} is not a number, so it is no value of {distribution!r}.") from None
    if math.isnan(internal) or (distribution.log and internal <= 0):
        raise InvalidDistributionError(f"{value!r} is no value of {distribution!r}.")
    return internal


@dataclass(frozen=True, repr=False)
class FloatDistribution(BaseDistribution):
    """A real-valued domain ``[low, high]``, optionally log-scaled or on a step grid."""

    low: float
    high: float
    log: bool = False
    step: float | None = None

    def __post_init__(self) -> None:
        _check_number("float", "low", self.low)
        _check_number("float", "high", self.high)
        object.__setattr__(self, "log", _check_flag("float", self.log))
        if self.low > self.high:
            raise InvalidDistributionError(
                f"A float distribution needs low <= high. Got low={self.low}, high={self.high}: "
                "swap the bounds."
            )
        if self.log and self.step is not None:
            raise InvalidDistributionError(
                "A float distribution cannot have both log=True and a step. Drop one of them."
            )
        if self.log and self.low <= 0:
            raise InvalidDistributionError(
                f"A log-scaled float distribution needs low > 0. Got low={self.low}: use a "
                "positive lower bound or log=False."
            )
        if self.step is not None:
            _check_number("float", "step", self.step)
            if self.step <= 0:
                raise InvalidDistributionError(
                    f"The step of a float distribution must be > 0. Got step={self.step}."
                )
            if not _on_grid(_steps_between(self.low, self.high, self.step)):
                raise InvalidDistributionError(
                    f"The step {self.step} does not divide the range [{self.low}, {self.high}]: "
                    "choose high = low + k * step for a whole number k."
                )
        object.__setattr__(self, "low", float(self.low))
        object.__setattr__(self, "high", float(self.high))
        if self.step is not None:
            object.__setattr__(self, "step", float(self.step))

    def to_internal(self, value: Any) -> float:
        return float(value)

    def to_internal_repr(self, value: Any) -> float:
        return _internal_number(self, value)

    def to_external(self, internal: float) -> float:
        return float(internal)

    def contains(self, internal: float) -> bool:
        if not (self.low <= internal <= self.high):
            return False
        return self.step is None or _on_grid(_steps_between(self.low, internal, self.step))

    def single(self) -> bool:
        return self.low == self.high

    def to_json(self) -> str:
        return json.dumps({"type": "float", "low": self.low, "high": self.high,
                           "log": self.log, "step": self.step})


@dataclass(frozen=True, repr=False)
class IntDistribution(BaseDistribution):
    """An integer domain ``[low, high]``, optionally log-scaled or on a step grid."""

    low: int
    high: int
    log: bool = False
    step: int = 1

    def __post_init__(self) -> None:
        for name in ("low", "high", "step"):
            value = getattr(self, name)
            if isinstance(value, float) and value.is_integer():
                object.__setattr__(self, name, int(value))
            elif isinstance(value, bool) or not isinstance(value, int):
                raise InvalidDistributionError(
                    f"The {name!r} of an int distribution must be an integer. Got {value!r}."
                )
            if abs(getattr(self, name)) > _MAX_EXACT_INT:
                raise InvalidDistributionError(
                    f"The {name!r} of an int distribution must lie within +-2**53 "
                    f"({_MAX_EXACT_INT}) so every value is stored exactly. Got {value!r}."
                )
        object.__setattr__(self, "log", _check_flag("int", self.log))
        if self.low > self.high:
            raise InvalidDistributionError(
                f"An int distribution needs low <= high. Got low={self.low}, high={self.high}: "
                "swap the bounds."
            )
        if self.step <= 0:
            raise InvalidDistributionError(
                f"The step of an int distribution must be >= 1. Got step={self.step}."
            )
        if self.log and self.step != 1:
            raise InvalidDistributionError(
                f"A log-scaled int distribution needs step=1. Got step={self.step}: drop the "
                "step or use log=False."
            )
        if self.log and self.low < 1:
            raise InvalidDistributionError(
                f"A log-scaled int distribution needs low >= 1. Got low={self.low}: use a "
                "positive lower bound or log=False."
            )
        if (self.high - self.low) % self.step != 0:
            raise InvalidDistributionError(
                f"The step {self.step} does not divide the range [{self.low}, {self.high}]: "
                "choose high = low + k * step, e.g. "
                f"high={self.high - (self.high - self.low) % self.step}."
            )

    def to_internal(self, value: Any) -> float:
        return float(value)

    def to_internal_repr(self, value: Any) -> float:
        return _internal_number(self, value)

    def to_external(self, internal: float) -> int:
        return int(round(internal))

    def contains(self, internal: float) -> bool:
        if not (self.low <= internal <= self.high) or internal != round(internal):
            return False
        return (int(internal) - self.low) % self.step == 0

    def single(self) -> bool:
        return self.low == self.high

    def to_json(self) -> str:
        return json.dumps({"type": "int", "low": self.low, "high": self.high,
                           "log": self.log, "step": self.step})


def _choice_key(value: Any) -> tuple[str, Any]:
    # True == 1 == 1.0 in Python, but they are different JSON values and different choices.
    # NaN equals nothing, itself included: every NaN gets one key, so a NaN choice is found.
    if isinstance(value, float) and math.isnan(value):
        return ("float", "nan")
    return (type(value).__name__, value)


@dataclass(frozen=True, eq=False, repr=False)
class CategoricalDistribution(BaseDistribution):
    """A finite set of JSON scalar choices (str, int, float, bool or None)."""

    choices: Sequence[CategoricalChoice]  # any sequence; stored as a tuple
    _index: dict[tuple[str, Any], int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.choices, (str, bytes)) or not hasattr(self.choices, "__iter__"):
            raise InvalidDistributionError(
                f"Categorical choices must be a list or tuple of values. Got {self.choices!r}."
            )
        choices = tuple(self.choices)
        if not choices:
            raise InvalidDistributionError(
                "A categorical distribution needs at least one choice. Got an empty sequence."
            )
        index: dict[tuple[str, Any], int] = {}
        for i, choice in enumerate(choices):
            if choice is not None and not isinstance(choice, (bool, int, float, str)):
                raise InvalidDistributionError(
                    f"Categorical choices must be str, int, float, bool or None (values JSON can "
                    f"store). Got {choice!r} of type {type(choice).__name__}: pass its name or "
                    "index instead and look the object up in the objective."
                )
            key = _choice_key(choice)
            if key in index:
                raise InvalidDistributionError(
                    f"Categorical choices must be unique. {choice!r} appears twice in "
                    f"{list(choices)!r}."
                )
            index[key] = i
        object.__setattr__(self, "choices", choices)
        object.__setattr__(self, "_index", index)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, CategoricalDistribution):
            return NotImplemented
        return [_choice_key(c) for c in self.choices] == [_choice_key(c) for c in other.choices]

    def __hash__(self) -> int:
        return hash(tuple(_choice_key(c) for c in self.choices))

    def index_of(self, value: Any) -> int | None:
        try:
            return self._index.get(_choice_key(value))
        except TypeError:  # unhashable value
            return None

    def to_internal(self, value: Any) -> float:
        index = self.index_of(value)
        if index is None:
            raise InvalidDistributionError(
                f"{value!r} is not one of the choices {list(self.choices)!r}."
            )
        return float(index)

    def to_external(self, internal: float) -> CategoricalChoice:
        return self.choices[int(internal)]

    def contains(self, internal: float) -> bool:
        return internal == int(internal) and 0 <= internal < len(self.choices)

    def single(self) -> bool:
        return len(self.choices) == 1

    def to_json(self) -> str:
        return json.dumps({"type": "categorical", "choices": list(self.choices)})


Distribution = FloatDistribution | IntDistribution | CategoricalDistribution


def distribution_from_json(text: str) -> Distribution:
    """Rebuilds a distribution from the JSON written by its ``to_json``."""
    data = json.loads(text)
    kind = data.pop("type")
    if kind == "float":
        return FloatDistribution(**data)
    if kind == "int":
        return IntDistribution(**data)
    if kind == "categorical":
        return CategoricalDistribution(tuple(data["choices"]))
    raise InvalidDistributionError(f"Unknown distribution type {kind!r} in stored JSON.")


def contains_external(distribution: Distribution, value: Any) -> bool:
    """Whether an external (user-facing) value lies in the domain."""
    if isinstance(distribution, CategoricalDistribution):
        return distribution.index_of(value) is not None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    if (isinstance(distribution, IntDistribution) and isinstance(value, float)
            and not value.is_integer()):
        return False
    return _finite(value) and distribution.contains(float(value))


def check_compatible(name: str, old: Distribution, new: Distribution) -> None:
    """Raises when one trial asks for ``name`` with a domain different from the first time."""
    if old != new:
        raise ParamConflictError(
            f"Parameter {name!r} was already suggested in this trial as {old!r}; it cannot be "
            f"suggested again as {new!r}. Use one domain per name, or give the second a new name."
        )


# -- Optuna's names ------------------------------------------------------------------------------


def distribution_to_json(distribution: Distribution) -> str:
    """A domain in Optuna's JSON form, ``{"name": "FloatDistribution", "attributes": {...}}``,
    which ``json_to_distribution`` reads back (pipetune's storages keep ``to_json``'s form)."""
    if isinstance(distribution, CategoricalDistribution):
        attributes: dict[str, Any] = {"choices": list(distribution.choices)}
    else:
        attributes = {"low": distribution.low, "high": distribution.high,
                      "log": distribution.log, "step": distribution.step}
    return json.dumps({"name": type(distribution).__name__, "attributes": attributes})


def json_to_distribution(text: str) -> Distribution:
    """Reads a domain from Optuna's JSON form (the names of Optuna 2's domains included) or
    from the short form ``{"type": "float", "low": 0, "high": 1, ...}`` that pipetune stores."""
    data = json.loads(text)
    if "name" not in data:
        if data.get("type") == "int" and data.get("step") is None:
            data.pop("step", None)
        return distribution_from_json(json.dumps(data))
    constructors = {"FloatDistribution": FloatDistribution, "IntDistribution": IntDistribution,
                    "CategoricalDistribution": CategoricalDistribution, **_OPTUNA2_DOMAINS}
    name, attributes = data["name"], data.get("attributes", {})
    if name not in constructors:
        raise InvalidDistributionError(
            f"Unknown distribution {name!r} in JSON; known: {sorted(constructors)}.")
    if "choices" in attributes:
        attributes["choices"] = tuple(attributes["choices"])
    with warnings.catch_warnings():  # reading an old study is no use of an old name
        warnings.simplefilter("ignore", FutureWarning)
        return constructors[name](**attributes)


def check_distribution_compatibility(dist_old: Distribution, dist_new: Distribution) -> None:
    """Raises ParamConflictError (a ValueError) when ``dist_new`` cannot stand for the param
    that ``dist_old`` held, by Optuna's rule: another kind of domain, another ``log`` setting,
    or other categorical choices (other bounds and steps are fine). pipetune itself lets the
    choices of a categorical param differ between trials."""
    if type(dist_old) is not type(dist_new):
        raise ParamConflictError(
            f"{dist_new!r} is another kind of domain than {dist_old!r}.")
    if isinstance(dist_old, CategoricalDistribution) or isinstance(dist_new,
                                                                   CategoricalDistribution):
        if dist_old != dist_new:  # both categorical: the kinds are the same
            raise ParamConflictError(f"{dist_new!r} has other choices than {dist_old!r}.")
    elif dist_old.log != dist_new.log:
        raise ParamConflictError(
            f"{dist_new!r} has another log setting than {dist_old!r}.")


def _optuna2(name: str, replacement: str) -> None:
    warnings.warn(f"{name} is Optuna 2's name; it returns {replacement}, which "
                  "pipetune stores and prints. Write that instead.", FutureWarning, stacklevel=3)


def UniformDistribution(low: float, high: float) -> FloatDistribution:
    """Optuna 2's uniform float domain: ``FloatDistribution(low, high)``."""
    _optuna2("UniformDistribution", "FloatDistribution(low, high)")
    return FloatDistribution(low, high)


def LogUniformDistribution(low: float, high: float) -> FloatDistribution:
    """Optuna 2's log-uniform float domain: ``FloatDistribution(low, high, log=True)``."""
    _optuna2("LogUniformDistribution", "FloatDistribution(low, high, log=True)")
    return FloatDistribution(low, high, log=True)


def DiscreteUniformDistribution(low: float, high: float,
                                q: float) -> FloatDistribution:
    """Optuna 2's float grid: ``FloatDistribution(low, high, step=q)``."""
    _optuna2("DiscreteUniformDistribution", "FloatDistribution(low, high, step=q)")
    return FloatDistribution(low, high, step=q)


def IntUniformDistribution(low: int, high: int, step: int = 1) -> IntDistribution:
    """Optuna 2's int domain: ``IntDistribution(low, high, step=step)``."""
    _optuna2("IntUniformDistribution", "IntDistribution(low, high, step=step)")
    return IntDistribution(low, high, step=step)


def IntLogUniformDistribution(low: int, high: int,
                              step: int = 1) -> IntDistribution:
    """Optuna 2's log-scaled int domain: ``IntDistribution(low, high, log=True)`` (a log
    domain has no step; ``step`` is accepted and left out)."""
    _optuna2("IntLogUniformDistribution", "IntDistribution(low, high, log=True)")
    return IntDistribution(low, high, log=True)


_OPTUNA2_DOMAINS = {f.__name__: f for f in (
    UniformDistribution, LogUniformDistribution, DiscreteUniformDistribution,
    IntUniformDistribution, IntLogUniformDistribution)}
