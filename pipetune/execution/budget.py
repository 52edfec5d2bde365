"""The study-wide budget: at most ``max_trials`` trials started (and not failed), at most
``max_parallel`` of them running at once, across every process and machine running the study.

SageMaker's ``max_jobs`` / ``max_parallel_jobs`` for pipetune. The budget lives in the study's
system attrs, so every process that opens the study follows it, and the storage enforces it in
each claim's own transaction (``BaseStorage.claim_trial``), so workers together never overshoot.
A claim refused for ``max_parallel`` waits for a running trial to finish; one refused for
``max_trials`` ends the caller's run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pipetune._attrs import MAX_PARALLEL_ATTR, MAX_TRIALS_ATTR
from pipetune.datatypes import TrialState
from pipetune.errors import InvalidArgumentError

if TYPE_CHECKING:
    from pipetune.storage.base import BaseStorage

_STARTED = (TrialState.RUNNING, TrialState.COMPLETE, TrialState.PRUNED)

# How often a claim refused for max_parallel is tried again (see
# ``RunInterface.claim_within_budget``).
PARALLEL_POLL_SECONDS = 0.2


@dataclass(frozen=True)
class Budget:
    """A study's limits; None means no limit."""

    max_trials: int | None = None
    max_parallel: int | None = None

    def __post_init__(self) -> None:
        for name in ("max_trials", "max_parallel"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or value < 1):
                raise InvalidArgumentError(
                    f"The study-wide '{name}' must be a positive int or None. Got {value!r}.")

    @classmethod
    def from_attrs(cls, attrs: dict[str, Any]) -> Budget:
        return cls(*(None if attrs.get(key) is None else int(attrs[key])
                     for key in (MAX_TRIALS_ATTR, MAX_PARALLEL_ATTR)))

    def store(self, storage: BaseStorage, study_id: int) -> None:
        """Writes the limits that are set; the others keep their stored value."""
        for key, value in ((MAX_TRIALS_ATTR, self.max_trials),
                           (MAX_PARALLEL_ATTR, self.max_parallel)):
            if value is not None:
                storage.set_study_attr(study_id, key, value, system=True)

    def is_spent(self, storage: BaseStorage, study_id: int) -> bool:
        """Whether ``max_trials`` trials have started and not failed."""
        return self.max_trials is not None and \
            storage.count_trials(study_id, _STARTED) >= self.max_trials

