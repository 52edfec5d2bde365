"""Plain data shared by every layer: trial states, directions, frozen trial records, study
summaries, and the records of experiment tracking (metric points, stored artifacts,
experiments)."""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from pipetune.base_trial import BaseTrial, add_constraint, given_value
from pipetune.distributions import Distribution
from pipetune.errors import ArgumentTypeError, InvalidArgumentError, InvalidCallError


class TrialState(enum.IntEnum):
    """Where a trial is in its life: WAITING -> RUNNING -> COMPLETE | PRUNED | FAIL.

    Printed by name, ``TrialState.COMPLETE`` (as Optuna prints it), though it is an int."""

    RUNNING = 0
    COMPLETE = 1
    PRUNED = 2
    FAIL = 3
    WAITING = 4

    def __str__(self) -> str:
        return f"{type(self).__name__}.{self.name}"

    def is_finished(self) -> bool:
        return self in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)

    @classmethod
    def parse(cls, value: TrialState | str | int) -> TrialState:
        """Accepts a state, its name in any case, or its number."""
        if isinstance(value, TrialState):
            return value
        try:
            if isinstance(value, str):
                return cls[value.strip().upper()]
            return cls(value)
        except (KeyError, ValueError):
            names = ", ".join(s.name for s in cls)
            raise InvalidArgumentError(
                f"Unknown trial state {value!r}. Use one of {names}.") from None


class StudyDirection(enum.IntEnum):
    """Whether an objective is minimized or maximized."""

    MINIMIZE = 1
    MAXIMIZE = 2

    @classmethod
    def parse(cls, value: StudyDirection | str) -> StudyDirection:
        if isinstance(value, StudyDirection):
            return value
        if isinstance(value, str) and value.strip().lower() in ("minimize", "maximize"):
            return cls[value.strip().upper()]
        raise InvalidArgumentError(
            f"A direction must be 'minimize' or 'maximize'. Got {value!r}."
        )


FINISHED_STATES = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL)


