"""Hyperopt's ``hyperopt.pyll`` names that spaces use: ``scope`` and ``as_apply``.

``scope.f(...)`` builds a node of the space that applies ``f`` to the values of its arguments
when a sample is made (``scope.int(hp.quniform('depth', 2, 10, 1))``); ``scope.uniform(0, 1)``
and the other prior names build unlabelled random draws. ``@scope.define`` registers a function
of one's own under its name. There is no graph to inspect: pipetune evaluates spaces directly
(see ``pipetune.compat.hyperopt._space``).
"""

from __future__ import annotations

import builtins
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from pipetune.compat.hyperopt._space import DRAW_ARGUMENTS, Apply, Draw, Expression, as_apply
from pipetune.errors import InvalidArgumentError


def _switch(index: Any, *options: Any) -> Any:
    return options[index]


def _pos_args(*args: Any) -> tuple[Any, ...]:
    return args


# Functions scope offers from the start, by the names Hyperopt spaces call them.
_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "int": builtins.int, "float": builtins.float, "bool": builtins.bool, "str": builtins.str,
    "len": builtins.len, "abs": builtins.abs, "min": builtins.min, "max": builtins.max,
    "sum": builtins.sum, "round": builtins.round, "pow": builtins.pow, "dict": builtins.dict,
    "list": builtins.list, "tuple": builtins.tuple, "range": builtins.range,
    "minimum": np.minimum, "maximum": np.maximum, "exp": np.exp, "log": np.log,
    "sqrt": np.sqrt, "sin": np.sin, "cos": np.cos, "tan": np.tan, "arctan": np.arctan,
    "tanh": np.tanh, "ceil": math.ceil, "floor": math.floor, "asarray": np.asarray,
    "switch": _switch, "pos_args": _pos_args, "identity": lambda x: x,
}


class Scope:
    """The ``scope`` namespace: each attribute builds a node applying a function (or making a
    random draw) when the space is sampled."""

    def __init__(self) -> None:
        self._functions = dict(_FUNCTIONS)

    def define(self, func: Callable[..., Any]) -> Callable[..., Any]:
        """Registers ``func`` as ``scope.<its name>`` (a decorator; returns ``func``)."""
        if not callable(func) or not getattr(func, "__name__", None):
            raise InvalidArgumentError(f"scope.define takes a named function. Got {func!r}.")
        self._functions[func.__name__] = func
        return func

    define_pure = define

    def define_info(self, **info: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """``scope.define`` that accepts (and ignores) pyll's graph hints such as ``o_len``."""
        return self.define

    def __getattr__(self, name: str) -> Callable[..., Expression]:
        if name.startswith("__"):
            raise AttributeError(name)
        if name in DRAW_ARGUMENTS or name in ("one_of", "choice"):
            return lambda *args, **kwargs: _draw(name, args, kwargs)
        func = self._functions.get(name)
        if func is None:
            raise AttributeError(
                f"scope has no function {name!r}: register one with @scope.define (functions "
                f"known: {', '.join(sorted(self._functions))}).")

        def build(*args: Any, **kwargs: Any) -> Apply:
            return Apply(name, func, args, tuple(kwargs.items()))

        return build


def _draw(kind: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Draw:
    rng = kwargs.pop("rng", None)
    if rng is not None and not isinstance(rng, np.random.Generator):
        raise InvalidArgumentError(
            f"scope.{kind}'s rng must be a numpy Generator, e.g. np.random.default_rng(0). "
            f"Got {rng!r}.")
    if kind in ("one_of", "choice") and kwargs:
        raise InvalidArgumentError(f"scope.{kind} takes its options as positional arguments.")
    unknown = set(kwargs) - set(DRAW_ARGUMENTS.get(kind, ()))
    if unknown:
        raise InvalidArgumentError(
            f"scope.{kind} takes {DRAW_ARGUMENTS[kind]}; got unknown {sorted(unknown)}.")
    return Draw(kind, args, tuple(kwargs.items()), rng)


scope = Scope()

__all__ = ["Scope", "as_apply", "scope"]
