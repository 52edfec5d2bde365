"""The sampler interface: how a study asks an algorithm for the next params.

Call order for one trial: ``before_trial`` (once, after the trial is claimed) ->
``infer_relative_search_space`` and ``sample_relative`` (once, at the first suggestion, for the
params the algorithm samples jointly) -> ``sample_independent`` (for each param the joint sample
did not cover: new, conditional or changed ones) -> ``after_trial`` (once, when it finishes).
Samplers see a read-only ``StudyView``; they never hold the storage. Values passed in and out
are user-facing (external) values.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pipetune.datatypes import FrozenTrial, TrialState
from pipetune.distributions import Distribution

if TYPE_CHECKING:
    from pipetune.storage.cached import StudyHistory, StudyView


class BaseSampler(abc.ABC):
    """Proposes params for trials from the history of the study."""

    def before_trial(self, study: "StudyView", trial: FrozenTrial) -> dict[str, Any]:
        """Called once a trial is claimed; returns system attributes to record on it."""
        return {}

    def infer_relative_search_space(self, study: "StudyView",
                                    trial: FrozenTrial) -> dict[str, Distribution]:
        """The params this sampler wants to sample jointly for ``trial``."""
        return {}

    def sample_relative(self, study: "StudyView", trial: FrozenTrial,
                        search_space: dict[str, Distribution]) -> dict[str, Any]:
        """Joint values for (a subset of) ``search_space``."""
        return {}

    @abc.abstractmethod
    def sample_independent(self, study: "StudyView", trial: FrozenTrial, name: str,
                           distribution: Distribution) -> Any:
        """A value for one param the joint sample did not cover."""

    def after_trial(self, study: "StudyView", trial: FrozenTrial, state: TrialState,
                    values: Sequence[float] | None) -> None:
        """Called once when ``trial`` finishes (before the result is stored)."""

    def is_exhausted(self, history: "StudyHistory") -> bool:
        """Whether the sampler has nothing left to propose (a finite grid); stops the study."""
        return False

    @property
    def needs_history(self) -> bool:
        """Whether sampling reads past trials; False lets a study skip fetching them."""
        return True
