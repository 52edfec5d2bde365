"""Hyperopt search spaces without pyll: the nodes ``hp`` and ``scope`` build, and their values.

A space is any nesting of dicts, lists and tuples whose leaves are constants or nodes:

- ``Param``: a labelled numeric hyperparameter (``hp.uniform``, ``hp.quniform``, ...), with the
  bounded pipetune domain ``fmin`` suggests it from and Hyperopt's own prior, which
  ``pyll.stochastic.sample`` draws from;
- ``Choice``: a labelled choice among sub-spaces (``hp.choice``; ``hp.pchoice`` adds weights);
- ``Apply``: a function of sub-spaces (``scope.int(...)``, ``1 + hp.lognormal(...)``,
  ``node[0]``), built by ``scope`` and by arithmetic on any node;
- ``Draw``: an unlabelled random draw (``scope.uniform(0, 1)``), never tuned, drawn afresh for
  each sample;
- ``Structure``: a plain value or container made a node by ``as_apply``, so that arithmetic
  and indexing apply to it.

``evaluate`` walks a space, resolving each labelled node through a callback and each node
once per sample (a node used twice has one value): in ``fmin`` the callback suggests the node
on a trial, in ``space_eval`` it reads an assignment, in ``sample`` it draws from the prior.
"""

from __future__ import annotations

import math
import numbers
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

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


class InvalidAnnotatedParameterError(InvalidArgumentError):
    """``fmin(space="annotated")`` met a parameter of the objective not annotated with a space."""


class Expression:
    """What every node of a space shares: arithmetic, comparisons and indexing build ``Apply``
    nodes, evaluated with the sample, as on Hyperopt's pyll graphs."""

    # numpy scalars and arrays leave the operators to us (np.float64(2) * node is a node).
    __array_ufunc__ = None

    def __add__(self, other: Any) -> Apply:
        return Apply("add", operator.add, (self, other))

    def __radd__(self, other: Any) -> Apply:
        return Apply("add", operator.add, (other, self))

    def __sub__(self, other: Any) -> Apply:
        return Apply("sub", operator.sub, (self, other))

    def __rsub__(self, other: Any) -> Apply:
        return Apply("sub", operator.sub, (other, self))

    def __mul__(self, other: Any) -> Apply:
        return Apply("mul", operator.mul, (self, other))

    def __rmul__(self, other: Any) -> Apply:
        return Apply("mul", operator.mul, (other, self))

    def __truediv__(self, other: Any) -> Apply:
        return Apply("truediv", operator.truediv, (self, other))

    def __rtruediv__(self, other: Any) -> Apply:
        return Apply("truediv", operator.truediv, (other, self))

    def __floordiv__(self, other: Any) -> Apply:
        return Apply("floordiv", operator.floordiv, (self, other))

    def __rfloordiv__(self, other: Any) -> Apply:
        return Apply("floordiv", operator.floordiv, (other, self))

    def __mod__(self, other: Any) -> Apply:
        return Apply("mod", operator.mod, (self, other))

    def __rmod__(self, other: Any) -> Apply:
        return Apply("mod", operator.mod, (other, self))

    def __pow__(self, other: Any) -> Apply:
        return Apply("pow", operator.pow, (self, other))

    def __rpow__(self, other: Any) -> Apply:
        return Apply("pow", operator.pow, (other, self))

    def __neg__(self) -> Apply:
        return Apply("neg", operator.neg, (self,))

    def __pos__(self) -> Apply:
        return Apply("pos", operator.pos, (self,))

    def __abs__(self) -> Apply:
        return Apply("abs", abs, (self,))

    def __lt__(self, other: Any) -> Apply:
        return Apply("lt", operator.lt, (self, other))

    def __le__(self, other: Any) -> Apply:
        return Apply("le", operator.le, (self, other))

    def __gt__(self, other: Any) -> Apply:
        return Apply("gt", operator.gt, (self, other))

    def __ge__(self, other: Any) -> Apply:
        return Apply("ge", operator.ge, (self, other))

    def __getitem__(self, key: Any) -> Apply:
        return Apply("getitem", operator.getitem, (self, key))

    def __iter__(self) -> Any:
        # Without this, __getitem__ would make every node an endless iterable.
        raise TypeError(f"{self!r} is a node of a search space, not a sequence: index it "
                        "(node[0]) to use one item of its value.")


