"""Plain data shared by every layer: trial states, directions, frozen trial records."""

from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field
from typing import Any

from pipetune.distributions import Distribution
from pipetune.errors import InvalidArgumentError


class TrialState(enum.IntEnum):
    """Where a trial is in its life: WAITING -> RUNNING -> COMPLETE | PRUNED | FAIL."""

    RUNNING = 0
    COMPLETE = 1
    PRUNED = 2
    FAIL = 3
    WAITING = 4

    def is_finished(self) -> bool:
        return self in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)

    @classmethod
    def parse(cls, value: "TrialState | str | int") -> "TrialState":
        """Accepts a state, its name in any case, or its number."""
        if isinstance(value, TrialState):
            return value
        try:
            if isinstance(value, str):
                return cls[value.strip().upper()]
            return cls(value)
        except (KeyError, ValueError):
            names = ", ".join(s.name for s in cls)
            raise InvalidArgumentError(f"Unknown trial state {value!r}. Use one of {names}.") from None


class StudyDirection(enum.IntEnum):
    """Whether an objective is minimized or maximized."""

    MINIMIZE = 1
    MAXIMIZE = 2

    @classmethod
    def parse(cls, value: "StudyDirection | str") -> "StudyDirection":
        if isinstance(value, StudyDirection):
            return value
        if isinstance(value, str) and value.strip().lower() in ("minimize", "maximize"):
            return cls[value.strip().upper()]
        raise InvalidArgumentError(
            f"A direction must be 'minimize' or 'maximize'. Got {value!r}."
        )


FINISHED_STATES = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


@dataclass(frozen=True)
class FrozenTrial:
    """A snapshot of one trial as the storage holds it.

    ``params`` are user-facing values and ``distributions`` the domain each was drawn from (kept
    per trial, so a categorical param whose choices changed between trials stays readable).
    """

    number: int
    trial_id: int
    state: TrialState
    values: tuple[float, ...] | None = None
    params: dict[str, Any] = field(default_factory=dict)
    distributions: dict[str, Distribution] = field(default_factory=dict)
    user_attrs: dict[str, Any] = field(default_factory=dict)
    system_attrs: dict[str, Any] = field(default_factory=dict)
    # step -> reported value; a tuple of one value per objective in multi-objective studies
    intermediate_values: dict[int, "float | tuple[float, ...]"] = field(default_factory=dict)
    datetime_start: dt.datetime | None = None
    datetime_complete: dt.datetime | None = None
    worker: str | None = None

    @property
    def value(self) -> float | None:
        """The objective value of a single-objective trial (None until it completes)."""
        if self.values is None:
            return None
        if len(self.values) != 1:
            raise InvalidArgumentError(
                f"Trial {self.number} has {len(self.values)} objective values; use .values."
            )
        return self.values[0]

    @property
    def duration(self) -> dt.timedelta | None:
        if self.datetime_start is None or self.datetime_complete is None:
            return None
        return self.datetime_complete - self.datetime_start

    @property
    def last_step(self) -> int | None:
        return max(self.intermediate_values) if self.intermediate_values else None

    def internal_params(self) -> dict[str, float]:
        """Params in the internal float encoding samplers work on."""
        return {name: self.distributions[name].to_internal(value)
                for name, value in self.params.items()}


@dataclass(frozen=True)
class StudySummary:
    """One line of ``list_studies``: a study's identity, size and best trial."""

    study_id: int
    study_name: str
    directions: tuple[StudyDirection, ...]
    n_trials: int
    best_trial: FrozenTrial | None
    datetime_start: dt.datetime | None
    user_attrs: dict[str, Any] = field(default_factory=dict)
    system_attrs: dict[str, Any] = field(default_factory=dict)

    @property
    def direction(self) -> StudyDirection:
        return self.directions[0]
