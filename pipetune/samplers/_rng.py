"""Per-trial random generators derived from (seed, trial number).

Deriving randomness from the trial number instead of one running stream makes a seeded study
reproducible when it is resumed in a new process, and independent of thread scheduling.
"""

from __future__ import annotations

import secrets
import threading
import zlib

import numpy as np

from pipetune.datatypes import FrozenTrial


class TrialRandomness:
    """Hands out one ``numpy.random.Generator`` per (trial, purpose)."""

    def __init__(self, seed: int | None) -> None:
        self.seed = _fresh_seed() if seed is None else int(seed)
        self._generators: dict[tuple[int, str], np.random.Generator] = {}
        self._lock = threading.Lock()

    def reseed(self) -> None:
        """A fresh random seed for the draws not made yet (``BaseSampler.reseed_rng``)."""
        with self._lock:
            self.seed = _fresh_seed()
            self._generators.clear()

    def for_trial(self, trial: FrozenTrial, purpose: str) -> np.random.Generator:
        key = (trial.trial_id, purpose)
        rng = self._generators.get(key)
        if rng is None:
            with self._lock:
                rng = self._generators.get(key)
                if rng is None:
                    entropy = [self.seed, trial.number, zlib.crc32(purpose.encode())]
                    rng = np.random.Generator(np.random.PCG64(entropy))
                    self._generators[key] = rng
        return rng

    def forget(self, trial: FrozenTrial) -> None:
        with self._lock:
            for key in [k for k in self._generators if k[0] == trial.trial_id]:
                del self._generators[key]


def _fresh_seed() -> int:
    return secrets.randbits(63)