@dataclass(frozen=True, eq=False, repr=False)
class Param(Expression):
    """A numeric hyperparameter: its label, the bounded domain ``fmin`` suggests it from, the
    grid step its value is rounded onto (the ``q`` of the quantized kinds; None for the
    others), and Hyperopt's prior (``kind`` and its arguments) that ``sample`` draws from."""

    label: str
    call: str  # how it was written, for messages: "hp.uniform('lr', 0, 1)"
    distribution: FloatDistribution | IntDistribution
    round_to: float | None
    kind: str
    args: tuple[float, ...]

    def finish(self, value: Any) -> Any:
        """The value Hyperopt would hand out for a draw: the draw, rounded onto ``round_to``."""
        if self.round_to is None:
            return value
        return float(round(value / self.round_to) * self.round_to)

    def __repr__(self) -> str:
        return self.call



@dataclass(frozen=True, eq=False, repr=False)
class Choice(Expression):
    """A ``hp.choice`` (or ``hp.pchoice``, with ``weights``): a categorical over the indices of
    ``options``, each a sub-space."""

    label: str
    call: str
    distribution: CategoricalDistribution
    options: tuple[Any, ...]
    weights: tuple[float, ...] | None = None

    def __repr__(self) -> str:
        return self.call



@dataclass(frozen=True, eq=False, repr=False)
class Apply(Expression):
    """A function applied to the values of sub-spaces, such as ``scope.int(hp.quniform(...))``
    or the ``add`` of ``1 + hp.lognormal(...)``."""

    name: str
    func: Callable[..., Any]
    args: tuple[Any, ...]
    kwargs: tuple[tuple[str, Any], ...] = ()

    def __repr__(self) -> str:
        parts = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs]
        return f"{self.name}({', '.join(parts)})"



@dataclass(frozen=True, eq=False, repr=False)
class Draw(Expression):
    """An unlabelled random draw (``scope.uniform(0, 1)``, ``scope.one_of(2, 3)``): not a
    hyperparameter, drawn for each sample from ``rng`` when given, else from the sample's."""

    kind: str
    args: tuple[Any, ...]
    kwargs: tuple[tuple[str, Any], ...] = ()
    rng: np.random.Generator | None = None

    def __repr__(self) -> str:
        parts = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs]
        return f"{self.kind}({', '.join(parts)})"



@dataclass(frozen=True, eq=False, repr=False)
class Structure(Expression):
    """A value (constant, or a dict / list / tuple holding nodes) made a node by ``as_apply``."""

    value: Any

    def __repr__(self) -> str:
        return f"as_apply({self.value!r})"



Node = Param | Choice


def as_apply(value: Any) -> Expression:
    """``value`` as a node of a space (itself when it already is one), so that arithmetic and
    indexing on it build the sample's value: ``as_apply([-1, 0])[hp.choice('x', [0, 1])]``."""
    return value if isinstance(value, Expression) else Structure(value)


# -- hp ------------------------------------------------------------------------------------------

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


def _interval(call: str, low: Any, high: Any) -> tuple[float, float]:
    low, high = _number(call, "low", low), _number(call, "high", high)
    if low >= high:
        raise InvalidDistributionError(
            f"{call}: needs low < high (a range with room to search). Got low={low}, "
            f"high={high}; use a constant for a fixed value.")
    return low, high


def _make(call: str, label: str, build: Callable[[], FloatDistribution | IntDistribution],
          kind: str, args: tuple[float, ...], round_to: float | None = None) -> Param:
    try:
        distribution = build()
    except InvalidDistributionError as error:
        raise InvalidDistributionError(f"{call}: {error}") from None
    return Param(label, call, distribution, round_to, kind, args)


def _grid(call: str, label: str, low: float, high: float, q: float, kind: str,
          args: tuple[float, ...]) -> Param:
    # Hyperopt draws in [low, high] and rounds to a multiple of q, so the reachable values are
    # the multiples of q from round(low / q) to round(high / q).
    first, last = round(low / q), round(high / q)
    if first > last:
        raise InvalidDistributionError(f"{call}: needs low <= high. Got low={low}, high={high}.")
    return _make(call, label, lambda: FloatDistribution(first * q, last * q, step=q), kind, args,
                 round_to=q)


