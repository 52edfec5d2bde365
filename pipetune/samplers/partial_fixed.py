"""Fixing some params of a search while another sampler draws the rest."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pipetune.datatypes import FrozenTrial, TrialState
from pipetune.distributions import Distribution, contains_external
from pipetune.errors import InvalidArgumentError
from pipetune.samplers.base import BaseSampler

if TYPE_CHECKING:
    from pipetune.view import StudyView


class PartialFixedSampler(BaseSampler):
    """Gives the params of ``fixed_params`` their fixed values and leaves every other param
    to ``base_sampler``, whose model keeps learning from all trials: to pin a param found
    good (or required) while the search goes on over the others.

    A fixed value outside the domain it is suggested with is warned about and left to
    ``base_sampler``, as an enqueued value is: a point outside the domain would mislead the
    samplers that model it.
    """

    def __init__(self, fixed_params: Mapping[str, Any], base_sampler: BaseSampler) -> None:
        if not isinstance(fixed_params, Mapping):
            raise InvalidArgumentError(
                "The 'fixed_params' argument of PartialFixedSampler must be a dict of param "
                f"name -> value. Got {fixed_params!r}.")
        if not isinstance(base_sampler, BaseSampler):
            raise InvalidArgumentError(
                "The 'base_sampler' argument of PartialFixedSampler must be a pipetune sampler "
                f"(e.g. pipetune.samplers.TPESampler()). Got {base_sampler!r}.")
        self._fixed_params = dict(fixed_params)
        self._base_sampler = base_sampler

    @property
    def needs_history(self) -> bool:
        return self._base_sampler.needs_history

    @property
    def can_exhaust(self) -> bool:
        return self._base_sampler.can_exhaust

    def is_exhausted(self, view: StudyView) -> bool:
        return self._base_sampler.is_exhausted(view)

    def before_trial(self, view: StudyView, trial: FrozenTrial) -> dict[str, Any]:
        return self._base_sampler.before_trial(view, trial)

    def infer_relative_search_space(self, view: StudyView,
                                    trial: FrozenTrial) -> dict[str, Distribution]:
        space = self._base_sampler.infer_relative_search_space(view, trial)
        return {name: d for name, d in space.items() if name not in self._fixed_params}

    def sample_relative(self, view: StudyView, trial: FrozenTrial,
                        search_space: dict[str, Distribution]) -> dict[str, Any]:
        return self._base_sampler.sample_relative(view, trial, search_space)

    def sample_independent(self, view: StudyView, trial: FrozenTrial, name: str,
                           distribution: Distribution) -> Any:
        if name in self._fixed_params:
            value = self._fixed_params[name]
            if contains_external(distribution, value):
                return value
            warnings.warn(
                f"The fixed value {value!r} of {name!r} is outside its domain "
                f"{distribution!r}; trial {trial.number} samples one inside it instead.",
                stacklevel=2)
        return self._base_sampler.sample_independent(view, trial, name, distribution)

    def after_trial(self, view: StudyView, trial: FrozenTrial, state: TrialState,
                    values: Sequence[float] | None) -> dict[str, Any] | None:
        return self._base_sampler.after_trial(view, trial, state, values)
