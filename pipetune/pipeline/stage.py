"""A stage: one plain function of the previous stage's output plus its own hyperparameters.

The hyperparameters are declared with the stage, in one of two forms:

* a fixed space: a ``SearchSpace``, or a mapping of param name -> a distribution, a list of
  choices, or a ``params:`` entry of a YAML study (``{"type": "float", "low": ..., "when":
  {...}}``, conditions allowed);
* a define-by-run function of a trial, returning the stage's params: the trial's
  ``suggest_*`` calls take the stage-local names.

Either way the study records each param under ``<stage>.<name>`` (``train.lr``), so every stage
has its own namespace and the samplers see one flat space.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from pipetune.distributions import CategoricalDistribution, Distribution
from pipetune.errors import InvalidArgumentError
from pipetune.pipeline.fingerprint import code_fingerprint
from pipetune.space import ParamSpec, SearchSpace

PROGRESS_ARG = "progress"  # a stage function taking this argument may report progress

SpaceFunction = Callable[[Any], Mapping[str, Any]]


@dataclass(frozen=True)
class Fidelity:
    """Marks the stage param ``param`` as the fidelity (a fraction of the training data, a
    number of epochs): a trial runs the pipeline from this stage on at each of ``levels`` in
    turn, cheapest first, and reports the objective after each, so a pruner stops bad trials at
    the cheap levels (Vertex AI's shorter runs). The step reported at a level is the level
    divided by the smallest level, rounded: levels ``(1/9, 1/3, 1)`` give steps 1, 3, 9, which
    is Hyperband's resource (``HyperbandPruner(min_resource=1, max_resource=9)``)."""

    param: str
    levels: tuple[float, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.param, str) or not self.param.isidentifier():
            raise InvalidArgumentError(
                f"The 'param' of a Fidelity must name an argument of the stage function. "
                f"Got {self.param!r}.")
        levels = tuple(self.levels)
        if not levels or any(isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0
                             for v in levels) or list(levels) != sorted(set(levels)):
            raise InvalidArgumentError(
                f"The 'levels' of Fidelity({self.param!r}) must be positive numbers in "
                f"increasing order, e.g. (0.1, 0.3, 1.0). Got {self.levels!r}.")
        object.__setattr__(self, "levels", levels)

    def step(self, level: float) -> int:
        """The resource (intermediate-value step) of ``level``."""
        return max(1, round(level / self.levels[0]))


@dataclass(frozen=True)
class Stage:
    """One pipeline stage: ``func(upstream_output, **params)`` (no upstream argument for a
    first stage run without input data), its space, whether its outputs are cached, and an
    optional fidelity param. ``code`` fingerprints ``func``'s source; ``version`` may be bumped
    to invalidate outputs when something the source does not show changed (a data file)."""

    name: str
    func: Callable[..., Any]
    space: SearchSpace | SpaceFunction | None = None
    cache: bool = True
    fidelity: Fidelity | None = None
    version: str = ""
    code: str = field(init=False, default="")
    reports_progress: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise InvalidArgumentError(
                f"A stage name must be a Python identifier (it prefixes the stage's params, "
                f"as in 'train.lr'). Got {self.name!r}.")
        if not callable(self.func):
            raise InvalidArgumentError(
                f"Stage {self.name!r} needs a function to run. Got {self.func!r}.")
        object.__setattr__(self, "space", as_search_space(f"stage {self.name!r}", self.space))
        if self.fidelity is not None and not isinstance(self.fidelity, Fidelity):
            raise InvalidArgumentError(
                f"The 'fidelity' of stage {self.name!r} must be a pipetune.pipeline.Fidelity. "
                f"Got {self.fidelity!r}.")
        arguments = inspect.signature(self.func).parameters
        object.__setattr__(self, "reports_progress", PROGRESS_ARG in arguments)
        object.__setattr__(self, "code", code_fingerprint(self.func) + str(self.version))

    def __reduce__(self) -> Any:
        # ``@stage`` puts the Stage where its function was, so pickle finds the function's
        # name holding a Stage: send a module-level stage by reference instead, as pickle
        # does with plain functions (process pools, Ray).
        module = sys.modules.get(getattr(self.func, "__module__", ""), None)
        if getattr(module, self.func.__qualname__, None) is self:
            return (_stage_by_name, (self.func.__module__, self.func.__qualname__))
        return super().__reduce__()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Calls the stage function directly (handy in notebooks and unit tests)."""
        return self.func(*args, **kwargs)

    @property
    def prefix(self) -> str:
        return f"{self.name}."

    def suggest(self, trial: Any) -> dict[str, Any]:
        """The stage's params for ``trial``, by stage-local name, suggested under
        ``<stage>.<name>``."""
        if self.space is None:
            return {}
        if isinstance(self.space, SearchSpace):
            prefixed = _prefixed(self.space, self.prefix).suggest(trial)
            return {name[len(self.prefix):]: value for name, value in prefixed.items()}
        params = self.space(StageTrial(trial, self.prefix))
        if not isinstance(params, Mapping):
            raise InvalidArgumentError(
                f"The space function of stage {self.name!r} must return a dict of param name "
                f"-> value. Got {params!r}.")
        return dict(params)

    def replay(self, values: Mapping[str, Any]) -> tuple[dict[str, Any], set[str]]:
        """The stage's params taken from ``values`` (prefixed names, e.g. a trial's params),
        without a study: the active ones for a fixed space, what the function asks for
        otherwise; and the local names the space consumed (the rest of the stage's values
        are plain arguments of the stage function, such as ``epochs``)."""
        if self.space is None:
            return {}, set()
        local = {name[len(self.prefix):]: value for name, value in values.items()
                 if name.startswith(self.prefix)}
        if isinstance(self.space, SearchSpace):
            return self.space.active(local), set(self.space.names)
        replay = _ReplayTrial(local, self.name)
        return dict(self.space(replay)), replay.asked


def _stage_by_name(module: str, qualname: str) -> Stage:
    return getattr(importlib.import_module(module), qualname)


def stage(name: str | None = None, *, space: Any = None, cache: bool = True,
          fidelity: Fidelity | None = None, version: str = "") -> Callable[[Callable], Stage]:
    """Decorator making a function a pipeline stage named ``name`` (default: the function's
    name); see ``Stage`` and the module docstring for ``space``."""
    def wrap(func: Callable[..., Any]) -> Stage:
        return Stage(name or func.__name__, func, space, cache=cache, fidelity=fidelity,
                     version=version)
    return wrap


def as_search_space(owner: str, space: Any) -> SearchSpace | SpaceFunction | None:
    """``space`` as a ``SearchSpace`` (see the module docstring for the forms a fixed space
    takes), a define-by-run function as is, or None; ``owner`` names it in error messages."""
    if space is None or isinstance(space, SearchSpace):
        return space
    if callable(space) and not isinstance(space, Mapping):
        return space
    if not isinstance(space, Mapping):
        raise InvalidArgumentError(
            f"The space of {owner} must be a mapping of param name -> domain, a "
            f"SearchSpace, or a function of the trial. Got {space!r}.")
    specs = []
    for name, domain in space.items():
        if isinstance(domain, ParamSpec):
            specs.append(replace(domain, name=str(name)))
        elif isinstance(domain, Distribution):
            specs.append(ParamSpec(str(name), domain))
        elif isinstance(domain, Sequence) and not isinstance(domain, (str, bytes)):
            specs.append(ParamSpec(str(name), CategoricalDistribution(list(domain))))
        elif isinstance(domain, Mapping):
            specs.extend(SearchSpace.from_dict({name: domain}).params)
        else:
            raise InvalidArgumentError(
                f"Param {name!r} of {owner} must be a distribution, a list of "
                f"choices or a settings mapping ({{'type': 'float', 'low': ..., 'high': ...}}). "
                f"Got {domain!r}.")
    return SearchSpace(tuple(specs))


def _prefixed(space: SearchSpace, prefix: str) -> SearchSpace:
    return SearchSpace(tuple(
        replace(spec, name=prefix + spec.name,
                when={prefix + other: allowed for other, allowed in spec.when.items()})
        for spec in space.params))


class StageTrial:
    """What a define-by-run stage space receives: a trial whose ``suggest_*`` take stage-local
    names and record them as ``<stage>.<name>``."""

    def __init__(self, trial: Any, prefix: str) -> None:
        self._trial = trial
        self._prefix = prefix

    @property
    def number(self) -> int:
        return self._trial.number

    @property
    def params(self) -> dict[str, Any]:
        """This stage's params suggested so far, by local name."""
        return {name[len(self._prefix):]: value for name, value in self._trial.params.items()
                if name.startswith(self._prefix)}

    def suggest_float(self, name: str, low: float, high: float, *, step: float | None = None,
                      log: bool = False) -> float:
        return self._trial.suggest_float(self._prefix + name, low, high, step=step, log=log)

    def suggest_int(self, name: str, low: int, high: int, *, step: int = 1,
                    log: bool = False) -> int:
        return self._trial.suggest_int(self._prefix + name, low, high, step=step, log=log)

    def suggest_categorical(self, name: str, choices: Sequence[Any]) -> Any:
        return self._trial.suggest_categorical(self._prefix + name, choices)


class _ReplayTrial:
    """Answers a define-by-run space's suggestions from given values (re-running a trial)."""

    def __init__(self, values: Mapping[str, Any], stage_name: str) -> None:
        self._values = dict(values)
        self._stage = stage_name
        self.number = -1
        self.asked: set[str] = set()

    @property
    def params(self) -> dict[str, Any]:
        return dict(self._values)

    def _get(self, name: str) -> Any:
        self.asked.add(name)
        if name not in self._values:
            raise InvalidArgumentError(
                f"Param '{self._stage}.{name}' has no value to re-run the stage with: give it "
                f"in overrides={{'{self._stage}.{name}': ...}}.")
        return self._values[name]

    def suggest_float(self, name: str, *args: Any, **kwargs: Any) -> float:
        return self._get(name)

    def suggest_int(self, name: str, *args: Any, **kwargs: Any) -> int:
        return self._get(name)

    def suggest_categorical(self, name: str, *args: Any, **kwargs: Any) -> Any:
        return self._get(name)
