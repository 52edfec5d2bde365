"""Hyperopt-style search spaces (``hp.*``, ``scope``) as pipetune domains, and their evaluation.

A space is any nesting of dicts, lists, tuples and constants holding ``hp`` nodes. Each numeric
node carries the pipetune distribution it is suggested from; a ``hp.choice`` is a categorical
over its branch indices. ``evaluate`` walks a space and asks a resolver for the value of each
node it meets, entering only the branch a choice picked: given a trial's suggest methods it is
define-by-run sampling, given an assignment dict it is ``space_eval``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pipetune.distributions import (
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from pipetune.errors import (
    InvalidArgumentError,
    InvalidDistributionError,
    ParamConflictError,
)

# hp.normal and friends become bounded domains over mu +- this many sigmas (99.994% of the prior).
NORMAL_SIGMAS = 4.0


class DuplicateLabelError(ParamConflictError):
    """Two different hyperparameters of one space share a label."""


@dataclass(frozen=True)
class Param:
    """A numeric hyperparameter: its label, the domain it is suggested from, and the grid step
    its value is rounded onto (the ``q`` of the quantized kinds; None for the others)."""

    label: str
    call: str  # how it was written, for messages: "hp.uniform('lr', 0, 1)"
    distribution: FloatDistribution | IntDistribution
    round_to: float | None = None

    def finish(self, value: Any) -> Any:
        """The value Hyperopt would hand out for a draw: the draw, rounded onto ``round_to``."""
        if self.round_to is None:
            return value
        return float(round(value / self.round_to) * self.round_to)


@dataclass(frozen=True)
class Choice:
    """A ``hp.choice``: a categorical over the indices of ``options``, each a sub-space."""

    label: str
    call: str
    distribution: CategoricalDistribution
    options: tuple[Any, ...]


@dataclass(frozen=True)
class Apply:
    """A function applied to the value of sub-spaces, such as ``scope.int(hp.quniform(...))``."""

    name: str
    func: Callable[..., Any]
    args: tuple[Any, ...]


Node = Param | Choice


def _check_label(kind: str, label: Any) -> None:
    if not isinstance(label, str) or not label:
        raise InvalidArgumentError(
            f"The label of hp.{kind} must be a non-empty string. Got {label!r}.")


def _number(call: str, name: str, value: Any) -> float:
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:  # numpy scalar
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise InvalidDistributionError(
            f"{call}: the {name!r} argument must be a finite number. Got {value!r}.")
    return float(value)


def _integer(call: str, name: str, value: Any) -> int:
    number = _number(call, name, value)
    if not number.is_integer():
        raise InvalidDistributionError(
            f"{call}: the {name!r} argument must be a whole number. Got {value!r}.")
    return int(number)


def _call(kind: str, label: str, *args: Any) -> str:
    return f"hp.{kind}({', '.join(repr(a) for a in (label, *args))})"


def _positive(call: str, name: str, value: Any) -> float:
    number = _number(call, name, value)
    if number <= 0:
        raise InvalidDistributionError(f"{call}: {name} must be > 0. Got {value!r}.")
    return number


def _exp(call: str, value: float) -> float:
    try:
        return math.exp(value)
    except OverflowError:
        raise InvalidDistributionError(
            f"{call}: the bounds are in log space (the values run from exp(low) to exp(high)); "
            f"exp({value}) overflows. Pass the log of the bound, e.g. math.log(1e3).") from None


def _make(call: str, label: str, build: Callable[[], FloatDistribution | IntDistribution],
          round_to: float | None = None) -> Param:
    try:
        distribution = build()
    except InvalidDistributionError as error:
        raise InvalidDistributionError(f"{call}: {error}") from None
    return Param(label, call, distribution, round_to)


def _grid(call: str, label: str, low: float, high: float, q: float) -> Param:
    # Hyperopt draws in [low, high] and rounds to a multiple of q, so the reachable values are
    # the multiples of q from round(low / q) to round(high / q).
    first, last = round(low / q), round(high / q)
    if first > last:
        raise InvalidDistributionError(f"{call}: needs low <= high. Got low={low}, high={high}.")
    return _make(call, label, lambda: FloatDistribution(first * q, last * q, step=q), round_to=q)


class HyperparameterFactory:
    """The ``hp`` namespace: the functions that build the nodes of a search space."""

    @staticmethod
    def choice(label: str, options: Sequence[Any]) -> Choice:
        """One of ``options``; each may be a constant or a nested space (conditional params)."""
        _check_label("choice", label)
        if isinstance(options, (str, bytes, Mapping)) or not isinstance(options, Sequence) \
                or not options:
            raise InvalidDistributionError(
                f"hp.choice({label!r}, ...) takes a non-empty list of options. Got {options!r}.")
        options = tuple(options)
        call = f"hp.choice({label!r}, <{len(options)} options>)"
        return Choice(label, call, CategoricalDistribution(tuple(range(len(options)))), options)

    @staticmethod
    def uniform(label: str, low: float, high: float) -> Param:
        _check_label("uniform", label)
        call = _call("uniform", label, low, high)
        low, high = _number(call, "low", low), _number(call, "high", high)
        return _make(call, label, lambda: FloatDistribution(low, high))

    @staticmethod
    def quniform(label: str, low: float, high: float, q: float) -> Param:
        """``round(uniform(low, high) / q) * q``: a float on the grid of multiples of ``q``."""
        _check_label("quniform", label)
        call = _call("quniform", label, low, high, q)
        return _grid(call, label, _number(call, "low", low), _number(call, "high", high),
                     _positive(call, "q", q))

    @staticmethod
    def loguniform(label: str, low: float, high: float) -> Param:
        """``exp(uniform(low, high))``: the bounds are logs; values run exp(low)..exp(high)."""
        _check_label("loguniform", label)
        call = _call("loguniform", label, low, high)
        low = _exp(call, _number(call, "low", low))
        high = _exp(call, _number(call, "high", high))
        return _make(call, label, lambda: FloatDistribution(low, high, log=True))

    @staticmethod
    def qloguniform(label: str, low: float, high: float, q: float) -> Param:
        """``round(exp(uniform(low, high)) / q) * q``; suggested log-scaled, then rounded."""
        _check_label("qloguniform", label)
        call = _call("qloguniform", label, low, high, q)
        low = _exp(call, _number(call, "low", low))
        high = _exp(call, _number(call, "high", high))
        return _make(call, label, lambda: FloatDistribution(low, high, log=True),
                     round_to=_positive(call, "q", q))

    @staticmethod
    def randint(label: str, *bounds: int) -> Param:
        """An int in ``[0, upper)`` for ``randint(label, upper)``, in ``[low, high)`` for
        ``randint(label, low, high)``: the upper bound is excluded, as in Hyperopt."""
        _check_label("randint", label)
        call = _call("randint", label, *bounds)
        if len(bounds) == 1:
            low, high = 0, _integer(call, "upper", bounds[0])
        elif len(bounds) == 2:
            low, high = _integer(call, "low", bounds[0]), _integer(call, "high", bounds[1])
        else:
            raise InvalidDistributionError(
                f"{call}: takes (label, upper) or (label, low, high). Got {len(bounds)} bounds.")
        if low >= high:
            raise InvalidDistributionError(
                f"{call}: needs low < high (high itself is excluded). Got low={low}, high={high}.")
        return _make(call, label, lambda: IntDistribution(low, high - 1))

    @staticmethod
    def uniformint(label: str, low: float, high: float, q: float = 1.0) -> Apply:
        """``int(quniform(label, low, high, q))``, as Hyperopt defines it."""
        return Apply("int", int, (HyperparameterFactory.quniform(label, low, high, q),))

    @staticmethod
    def normal(label: str, mu: float, sigma: float) -> Param:
        """A float over ``mu +- 4 sigma``, drawn uniformly there: pipetune domains are bounded,
        so the normal prior becomes its 99.99% interval."""
        _check_label("normal", label)
        call = _call("normal", label, mu, sigma)
        mu, sigma = _number(call, "mu", mu), _positive(call, "sigma", sigma)
        spread = NORMAL_SIGMAS * sigma
        return _make(call, label, lambda: FloatDistribution(mu - spread, mu + spread))

    @staticmethod
    def qnormal(label: str, mu: float, sigma: float, q: float) -> Param:
        """``hp.normal`` rounded to multiples of ``q``, over ``mu +- 4 sigma``."""
        _check_label("qnormal", label)
        call = _call("qnormal", label, mu, sigma, q)
        mu, sigma = _number(call, "mu", mu), _positive(call, "sigma", sigma)
        spread = NORMAL_SIGMAS * sigma
        return _grid(call, label, mu - spread, mu + spread, _positive(call, "q", q))

    @staticmethod
    def lognormal(label: str, mu: float, sigma: float) -> Param:
        """``exp(normal(mu, sigma))`` as a log-scaled float over ``exp(mu +- 4 sigma)``."""
        _check_label("lognormal", label)
        call = _call("lognormal", label, mu, sigma)
        mu, sigma = _number(call, "mu", mu), _positive(call, "sigma", sigma)
        low = _exp(call, mu - NORMAL_SIGMAS * sigma)
        high = _exp(call, mu + NORMAL_SIGMAS * sigma)
        return _make(call, label, lambda: FloatDistribution(low, high, log=True))

    @staticmethod
    def qlognormal(label: str, mu: float, sigma: float, q: float) -> Param:
        """``hp.lognormal`` rounded to multiples of ``q``; suggested log-scaled, then rounded."""
        _check_label("qlognormal", label)
        call = _call("qlognormal", label, mu, sigma, q)
        mu, sigma = _number(call, "mu", mu), _positive(call, "sigma", sigma)
        low = _exp(call, mu - NORMAL_SIGMAS * sigma)
        high = _exp(call, mu + NORMAL_SIGMAS * sigma)
        return _make(call, label, lambda: FloatDistribution(low, high, log=True),
                     round_to=_positive(call, "q", q))


class Scope:
    """``scope.int`` / ``scope.float``: the pyll functions Hyperopt spaces use most, applied
    to the value of a sub-space (``scope.int(hp.quniform('depth', 2, 10, 1))``)."""

    @staticmethod
    def int(space: Any) -> Apply:
        return Apply("int", int, (space,))

    @staticmethod
    def float(space: Any) -> Apply:
        return Apply("float", float, (space,))


def _same(a: Node, b: Node) -> bool:
    try:
        return type(a) is type(b) and bool(a == b)
    except Exception:  # noqa: BLE001 -- options holding objects without a boolean ==, e.g. numpy arrays
        return False


def labelled_nodes(space: Any) -> dict[str, Node]:
    """Every labelled node of ``space``, in every branch, by label. A label names one
    hyperparameter: the same node (or an identical one) may appear several times, but two
    different nodes under one label raise ``DuplicateLabelError``."""
    found: dict[str, Node] = {}
    visited: set[int] = set()
    pending = [space]
    while pending:
        item = pending.pop()
        if isinstance(item, (Param, Choice, Apply, dict, list, tuple)):
            if id(item) in visited:
                continue
            visited.add(id(item))
        if isinstance(item, (Param, Choice)):
            seen = found.setdefault(item.label, item)
            if seen is not item and not _same(seen, item):
                raise DuplicateLabelError(
                    f"The label {item.label!r} is used by two different hyperparameters of the "
                    f"space: {seen.call} and {item.call}. Give each its own label, or reuse the "
                    "same node object where one value is meant.")
            if isinstance(item, Choice):
                pending.extend(reversed(item.options))
        elif isinstance(item, Apply):
            pending.extend(reversed(item.args))
        elif isinstance(item, dict):
            pending.extend(reversed(list(item.values())))
        elif isinstance(item, (list, tuple)):
            pending.extend(reversed(item))
    return found


def evaluate(space: Any, resolve: Callable[[Node], Any]) -> Any:
    """The concrete value of ``space``: each node is replaced by ``resolve(node)`` (a choice's
    resolved value is its branch index, and only that branch is entered). Lists come out as
    tuples, like Hyperopt hands them to the objective."""
    if isinstance(space, Choice):
        return evaluate(space.options[resolve(space)], resolve)
    if isinstance(space, Param):
        return resolve(space)
    if isinstance(space, Apply):
        return space.func(*(evaluate(arg, resolve) for arg in space.args))
    if isinstance(space, dict):
        return {key: evaluate(value, resolve) for key, value in space.items()}
    if isinstance(space, (list, tuple)):
        items = [evaluate(value, resolve) for value in space]
        if isinstance(space, tuple) and hasattr(space, "_fields"):  # a namedtuple
            return type(space)(*items)
        return tuple(items)
    return space


def choice_index(node: Choice, value: Any) -> int | None:
    """``value`` as a branch index of ``node``, or None when it is not one."""
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) \
            or not 0 <= value < len(node.options):
        return None
    return value


def space_eval(space: Any, hp_assignment: Mapping[str, Any]) -> Any:
    """The concrete structure ``space`` takes under ``hp_assignment`` (label -> value, with a
    choice's value the index of its branch), e.g. the argmin ``fmin`` returned. Values are
    used as given; only the labels of the branches taken need a value."""
    labelled_nodes(space)
    if not isinstance(hp_assignment, Mapping):
        raise InvalidArgumentError(
            f"space_eval takes a dict of label -> value (such as fmin's argmin). "
            f"Got {hp_assignment!r}.")

    def resolve(node: Node) -> Any:
        if node.label not in hp_assignment:
            raise InvalidArgumentError(
                f"space_eval: no value for {node.label!r} ({node.call}), which the chosen "
                f"branches need. Pass the argmin fmin returned, or add {node.label!r}.")
        value = hp_assignment[node.label]
        if isinstance(node, Choice):
            index = choice_index(node, value)
            if index is None:
                raise InvalidArgumentError(
                    f"space_eval: {node.call} takes the index of an option, 0 to "
                    f"{len(node.options) - 1}. Got {value!r} for {node.label!r}.")
            return index
        return value

    return evaluate(space, resolve)
