"""What a study's YAML file says, checked: ``StudyConfig`` and its sections.

``pipetune.launch.schema`` reads a file into a ``StudyConfig``; ``build_sampler()`` and
``build_pruner()`` make fresh algorithm objects from it for each study handle, by the names of
``pipetune.samplers.SAMPLERS`` and ``pipetune.pruners.PRUNERS``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pipetune.launch.specs import LaunchSpec
from pipetune.pruners import PRUNERS, BasePruner
from pipetune.samplers import SAMPLERS, BaseSampler
from pipetune.space import SearchSpace
from pipetune.stopping import FailedInARow, NoImprovement, StoppingCriterion, TargetValue

__all__ = ["FinalSpec", "PrunerSpec", "SamplerSpec", "StoppingSpec", "StudyConfig"]


@dataclass(frozen=True)
class SamplerSpec:
    """A sampler by name with its constructor arguments (``grid``: ``values`` per param)."""

    name: str = "auto"
    options: Mapping[str, Any] = field(default_factory=dict)

    def build(self) -> BaseSampler:
        cls = SAMPLERS[self.name]
        options = dict(self.options)
        if self.name == "grid":
            options["search_space"] = options.pop("values")
        return cls(**options)


@dataclass(frozen=True)
class PrunerSpec:
    """A pruner by name with its constructor arguments; ``patient`` wraps ``wrapped``."""

    name: str = "none"
    options: Mapping[str, Any] = field(default_factory=dict)
    wrapped: PrunerSpec | None = None

    def build(self) -> BasePruner:
        cls = PRUNERS[self.name]
        if self.name == "patient":
            inner = None if self.wrapped is None else self.wrapped.build()
            return cls(inner, **self.options)
        return cls(**self.options)


@dataclass(frozen=True)
class StoppingSpec:
    """When the search ends before ``max_trials``. ``max_failed_in_a_row`` defaults to 5 so a
    broken command stops the run instead of failing every trial; null turns it off."""

    target_value: float | None = None
    no_improvement: int | None = None
    max_failed_in_a_row: int | None = 5

    def criteria(self) -> tuple[StoppingCriterion, ...]:
        found: list[StoppingCriterion] = []
        if self.target_value is not None:
            found.append(TargetValue(self.target_value))
        if self.no_improvement is not None:
            found.append(NoImprovement(self.no_improvement))
        if self.max_failed_in_a_row is not None:
            found.append(FailedInARow(self.max_failed_in_a_row))
        return tuple(found)


@dataclass(frozen=True)
class FinalSpec:
    """The run of the best params to completion after the search, with extra arguments."""

    args: tuple[str, ...] = ()


@dataclass(frozen=True)
class StudyConfig:
    """Everything one YAML file says, checked. ``path`` is the file as the user named it."""

    path: str
    study: str
    directions: tuple[str, ...]
    space: SearchSpace
    launch: LaunchSpec
    storage: str | None = None
    sampler: SamplerSpec = field(default_factory=SamplerSpec)
    pruner: PrunerSpec = field(default_factory=PrunerSpec)
    stopping: StoppingSpec = field(default_factory=StoppingSpec)
    max_trials: int | None = None
    max_parallel: int | None = None
    final: FinalSpec | None = None

    def build_sampler(self) -> BaseSampler:
        """A new sampler as the file's ``sampler:`` says (AutoSampler without one), for
        ``create_study(sampler=config.build_sampler(), ...)``."""
        return self.sampler.build()

    def build_pruner(self) -> BasePruner:
        """A new pruner as the file's ``pruner:`` says (none without one)."""
        return self.pruner.build()
