"""Domains of hyperparameters and their internal float encoding.

A distribution is the domain of one hyperparameter. Samplers and storage work on an *internal*
value, always a float: the number itself for float and int domains, the index of the choice for
categorical ones. ``to_internal`` / ``to_external`` convert between the two and round-trip
exactly for every value the domain contains.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Union

from pipetune.errors import InvalidDistributionError, ParamConflictError

CategoricalChoice = Union[None, bool, int, float, str]

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
    if isinstance(value, bool) or (getattr(value, "dtype", None) == bool
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


@dataclass(frozen=True)
class FloatDistribution:
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


@dataclass(frozen=True)
class IntDistribution:
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
                f"choose high = low + k * step, e.g. high={self.high - (self.high - self.low) % self.step}."
            )

    def to_internal(self, value: Any) -> float:
        return float(value)

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
    return (type(value).__name__, value)


@dataclass(frozen=True, eq=False)
class CategoricalDistribution:
    """A finite set of JSON scalar choices (str, int, float, bool or None)."""

    choices: tuple[CategoricalChoice, ...]
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
            if isinstance(choice, float) and not math.isfinite(choice):
                raise InvalidDistributionError(
                    f"Categorical choices must be finite. Got {choice!r}."
                )
            key = _choice_key(choice)
            if key in index:
                raise InvalidDistributionError(
                    f"Categorical choices must be unique. {choice!r} appears twice in {list(choices)!r}."
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


Distribution = Union[FloatDistribution, IntDistribution, CategoricalDistribution]


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
    if isinstance(distribution, IntDistribution) and isinstance(value, float) and not value.is_integer():
        return False
    return _finite(value) and distribution.contains(float(value))


def check_compatible(name: str, old: Distribution, new: Distribution) -> None:
    """Raises when one trial asks for ``name`` with a domain different from the first time."""
    if old != new:
        raise ParamConflictError(
            f"Parameter {name!r} was already suggested in this trial as {old!r}; it cannot be "
            f"suggested again as {new!r}. Use one domain per name, or give the second a new name."
        )
