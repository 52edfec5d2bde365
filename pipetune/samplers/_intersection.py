"""The search space every completed trial shares: what a sampler that models all params
jointly (GP, CMA-ES) can fit on. Kept up to date incrementally from ``StudyView.finished_log``."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from pipetune.datatypes import FrozenTrial, TrialState
from pipetune.distributions import Distribution


class IntersectionSearchSpace:
    """The params present, with the same domain, in every COMPLETE trial read so far; params
    outside it (conditional, added or changed later) are left to an independent sampler."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._read = 0
        self._space: dict[str, Distribution] | None = None

    def update(self, finished_log: Sequence[FrozenTrial]) -> dict[str, Distribution]:
        """Reads the trials finished since the last call; returns the space sorted by name
        (so a seeded study does not depend on the order storages return params in), without
        single-valued domains, which leave nothing to choose."""
        with self._lock:
            for trial in finished_log[self._read:]:
                if trial.state != TrialState.COMPLETE:
                    continue
                if self._space is None:
                    self._space = dict(trial.distributions)
                else:
                    self._space = {name: d for name, d in self._space.items()
                                   if trial.distributions.get(name) == d}
            self._read = len(finished_log)
            space = self._space or {}
        return {name: d for name, d in sorted(space.items()) if not d.single()}