def _normal_bounds(call: str, mu: Any, sigma: Any) -> tuple[float, float, float, float]:
    mu, sigma = _number(call, "mu", mu), _positive(call, "sigma", sigma)
    spread = NORMAL_SIGMAS * sigma
    return mu, sigma, mu - spread, mu + spread


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


def pchoice(label: str, p_options: Sequence[tuple[float, Any]]) -> Choice:
    """One of the options of ``(probability, option)`` pairs: ``choice`` whose prior draws each
    option with its probability (the probabilities sum to 1)."""
    _check_label("pchoice", label)
    pairs = list(p_options) if isinstance(p_options, Sequence) else []
    call = f"hp.pchoice({label!r}, <{len(pairs)} options>)"
    if not pairs or not all(isinstance(p, (tuple, list)) and len(p) == 2 for p in pairs):
        raise InvalidDistributionError(
            f"{call}: takes a non-empty list of (probability, option) pairs. Got {p_options!r}.")
    weights = tuple(_number(call, "probability", p) for p, _ in pairs)
    if min(weights) < 0 or not math.isclose(sum(weights), 1.0, abs_tol=1e-6):
        raise InvalidDistributionError(
            f"{call}: the probabilities must be >= 0 and sum to 1. Got {list(weights)}.")
    options = tuple(option for _, option in pairs)
    return Choice(label, call, CategoricalDistribution(tuple(range(len(options)))), options,
                  weights)


def uniform(label: str, low: float, high: float) -> Param:
    """A float drawn uniformly from ``[low, high]`` (low < high)."""
    _check_label("uniform", label)
    call = _call("uniform", label, low, high)
    low, high = _interval(call, low, high)
    return _make(call, label, lambda: FloatDistribution(low, high), "uniform", (low, high))


def quniform(label: str, low: float, high: float, q: float) -> Param:
    """``round(uniform(low, high) / q) * q``: a float on the grid of multiples of ``q``."""
    _check_label("quniform", label)
    call = _call("quniform", label, low, high, q)
    low, high, q = _number(call, "low", low), _number(call, "high", high), _positive(call, "q", q)
    return _grid(call, label, low, high, q, "quniform", (low, high, q))


def loguniform(label: str, low: float, high: float) -> Param:
    """``exp(uniform(low, high))``: the bounds are logs; values run exp(low)..exp(high)."""
    _check_label("loguniform", label)
    call = _call("loguniform", label, low, high)
    low, high = _interval(call, low, high)
    lo, hi = _exp(call, low), _exp(call, high)
    return _make(call, label, lambda: FloatDistribution(lo, hi, log=True), "loguniform",
                 (low, high))


def qloguniform(label: str, low: float, high: float, q: float) -> Param:
    """``round(exp(uniform(low, high)) / q) * q``; suggested log-scaled, then rounded."""
    _check_label("qloguniform", label)
    call = _call("qloguniform", label, low, high, q)
    low, high = _number(call, "low", low), _number(call, "high", high)
    lo, hi, q = _exp(call, low), _exp(call, high), _positive(call, "q", q)
    return _make(call, label, lambda: FloatDistribution(lo, hi, log=True), "qloguniform",
                 (low, high, q), round_to=q)


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
    return _make(call, label, lambda: IntDistribution(low, high - 1), "randint",
                 (float(low), float(high)))


def uniformint(label: str, low: float, high: float, q: float = 1.0) -> Apply:
    """``int(quniform(label, low, high, q))``, as Hyperopt defines it."""
    return Apply("int", int, (quniform(label, low, high, q),))


def normal(label: str, mu: float, sigma: float) -> Param:
    """A float with a normal prior, suggested over ``mu +- 4 sigma``: pipetune domains are
    bounded, so the normal prior becomes its 99.99% interval."""
    _check_label("normal", label)
    call = _call("normal", label, mu, sigma)
    mu, sigma, low, high = _normal_bounds(call, mu, sigma)
    return _make(call, label, lambda: FloatDistribution(low, high), "normal", (mu, sigma))


