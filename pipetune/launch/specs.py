"""Launch specs: how to run one trial of a script and where its result comes from.

``LaunchSpec`` says what to run (an argv, never a shell string, with ``{param}`` templates),
where (``workdir``, ``env``), within what limits (``timeout`` per attempt, ``retries``,
``grace_period`` between SIGTERM and SIGKILL, ``gpus_per_trial``) and where its logs go
(``log_dir``). ``MetricSpec`` says where an objective value comes from: a regex over the
output lines, or the values the script passes to ``pipetune.report``; ``IntermediateSpec``
likewise for the intermediate values a pruner reads. All check themselves when built, so a
mistake is refused before anything runs.

``LaunchSpec.objective`` may be a tuple of ``MetricSpec`` for a multi-objective study; the
objective then returns one value per metric, in order. ``command`` and ``objective`` are its
two positional fields; the others are keyword-only.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field
from typing import Any

from pipetune.errors import InvalidArgumentError

__all__ = ["PLACEHOLDER", "TAKES", "IntermediateSpec", "LaunchSpec", "MetricSpec",
           "argv_tuple"]

TAKES = ("last", "min", "max")
# A command item's templates: "{name}" is the value of the param ``name``, "{{" and "}}" are
# literal braces.
PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_.\-]*)\}")


def _compile(owner: str, regex: Any) -> re.Pattern:
    if not isinstance(regex, str) or not regex:
        raise InvalidArgumentError(
            f"The regex of {owner} must be a non-empty string. Got {regex!r}.")
    try:
        return re.compile(regex)
    except re.error as error:
        raise InvalidArgumentError(
            f"The regex of {owner} does not compile: {error}. Got {regex!r}.") from None


def _check_name(kind: str, name: Any) -> None:
    if not isinstance(name, str) or not name:
        raise InvalidArgumentError(
            f"The name of a {kind} must be a non-empty string. Got {name!r}.")


@dataclass(frozen=True)
class MetricSpec:
    """Where an objective value comes from: a regex over the output lines (its ``value`` group,
    else its first group) with the ``last`` / ``min`` / ``max`` of all matches, or, with no
    regex, the values the script passed as ``pipetune.report(<name>=...)``."""

    name: str
    regex: str | None = None
    take: str = "last"
    _pattern: re.Pattern | None = field(init=False, repr=False, compare=False, default=None)

    def __post_init__(self) -> None:
        _check_name("metric", self.name)
        if self.take not in TAKES:
            raise InvalidArgumentError(
                f"The 'take' of metric {self.name!r} must be one of {', '.join(TAKES)}. "
                f"Got {self.take!r}.")
        if self.regex is not None:
            pattern = _compile(f"metric {self.name!r}", self.regex)
            if pattern.groups < 1:
                raise InvalidArgumentError(
                    f"The regex of metric {self.name!r} needs a group around the number, e.g. "
                    f"'{self.name}=([0-9.eE+-]+)'. Got {self.regex!r}.")
            object.__setattr__(self, "_pattern", pattern)

    def find(self, line: str) -> float | None:
        """The number this regex reads on ``line``, if any (None without a regex)."""
        if self._pattern is None:
            return None
        match = self._pattern.search(line)
        if match is None:
            return None
        text = match.group("value") if "value" in self._pattern.groupindex else match.group(1)
        return _to_float(text)


@dataclass(frozen=True)
class IntermediateSpec:
    """Where intermediate values (for the pruner) come from: a regex with named groups
    ``step`` and ``value``, or, with no regex, ``pipetune.report(step=..., <name>=...)``."""

    name: str
    regex: str | None = None
    _pattern: re.Pattern | None = field(init=False, repr=False, compare=False, default=None)

    def __post_init__(self) -> None:
        _check_name("intermediate metric", self.name)
        if self.regex is not None:
            pattern = _compile(f"intermediate metric {self.name!r}", self.regex)
            missing = {"step", "value"} - set(pattern.groupindex)
            if missing:
                raise InvalidArgumentError(
                    f"The regex of intermediate metric {self.name!r} needs the named groups "
                    f"(?P<step>...) and (?P<value>...); it lacks {', '.join(sorted(missing))}. "
                    f"Got {self.regex!r}.")
            object.__setattr__(self, "_pattern", pattern)

    def find(self, line: str) -> tuple[int, float] | None:
        if self._pattern is None:
            return None
        match = self._pattern.search(line)
        if match is None:
            return None
        value, step = _to_float(match.group("value")), _to_float(match.group("step"))
        if value is None or step is None or not step.is_integer() or step < 0:
            return None
        return int(step), value


def _to_float(text: str | None) -> float | None:
    if text is None:  # an optional group that did not take part in the match
        return None
    try:
        return float(text)
    except ValueError:
        return None


def _number(owner: str, value: Any, *, allow_none: bool = False, integer: bool = False,
            minimum: float = 0, strict: bool = False) -> Any:
    if value is None and allow_none:
        return None
    ok = not isinstance(value, bool) and isinstance(value, int if integer else (int, float))
    if ok and (value < minimum or (strict and value == minimum) or value != value):
        ok = False
    if not ok:
        kind = "an int" if integer else "a number"
        bound = f"> {minimum}" if strict else f">= {minimum}"
        raise InvalidArgumentError(
            f"The {owner!r} of a LaunchSpec must be {kind} {bound}"
            f"{' or None' if allow_none else ''}. Got {value!r}.")
    return value


@dataclass(frozen=True)
class LaunchSpec:
    """How to run one trial of a script and read its result (see the module docstring)."""

    command: tuple[str, ...]
    objective: MetricSpec | tuple[MetricSpec, ...]
    _: KW_ONLY
    workdir: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    intermediate: IntermediateSpec | None = None
    timeout: float | None = None
    retries: int = 0
    grace_period: float = 5.0
    gpus_per_trial: int = 0
    log_dir: str | None = None
    extra_args: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "command", argv_tuple("command", self.command))
        if not self.command:
            raise InvalidArgumentError("The 'command' of a LaunchSpec must name a program to run.")
        object.__setattr__(self, "extra_args", argv_tuple("extra_args", self.extra_args))
        objectives = (self.objective,) if isinstance(self.objective, MetricSpec) \
            else tuple(self.objective) if isinstance(self.objective, (list, tuple)) else ()
        if not objectives or not all(isinstance(o, MetricSpec) for o in objectives):
            raise InvalidArgumentError(
                "The 'objective' of a LaunchSpec must be a MetricSpec (or a tuple of them, one "
                f"per objective). Got {self.objective!r}.")
        if len({o.name for o in objectives}) != len(objectives):
            raise InvalidArgumentError("The objectives of a LaunchSpec must have distinct names.")
        if isinstance(self.objective, list):
            object.__setattr__(self, "objective", objectives)
        if self.intermediate is not None and not isinstance(self.intermediate, IntermediateSpec):
            raise InvalidArgumentError(
                f"The 'intermediate' of a LaunchSpec must be an IntermediateSpec or None. "
                f"Got {self.intermediate!r}.")
        if self.workdir is not None:
            workdir = os.fspath(self.workdir)
            if not os.path.isdir(workdir):
                raise InvalidArgumentError(
                    "The 'workdir' of a LaunchSpec must be an existing directory. "
                    f"Got {workdir!r}.")
            object.__setattr__(self, "workdir", workdir)
        if self.log_dir is not None:
            object.__setattr__(self, "log_dir", os.fspath(self.log_dir))
        if not isinstance(self.env, Mapping):
            raise InvalidArgumentError(
                f"The 'env' of a LaunchSpec must be a mapping. Got {self.env!r}.")
        env = {}
        for key, value in self.env.items():
            if not isinstance(key, str) or not key or "=" in key \
                    or isinstance(value, bool) or not isinstance(value, (str, int, float)):
                raise InvalidArgumentError(
                    f"The 'env' of a LaunchSpec maps variable names to strings. Got "
                    f"{key!r}: {value!r}.")
            env[key] = str(value)
        object.__setattr__(self, "env", env)
        _number("timeout", self.timeout, allow_none=True, strict=True)
        _number("retries", self.retries, integer=True)
        _number("grace_period", self.grace_period)
        _number("gpus_per_trial", self.gpus_per_trial, integer=True)

    @property
    def objectives(self) -> tuple[MetricSpec, ...]:
        if isinstance(self.objective, MetricSpec):
            return (self.objective,)
        return tuple(self.objective)


def argv_tuple(owner: str, value: Any) -> tuple[str, ...]:
    """``value`` as an argv tuple, refusing a single shell string: it would be split wrongly on
    a path with a space."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise InvalidArgumentError(
            f"The {owner!r} of a LaunchSpec is a list of arguments (argv), never one shell "
            f"string; split it, e.g. shlex.split(...). Got {value!r}.")
    if not all(isinstance(item, str) for item in value):
        raise InvalidArgumentError(
            f"Every item of {owner!r} must be a string. Got {list(value)!r}.")
    return tuple(value)