@dataclass(frozen=True, init=False, repr=False)
class FrozenTrial(BaseTrial):
    """A snapshot of one trial as the storage holds it.

    ``params`` are user-facing values and ``distributions`` the domain each was drawn from (kept
    per trial, so a categorical param whose choices changed between trials stays readable).

    It takes Optuna's arguments, ``FrozenTrial(number=0, state=TrialState.COMPLETE, value=0.5,
    ..., trial_id=0)`` (``value=`` or ``values=``); ``pipetune.trial.create_trial`` builds and
    checks one to add to a study. An objective may run on it: ``objective(study.best_trial)``
    gets the params the trial had from ``suggest_*`` (see ``pipetune.base_trial``), its reports
    are ignored and it is never pruned. Its fields cannot be reassigned; ``set_user_attr`` and
    ``set_constraint`` add to its dicts, as an objective run on it expects.
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
    intermediate_values: dict[int, float | tuple[float, ...]] = field(default_factory=dict)
    datetime_start: dt.datetime | None = None
    datetime_complete: dt.datetime | None = None
    worker: str | None = None

    def __init__(self, number: int, state: TrialState, value: float | None = None,
                 datetime_start: dt.datetime | None = None,
                 datetime_complete: dt.datetime | None = None,
                 params: dict[str, Any] | None = None,
                 distributions: dict[str, Distribution] | None = None,
                 user_attrs: dict[str, Any] | None = None,
                 system_attrs: dict[str, Any] | None = None,
                 intermediate_values: dict[int, float | tuple[float, ...]] | None = None,
                 trial_id: int | None = None, *, values: Sequence[float] | None = None,
                 worker: str | None = None) -> None:
        if trial_id is None:
            raise ArgumentTypeError(
                "FrozenTrial needs trial_id=, the trial's id in its storage (-1 for a trial "
                "not stored).")
        if value is not None:
            if values is not None:
                raise InvalidArgumentError("Give a FrozenTrial value= or values=, not both.")
            values = (value,)
        assign = object.__setattr__  # the fields of a frozen dataclass, set once here
        assign(self, "number", number)
        assign(self, "trial_id", trial_id)
        assign(self, "state", state)
        assign(self, "values", None if values is None else tuple(values))
        assign(self, "params", {} if params is None else params)
        assign(self, "distributions", {} if distributions is None else distributions)
        assign(self, "user_attrs", {} if user_attrs is None else user_attrs)
        assign(self, "system_attrs", {} if system_attrs is None else system_attrs)
        assign(self, "intermediate_values",
               {} if intermediate_values is None else intermediate_values)
        assign(self, "datetime_start", datetime_start)
        assign(self, "datetime_complete", datetime_complete)
        assign(self, "worker", worker)

    def __repr__(self) -> str:  # Optuna's order of fields, so printed trials read the same
        values = None if self.values is None else list(self.values)
        worker = "" if self.worker is None else f", worker={self.worker!r}"
        return (f"FrozenTrial(number={self.number!r}, state={self.state!r}, values={values!r}, "
                f"datetime_start={self.datetime_start!r}, "
                f"datetime_complete={self.datetime_complete!r}, params={self.params!r}, "
                f"user_attrs={self.user_attrs!r}, system_attrs={self.system_attrs!r}, "
                f"intermediate_values={self.intermediate_values!r}, "
                f"distributions={self.distributions!r}, trial_id={self.trial_id!r}{worker})")

    def __lt__(self, other: object) -> bool:  # trials sort by number
        if not isinstance(other, FrozenTrial):
            return NotImplemented
        return self.number < other.number

    def __le__(self, other: object) -> bool:
        if not isinstance(other, FrozenTrial):
            return NotImplemented
        return self.number <= other.number

    # -- the objective's side (see BaseTrial) ---------------------------------------------------

    def suggest(self, name: str, distribution: Distribution) -> Any:
        """The value the trial had for ``name`` (see ``pipetune.base_trial.given_value``)."""
        return given_value(f"Trial {self.number}", self.params, self.distributions, name,
                           distribution)

    def report(self, value: Any, step: int) -> None:
        """Ignored: the trial is stored already."""

    def should_prune(self) -> bool:
        """False: a stored trial is not pruned again."""
        return False

    def set_user_attr(self, key: str, value: Any) -> None:
        """Adds ``key`` to this record's ``user_attrs`` (not to the stored trial)."""
        self.user_attrs[key] = value

    def set_constraint(self, key: str, value: float) -> None:
        """Adds the constraint ``key`` to this record's system attrs (see ``constraints``)."""
        self.system_attrs.update(add_constraint(self.system_attrs, key, value) or {})

    @property
    def value(self) -> float | None:
        """The objective value of a single-objective trial (None until it completes)."""
        if self.values is None:
            return None
        if len(self.values) != 1:
            raise InvalidCallError(
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


class MetricPoint(NamedTuple):
    """One value of a named metric series of a trial, at a step (an epoch, a batch count).

    ``timestamp`` is seconds since the epoch (``time.time()``) when it was logged; ``value``
    may be NaN or infinite. A named tuple rather than a frozen dataclass: training loops log
    points by the hundred thousand, and a tuple is built several times faster.
    """

    name: str
    step: int
    value: float
    timestamp: float


@dataclass(frozen=True)
class ArtifactInfo:
    """A file stored with a trial: its name (``/`` separates sub-folders), size in bytes and
    media type (``text/plain``, ``image/png``, ...)."""

    trial_id: int
    name: str
    size: int
    media_type: str
    created_at: dt.datetime


@dataclass(frozen=True)
class ExperimentSummary:
    """One line of ``list_experiments``: a named group of studies and standalone runs."""

    name: str
    n_studies: int
    n_runs: int
    study_names: tuple[str, ...]
