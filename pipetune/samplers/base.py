"""The sampler interface: how a study asks an algorithm for the next params.

Call order for one trial: ``is_exhausted`` (before the claim) -> ``before_trial`` (once,
after the trial is claimed) -> ``infer_relative_search_space`` and ``sample_relative`` (once,
at the first suggestion, for the params the algorithm samples jointly) ->
``sample_independent`` (for each param the joint sample did not cover: new, conditional or
changed ones) -> ``after_trial`` (once, when it finishes; what it returns is recorded on the
trial as system attributes before the trial is finished). Samplers see a read-only
``StudyView`` (``pipetune.view``); they never hold the storage. Values passed in and out are
user-facing (external) values.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pipetune.datatypes import FrozenTrial, TrialState
from pipetune.distributions import Distribution
from pipetune.samplers._rng import TrialRandomness

if TYPE_CHECKING:
    from pipetune.view import StudyView


class BaseSampler(abc.ABC):
    """Proposes params for trials from the history of the study."""

    def before_trial(self, view: StudyView, trial: FrozenTrial) -> dict[str, Any]:
        """Called once a trial is claimed; returns system attributes to record on it."""
        return {}

    def infer_relative_search_space(self, view: StudyView,
                                    trial: FrozenTrial) -> dict[str, Distribution]:
        """The params this sampler wants to sample jointly for ``trial``."""
        return {}

    def sample_relative(self, view: StudyView, trial: FrozenTrial,
                        search_space: dict[str, Distribution]) -> dict[str, Any]:
        """Joint values for (a subset of) ``search_space``."""
        return {}

    @abc.abstractmethod
    def sample_independent(self, view: StudyView, trial: FrozenTrial, name: str,
                           distribution: Distribution) -> Any:
        """A value for one param the joint sample did not cover."""

    def after_trial(self, view: StudyView, trial: FrozenTrial, state: TrialState,
                    values: Sequence[float] | None) -> dict[str, Any] | None:
        """Called once when ``trial`` finishes (before the result is stored); returns system
        attributes to record on it (None: nothing to record)."""
        return None

    def reseed_rng(self) -> None:
        """Gives the sampler, and every sampler it delegates to, a fresh random seed, so that
        it stops repeating the draws of its copies. Optuna needs this for copies of one
        sampler run in parallel; here every draw derives from the seed and the trial number,
        so parallel trials differ anyway, and this only makes the draws from now on differ
        from a seeded run's."""
        for value in vars(self).values():
            if isinstance(value, TrialRandomness):
                value.reseed()
            elif isinstance(value, BaseSampler):
                value.reseed_rng()

    def is_exhausted(self, view: StudyView) -> bool:
        """Whether the sampler has nothing left to propose (a finite grid); stops the study.
        Asked before each claim, with a freshly read view, when ``can_exhaust`` is True."""
        return False

    @property
    def can_exhaust(self) -> bool:
        """Whether ``is_exhausted`` may ever be True: by default, whether the sampler's class
        defines its own. False spares the study a read of its history before each claim."""
        return type(self).is_exhausted is not BaseSampler.is_exhausted

    @property
    def needs_history(self) -> bool:
        """Whether sampling reads past trials; False lets a study skip fetching them."""
        return True
