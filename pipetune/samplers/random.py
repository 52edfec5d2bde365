"""Uniform random search (Bergstra & Bengio 2012): the baseline every sampler must beat."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pipetune.datatypes import FrozenTrial, TrialState
from pipetune.distributions import Distribution
from pipetune.samplers._rng import TrialRandomness
from pipetune.samplers._unit import from_unit
from pipetune.samplers.base import BaseSampler


class RandomSampler(BaseSampler):
    """Draws every param independently and uniformly (log-uniformly for log domains).

    Each trial's draws come from a generator seeded by ``(seed, trial number)``, so a seeded
    study is reproducible even when resumed in another process or run on several threads.
    """

    def __init__(self, seed: int | None = None) -> None:
        self._randomness = TrialRandomness(seed)

    @property
    def needs_history(self) -> bool:
        return False

    def sample_independent(self, view, trial: FrozenTrial, name: str,
                           distribution: Distribution) -> Any:
        rng = self._randomness.for_trial(trial, "random")
        return from_unit(distribution, float(rng.random()))

    def after_trial(self, view, trial: FrozenTrial, state: TrialState,
                    values: Sequence[float] | None) -> None:
        self._randomness.forget(trial)