def qnormal(label: str, mu: float, sigma: float, q: float) -> Param:
    """``hp.normal`` rounded to multiples of ``q``, over ``mu +- 4 sigma``."""
    _check_label("qnormal", label)
    call = _call("qnormal", label, mu, sigma, q)
    mu, sigma, low, high = _normal_bounds(call, mu, sigma)
    q = _positive(call, "q", q)
    return _grid(call, label, low, high, q, "qnormal", (mu, sigma, q))


def lognormal(label: str, mu: float, sigma: float) -> Param:
    """``exp(normal(mu, sigma))`` as a log-scaled float over ``exp(mu +- 4 sigma)``."""
    _check_label("lognormal", label)
    call = _call("lognormal", label, mu, sigma)
    mu, sigma, low, high = _normal_bounds(call, mu, sigma)
    lo, hi = _exp(call, low), _exp(call, high)
    return _make(call, label, lambda: FloatDistribution(lo, hi, log=True), "lognormal",
                 (mu, sigma))


def qlognormal(label: str, mu: float, sigma: float, q: float) -> Param:
    """``hp.lognormal`` rounded to multiples of ``q``; suggested log-scaled, then rounded."""
    _check_label("qlognormal", label)
    call = _call("qlognormal", label, mu, sigma, q)
    mu, sigma, low, high = _normal_bounds(call, mu, sigma)
    lo, hi, q = _exp(call, low), _exp(call, high), _positive(call, "q", q)
    return _make(call, label, lambda: FloatDistribution(lo, hi, log=True), "qlognormal",
                 (mu, sigma, q), round_to=q)


# -- priors --------------------------------------------------------------------------------------

def _rounded(value: float, q: float) -> float:
    return float(np.round(value / q) * q)


def draw_prior(kind: str, args: Sequence[Any], rng: np.random.Generator) -> Any:
    """One draw of Hyperopt's prior ``kind`` with arguments ``args`` (``uniform(low, high)``,
    ``qnormal(mu, sigma, q)``, ``randint(low, high)``, ...), unbounded as in Hyperopt."""
    if kind == "uniform":
        return float(rng.uniform(args[0], args[1]))
    if kind == "quniform":
        return _rounded(rng.uniform(args[0], args[1]), args[2])
    if kind == "loguniform":
        return float(np.exp(rng.uniform(args[0], args[1])))
    if kind == "qloguniform":
        return _rounded(np.exp(rng.uniform(args[0], args[1])), args[2])
    if kind == "normal":
        return float(rng.normal(args[0], args[1]))
    if kind == "qnormal":
        return _rounded(rng.normal(args[0], args[1]), args[2])
    if kind == "lognormal":
        return float(np.exp(rng.normal(args[0], args[1])))
    if kind == "qlognormal":
        return _rounded(np.exp(rng.normal(args[0], args[1])), args[2])
    if kind == "randint":
        low, high = (0, args[0]) if len(args) == 1 else (args[0], args[1])
        return int(rng.integers(int(low), int(high)))
    if kind == "categorical":
        weights = np.asarray(args[0], dtype=float)
        return int(rng.choice(len(weights), p=weights / weights.sum()))
    raise InvalidArgumentError(f"No Hyperopt prior named {kind!r}.")


# The unlabelled random draws scope offers, with the names of their arguments.
DRAW_ARGUMENTS: dict[str, tuple[str, ...]] = {
    "uniform": ("low", "high"), "quniform": ("low", "high", "q"),
    "loguniform": ("low", "high"), "qloguniform": ("low", "high", "q"),
    "normal": ("mu", "sigma"), "qnormal": ("mu", "sigma", "q"),
    "lognormal": ("mu", "sigma"), "qlognormal": ("mu", "sigma", "q"),
    "randint": ("low", "high"), "categorical": ("p",),
}


# -- walking a space -----------------------------------------------------------------------------

