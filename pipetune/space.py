"""A declarative search space: the ``params:`` of a YAML study, or the same built in Python.

Define-by-run objectives need no declared space; a script launched by ``ScriptObjective``
does, since pipetune cannot run the script to discover it. ``SearchSpace.suggest`` walks the
declared params in order and suggests the active ones on a ``Trial``, so the samplers, the
storage and the dataframes see exactly what a define-by-run objective would have produced.

Scales: ``linear`` and ``log`` are the distributions' own. ``reverse_log`` is for values
crowding towards 1 (a momentum 0.9..0.999, a discount factor): it is log-uniform in ``1 - x``,
as SageMaker's ``ReverseLogarithmic`` scaling, so 0.9, 0.99 and 0.999 are equally likely
decades. The sampler learns on an auxiliary log-scaled param ``<name>__gap`` (= 1 - x); the
user's value is recorded under ``<name>`` as well, so ``trial.params[name]`` is the value the
script received. (With a ``GridSampler`` the grid lists the values, and no gap is recorded.)
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from pipetune.distributions import (
    CategoricalDistribution,
    Distribution,
    FloatDistribution,
    IntDistribution,
    contains_external,
)
from pipetune.errors import InvalidArgumentError, InvalidDistributionError

if TYPE_CHECKING:
    from pipetune.trial import Trial

SCALES = ("linear", "log", "reverse_log")
REVERSE_LOG_SUFFIX = "__gap"
_PARAM_KEYS = ("type", "low", "high", "step", "scale", "log", "choices", "when")
_TYPES = ("float", "int", "categorical")


def _did_you_mean(word: str, options: Any) -> str:
    close = difflib.get_close_matches(word, list(options), n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


def _same(value: Any, allowed: Any) -> bool:
    # True == 1 to Python, but the choice True is not the number 1.
    if isinstance(value, bool) or isinstance(allowed, bool):
        return type(value) is type(allowed) and value == allowed
    return value == allowed


def _as_tuple(values: Any) -> tuple:
    if isinstance(values, (list, tuple, set, frozenset)):
        return tuple(values)
    return (values,)


@dataclass(frozen=True)
class ParamSpec:
    """One declared hyperparameter: its domain, its scale and when it is active.

    ``when`` maps earlier params to the values they must take for this one to be suggested
    (``{"model": ("svm",)}``: only for SVMs); a single value stands for a one-value tuple. A
    distribution with ``log=True`` has scale ``log`` whatever ``scale`` says, and ``scale="log"``
    turns a float or int distribution log-scaled.
    """

    name: str
    distribution: Distribution
    scale: str = "linear"
    when: Mapping[str, tuple] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise InvalidArgumentError(
                f"A param name must be a non-empty string. Got {self.name!r}.")
        if not isinstance(self.distribution, (FloatDistribution, IntDistribution,
                                              CategoricalDistribution)):
            raise InvalidArgumentError(
                f"The distribution of param {self.name!r} must be a pipetune Float-, Int- or "
                f"CategoricalDistribution. Got {self.distribution!r}.")
        if self.scale not in SCALES:
            raise InvalidArgumentError(
                f"The scale of param {self.name!r} must be one of {', '.join(SCALES)}. Got "
                f"{self.scale!r}.{_did_you_mean(str(self.scale), SCALES)}")
        dist = self.distribution
        if isinstance(dist, CategoricalDistribution):
            if self.scale != "linear":
                raise InvalidArgumentError(
                    f"Param {self.name!r} is categorical; scale {self.scale!r} applies to "
                    "float and int params only. Drop the scale.")
        elif self.scale == "log" and not dist.log:
            object.__setattr__(self, "distribution", replace(dist, log=True))
        elif self.scale == "linear" and dist.log:
            object.__setattr__(self, "scale", "log")
        elif self.scale == "reverse_log":
            self._check_reverse_log(dist)
        if not isinstance(self.when, Mapping):
            raise InvalidArgumentError(
                f"The 'when' of param {self.name!r} must map param names to allowed values, "
                f"e.g. {{'model': ['svm']}}. Got {self.when!r}.")
        object.__setattr__(self, "when", {str(k): _as_tuple(v) for k, v in self.when.items()})

    def _check_reverse_log(self, dist: Distribution) -> None:
        if not isinstance(dist, FloatDistribution) or dist.step is not None or dist.log:
            raise InvalidArgumentError(
                f"Param {self.name!r}: scale 'reverse_log' needs a float param without step "
                "or log.")
        if not dist.high < 1.0 or not dist.low < dist.high:
            raise InvalidArgumentError(
                f"Param {self.name!r}: scale 'reverse_log' samples log(1 - x), so it needs "
                f"low < high < 1 (e.g. a momentum 0.9..0.999). Got low={dist.low}, "
                f"high={dist.high}: use scale 'log' or 'linear' instead.")

    def is_active(self, chosen: Mapping[str, Any]) -> bool:
        """Whether every condition holds for the params ``chosen`` so far."""
        for other, allowed in self.when.items():
            if other not in chosen:
                return False
            if not any(_same(chosen[other], a) for a in allowed):
                return False
        return True

    def suggest(self, trial: Trial) -> Any:
        """Suggests this param on ``trial`` and returns the user-facing value."""
        dist = self.distribution
        if self.scale == "reverse_log":
            assert isinstance(dist, FloatDistribution)  # checked in __post_init__
            return _suggest_reverse_log(trial, self.name, dist)
        return trial.suggest(self.name, dist)


def _suggest_reverse_log(trial: Trial, name: str, dist: FloatDistribution) -> float:
    from pipetune.samplers.grid import GridSampler

    if isinstance(trial.study.sampler, GridSampler):  # a grid lists the values themselves
        return trial.suggest(name, dist)
    gap_name = name + REVERSE_LOG_SUFFIX
    gap_dist = FloatDistribution(1.0 - dist.high, 1.0 - dist.low, log=True)
    params = trial.params
    if name in params and gap_name in params:
        return params[name]
    if name in trial.fixed_params or name in params:
        # An enqueued value (or a half-recorded trial): record it, then the gap it implies.
        value = trial.suggest(name, dist)
        trial.fix_param(gap_name, min(max(1.0 - value, gap_dist.low), gap_dist.high), gap_dist)
        return value
    gap = trial.suggest(gap_name, gap_dist)
    # 1 - (1 - x) may leave [low, high] by an ulp: clamp, so the recorded value is in the domain.
    return trial.fix_param(name, min(max(1.0 - gap, dist.low), dist.high), dist)


@dataclass(frozen=True)
class SearchSpace:
    """Params in declaration order; a ``when`` condition may name only earlier params."""

    params: tuple[ParamSpec, ...]

    def __post_init__(self) -> None:
        params = tuple(self.params)
        seen: dict[str, ParamSpec] = {}
        for spec in params:
            if not isinstance(spec, ParamSpec):
                raise InvalidArgumentError(
                    f"A SearchSpace holds ParamSpec objects. Got {spec!r}.")
            if spec.name in seen:
                raise InvalidArgumentError(f"Param {spec.name!r} is declared twice.")
            if spec.name.endswith(REVERSE_LOG_SUFFIX):
                raise InvalidArgumentError(
                    f"Param {spec.name!r}: names ending in {REVERSE_LOG_SUFFIX!r} are kept for "
                    "the reverse_log scale. Rename it.")
            for other, allowed in spec.when.items():
                if other not in seen:
                    where = ("is declared after it" if any(p.name == other for p in params)
                             else "is not a param")
                    raise InvalidArgumentError(
                        f"The 'when' of param {spec.name!r} names {other!r}, which {where}: a "
                        "condition may only name params declared before it."
                        f"{_did_you_mean(other, seen)}")
                condition_dist = seen[other].distribution
                for value in allowed:
                    if not contains_external(condition_dist, value):
                        raise InvalidArgumentError(
                            f"The 'when' of param {spec.name!r} allows {other}={value!r}, which "
                            f"{other!r} can never take ({_describe(condition_dist)}), so the "
                            "condition never holds.")
            seen[spec.name] = spec
        object.__setattr__(self, "params", params)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(spec.name for spec in self.params)

    def __iter__(self) -> Iterator[ParamSpec]:
        return iter(self.params)

    def __len__(self) -> int:
        return len(self.params)

    def suggest(self, trial: Trial) -> dict[str, Any]:
        """Suggests the active params on ``trial`` in declaration order and returns them
        (name -> value); inactive conditional params are neither suggested nor returned."""
        chosen: dict[str, Any] = {}
        for spec in self.params:
            if spec.is_active(chosen):
                chosen[spec.name] = spec.suggest(trial)
        return chosen

    def active(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """The subset of ``values`` that is active under the conditions (e.g. to tidy a
        params dict holding every branch before passing it on)."""
        chosen: dict[str, Any] = {}
        for spec in self.params:
            if spec.name in values and spec.is_active(chosen):
                chosen[spec.name] = values[spec.name]
        return chosen

    @classmethod
    def from_dict(cls, data: Mapping[str, Mapping]) -> SearchSpace:
        """Builds a space from a ``params:`` mapping: name -> ``{type: float|int|categorical,
        low, high, step, scale: linear|log|reverse_log, choices, when}``. ``log: true`` is
        accepted for ``scale: log``; ``type`` may be left out when ``choices`` is given."""
        if not isinstance(data, Mapping):
            raise InvalidArgumentError(
                f"params must be a mapping of param name -> settings. Got {data!r}.")
        return cls(tuple(_spec_from_dict(str(name), entry) for name, entry in data.items()))


def _describe(dist: Distribution) -> str:
    if isinstance(dist, CategoricalDistribution):
        return f"choices {list(dist.choices)!r}"
    return f"[{dist.low}, {dist.high}]"


def _spec_from_dict(name: str, entry: Any) -> ParamSpec:
    where = f"params.{name}"
    if not isinstance(entry, Mapping):
        raise InvalidArgumentError(
            f"{where} must be a mapping such as {{type: float, low: 0.001, high: 0.1}}. "
            f"Got {entry!r}.")
    for key in entry:
        if key not in _PARAM_KEYS:
            raise InvalidArgumentError(
                f"{where} has an unknown key {key!r}.{_did_you_mean(str(key), _PARAM_KEYS)} "
                f"Known keys: {', '.join(_PARAM_KEYS)}.")
    kind = entry.get("type", "categorical" if "choices" in entry else None)
    if kind not in _TYPES:
        raise InvalidArgumentError(
            f"{where}.type must be one of {', '.join(_TYPES)}. Got {kind!r}."
            f"{_did_you_mean(str(kind), _TYPES)}")
    scale = entry.get("scale", "linear")
    if "log" in entry:
        if not isinstance(entry["log"], bool):
            raise InvalidArgumentError(f"{where}.log must be true or false. Got {entry['log']!r}.")
        if entry["log"]:
            if scale not in ("linear", "log"):
                raise InvalidArgumentError(f"{where}: give either log: true or scale: {scale}.")
            scale = "log"
    when = entry.get("when", {})
    if kind == "categorical":
        extra = sorted(set(entry) & {"low", "high", "step", "scale", "log"})
        if extra:
            raise InvalidArgumentError(
                f"{where} is categorical; {', '.join(extra)} apply to float and int params only.")
        if "choices" not in entry:
            raise InvalidArgumentError(f"{where} needs choices: [...] (a categorical param).")
        choices = entry["choices"]
        if isinstance(choices, (str, bytes)) or not isinstance(choices, (list, tuple)):
            raise InvalidArgumentError(f"{where}.choices must be a list. Got {choices!r}.")
        return ParamSpec(name, _distribution(where, CategoricalDistribution, tuple(choices)),
                         when=when)
    if "choices" in entry:
        raise InvalidArgumentError(f"{where} is {kind}; choices apply to categorical params only.")
    for bound in ("low", "high"):
        if bound not in entry:
            raise InvalidArgumentError(f"{where} needs {bound}: (a {kind} param).")
        value = entry[bound]
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or not math.isfinite(value):
            raise InvalidArgumentError(f"{where}.{bound} must be a number. Got {value!r}.")
    if scale not in SCALES:
        raise InvalidArgumentError(
            f"{where}.scale must be one of {', '.join(SCALES)}. Got {scale!r}."
            f"{_did_you_mean(str(scale), SCALES)}")
    log = scale == "log"
    if kind == "float":
        dist = _distribution(where, FloatDistribution, entry["low"], entry["high"], log=log,
                             step=entry.get("step"))
    else:
        dist = _distribution(where, IntDistribution, entry["low"], entry["high"], log=log,
                             step=entry.get("step", 1))
    try:
        return ParamSpec(name, dist, scale=scale, when=when)
    except InvalidArgumentError as error:
        raise InvalidArgumentError(f"{where}: {error}") from None


def _distribution(where: str, kind: type, *args: Any, **kwargs: Any) -> Distribution:
    try:
        return kind(*args, **kwargs)
    except InvalidDistributionError as error:
        raise InvalidDistributionError(f"{where}: {error}") from None