def labelled_nodes(space: Any) -> dict[str, Node]:
    """Every labelled node of ``space``, in every branch, by label. A label names one
    hyperparameter: one node object may appear several times, but two nodes under one label
    raise ``DuplicateLabelError``, as in Hyperopt."""
    found: dict[str, Node] = {}
    visited: set[int] = set()
    pending = [space]
    while pending:
        item = pending.pop()
        if isinstance(item, (Expression, dict, list, tuple)):
            if id(item) in visited:
                continue
            visited.add(id(item))
        if isinstance(item, (Param, Choice)):
            seen = found.setdefault(item.label, item)
            if seen is not item:
                raise DuplicateLabelError(
                    f"The label {item.label!r} is used by two hyperparameters of the space: "
                    f"{seen.call} and {item.call}. Give each its own label, or use the same "
                    "node object where one value is meant.")
            if isinstance(item, Choice):
                pending.extend(reversed(item.options))
        elif isinstance(item, (Apply, Draw)):
            pending.extend(reversed([*item.args, *(v for _, v in item.kwargs)]))
        elif isinstance(item, Structure):
            pending.append(item.value)
        elif isinstance(item, dict):
            pending.extend(reversed(list(item.values())))
        elif isinstance(item, (list, tuple)):
            pending.extend(reversed(item))
    return found


class Evaluation:
    """The value of a space for one sample: ``resolve`` gives each labelled node's value (a
    choice's is its branch index), ``rng`` the draws of unlabelled ``Draw`` nodes; every node
    is evaluated once (``memo``), and only the branches chosen are entered."""

    def __init__(self, resolve: Callable[[Node], Any],
                 rng: np.random.Generator | None = None) -> None:
        self.resolve = resolve
        self.rng = rng
        self.memo: dict[int, Any] = {}

    def __call__(self, space: Any) -> Any:
        if isinstance(space, Expression):
            key = id(space)
            if key not in self.memo:
                self.memo[key] = self._node(space)
            return self.memo[key]
        if isinstance(space, dict):
            return {key: self(value) for key, value in space.items()}
        if isinstance(space, (list, tuple)):
            items = [self(value) for value in space]
            if isinstance(space, tuple) and hasattr(space, "_fields"):  # a namedtuple
                return type(space)(*items)
            return tuple(items)
        return space

    def _node(self, node: Expression) -> Any:
        if isinstance(node, Choice):
            return self(node.options[self.resolve(node)])
        if isinstance(node, Param):
            return self.resolve(node)
        if isinstance(node, Apply):
            return node.func(*(self(arg) for arg in node.args),
                             **{key: self(value) for key, value in node.kwargs})
        if isinstance(node, Structure):
            return self(node.value)
        assert isinstance(node, Draw)
        return self._draw(node)

    def _draw(self, node: Draw) -> Any:
        rng = node.rng if node.rng is not None else self.rng
        if rng is None:
            rng = self.rng = np.random.default_rng()
        if node.kind in ("one_of", "choice"):
            options = node.args if node.kind == "one_of" else tuple(self(node.args[0]))
            return self(options[int(rng.integers(len(options)))])
        names = DRAW_ARGUMENTS[node.kind]
        given = [self(arg) for arg in node.args]
        if node.kind == "randint" and len(given) == 1 and not node.kwargs:
            given = [0, given[0]]  # randint(upper)
        values = dict(zip(names, given))
        values.update((key, self(value)) for key, value in node.kwargs)
        missing = [name for name in names if name not in values]
        if missing:
            raise InvalidArgumentError(f"{node!r}: missing argument(s) {missing}.")
        args = [values[name] for name in names]
        return draw_prior(node.kind, args, rng)


def evaluate(space: Any, resolve: Callable[[Node], Any],
             rng: np.random.Generator | None = None) -> Any:
    """The concrete value of ``space`` (see ``Evaluation``). Lists come out as tuples, like
    Hyperopt hands them to the objective."""
    return Evaluation(resolve, rng)(space)


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


def sample(space: Any, rng: np.random.Generator | None = None) -> Any:
    """One random value of ``space`` drawn from Hyperopt's priors (``hp.normal`` unbounded,
    ``hp.pchoice`` with its probabilities), without a study: for looking at what a space
    produces. ``rng`` (a numpy Generator) makes it repeatable."""
    if rng is not None and not isinstance(rng, np.random.Generator):
        raise InvalidArgumentError(
            f"sample's rng must be a numpy Generator, e.g. np.random.default_rng(0). Got {rng!r}.")
    labelled_nodes(space)
    generator = np.random.default_rng() if rng is None else rng

    def draw(node: Node) -> Any:
        if isinstance(node, Choice):
            weights = node.weights or (1.0,) * len(node.options)
            return draw_prior("categorical", (weights,), generator)
        return draw_prior(node.kind, node.args, generator)

    return evaluate(space, draw, generator)


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
