"""The storage interface: the one place that persists studies and trials.

Every method is one atomic operation: it either happens whole or raises and changes nothing.
Call order for one trial: ``claim_trial`` (a WAITING trial, or a new one) ->
``set_trial_params`` for the suggested params (in one or more batches) -> any number of
``set_trial_intermediate_value`` / attrs -> ``finish_trial``. A finished trial (COMPLETE,
PRUNED, FAIL) never changes again, which is what lets ``get_trials_since`` serve study history
incrementally (see ``storage/cached.py``). Metrics, artifacts and search are the tracking half
of the interface (``TrackingStorage``).
Implementations prove they keep this contract by passing ``pipetune.testing.storage``.
"""

from __future__ import annotations

import abc
import os
import unicodedata
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from pipetune._attrs import (
    FIXED_PARAMS_ATTR,
    RETRY_COUNT_ATTR,
    RETRY_HISTORY_ATTR,
    RETRY_OF_ATTR,
)
from pipetune.datatypes import (
    ArtifactInfo,
    FrozenTrial,
    MetricPoint,
    StudyDirection,
    StudySummary,
    TrialState,
)
from pipetune.distributions import Distribution
from pipetune.errors import InvalidArgumentError

MAX_STUDY_NAME_LENGTH = 512  # the studies.study_name column of SQL storage


def check_study_name(study_name: Any) -> None:
    """Raises InvalidArgumentError unless ``study_name`` is a name every storage can hold: a
    string of 1 to 512 characters, not only spaces, without control characters (NUL, which
    PostgreSQL refuses, newlines and tabs, which break listings and log folders). Every
    storage checks names with it, so one name is valid everywhere or nowhere."""
    if not isinstance(study_name, str) or not study_name.strip() \
            or len(study_name) > MAX_STUDY_NAME_LENGTH \
            or any(unicodedata.category(char) == "Cc" for char in study_name):
        shown = repr(study_name) if len(repr(study_name)) <= 80 else \
            f"{repr(study_name)[:60]}... ({len(study_name)} characters)"
        raise InvalidArgumentError(
            f"A study name must be a string of 1 to {MAX_STUDY_NAME_LENGTH} characters, not "
            f"only spaces and without control characters (NUL, newline, tab). Got {shown}.")


def retry_attrs(failed: FrozenTrial, fixed_params: dict[str, Any] | None,
                retry_failed: int) -> dict[str, Any] | None:
    """System attrs of the WAITING retry of a trial failed by heartbeat, or None when its chain
    already had ``retry_failed`` retries. It takes the params the trial had fixed (enqueued)
    plus those it suggested before its worker died."""
    retries = int(failed.system_attrs.get(RETRY_COUNT_ATTR, 0))
    if retries >= retry_failed:
        return None
    return {FIXED_PARAMS_ATTR: {**(fixed_params or {}), **failed.params},
            RETRY_OF_ATTR: failed.number, RETRY_COUNT_ATTR: retries + 1,
            RETRY_HISTORY_ATTR: [*failed.system_attrs.get(RETRY_HISTORY_ATTR, []), failed.number]}


def stale_trial_reason(silent_for: float, worker: str | None) -> str:
    """The ``fail_reason`` of a trial failed by ``fail_stale_trials``."""
    return (f"no heartbeat for {silent_for:.0f}s (worker {worker or 'unknown'} presumed dead)")


class TrackingStorage(abc.ABC):
    """The tracking half of the storage interface: metric series, artifacts and trial search.

    Metrics and artifacts are records beside a trial, not part of its FrozenTrial: they may be
    written in any state (an evaluation logged after the trial finished), so the cached history
    of finished trials stays valid. Every storage implements it (``BaseStorage`` extends it);
    ``pipetune.testing.storage`` checks its behaviours with the rest of the contract.
    """

    @abc.abstractmethod
    def add_trial_metrics(self, trial_id: int, points: Sequence[MetricPoint]) -> None:
        """Appends points to the trial's named metric series, all or none; raises
        TrialNotFoundError for an unknown trial. A step may hold several points: the last
        one logged is the metric's value at that step."""

    @abc.abstractmethod
    def get_metric_history(self, trial_id: int, name: str | None = None) -> list[MetricPoint]:
        """The trial's metric points (of one series with ``name``), ordered by name, step and
        logging order."""

    @abc.abstractmethod
    def get_last_metrics(self, study_id: int) -> dict[int, dict[str, float]]:
        """trial_id -> metric name -> last value (of the largest step; the last logged on
        ties) for every trial of the study that logged metrics."""

    @abc.abstractmethod
    def put_artifact(self, trial_id: int, name: str, data: bytes | str | os.PathLike[str],
                     media_type: str | None = None) -> ArtifactInfo:
        """Stores bytes (or a copy of the file at a path) as the trial's artifact ``name``
        (a relative path; ``/`` separates sub-folders), replacing one of that name; the
        media type defaults to a guess from the name."""

    @abc.abstractmethod
    def list_artifacts(self, trial_id: int) -> list[ArtifactInfo]:
        """The trial's artifacts ordered by name."""

    @abc.abstractmethod
    def read_artifact(self, trial_id: int, name: str, *,
                      last_bytes: int | None = None) -> bytes:
        """The bytes of an artifact, or only its last ``last_bytes`` (a log's tail, read
        without reading the rest); raises ArtifactNotFoundError if the trial has none of that
        name."""

    @abc.abstractmethod
    def search_trials(self, study_id: int, filter: str | None = None,
                      order_by: str | None = None, limit: int | None = None,
                      offset: int = 0) -> list[FrozenTrial]:
        """The study's trials matching a filter of the search language
        (``pipetune.search``), ordered by ``order_by`` (else by number), from
        ``offset`` and at most ``limit`` of them; raises FilterSyntaxError for a bad filter."""


class BaseStorage(TrackingStorage):
    """Persists studies and their trials, their metrics and artifacts; safe to share between
    threads."""

    # -- studies -------------------------------------------------------------------------------

    @abc.abstractmethod
    def create_study(self, study_name: str, directions: Sequence[StudyDirection]) -> int:
        """Creates a study and returns its id; raises DuplicateStudyError if the name is taken."""

    @abc.abstractmethod
    def delete_study(self, study_id: int) -> None:
        """Deletes a study with all its trials; raises StudyNotFoundError if absent."""

    @abc.abstractmethod
    def get_study_id(self, study_name: str) -> int:
        """The id of the named study; raises StudyNotFoundError if absent."""

    @abc.abstractmethod
    def get_study_name(self, study_id: int) -> str: ...

    @abc.abstractmethod
    def get_study_directions(self, study_id: int) -> tuple[StudyDirection, ...]: ...

    @abc.abstractmethod
    def set_study_attr(self, study_id: int, key: str, value: Any, *, system: bool = False) -> None:
        """Sets a JSON-serializable study attribute (a user attr, or a system one)."""

    @abc.abstractmethod
    def get_study_attrs(self, study_id: int, *, system: bool = False) -> dict[str, Any]: ...

    @abc.abstractmethod
    def list_studies(self) -> list[StudySummary]:
        """Every study with its trial count and best trial, ordered by id."""

    # -- trials --------------------------------------------------------------------------------

    @abc.abstractmethod
    def create_trial(
        self,
        study_id: int,
        *,
        state: TrialState = TrialState.WAITING,
        system_attrs: dict[str, Any] | None = None,
    ) -> FrozenTrial:
        """Adds a trial with the next number (a WAITING one for ``enqueue_trial``)."""

    @abc.abstractmethod
    def add_trial(self, study_id: int, trial: FrozenTrial) -> FrozenTrial:
        """Adds a whole trial as the study's next one, in one atomic operation, and returns it
        as stored: its state, values, params with their distributions, intermediate values,
        user and system attrs, start and completion times and worker as ``trial`` has them
        (its number and id are this storage's). What ``Study.add_trial`` and copying a study
        from another storage write. A WAITING trial joins the queue ``claim_trial`` takes from;
        a RUNNING one beats from now. Raises InvalidArgumentError for attrs JSON cannot hold,
        changing nothing."""

    @abc.abstractmethod
    def claim_trial(self, study_id: int, worker: str | None = None,
                    max_trials: int | None = None,
                    max_parallel: int | None = None) -> FrozenTrial | None:
        """Atomically turns the oldest WAITING trial RUNNING, or creates a new RUNNING trial.

        Two callers never receive the same trial, whatever process or machine they run on.
        The study-wide budget, checked in the claim's own transaction so workers on many
        machines never overshoot it: nothing is claimed and None is returned when the study
        already has ``max_trials`` started trials that did not fail (RUNNING, COMPLETE or
        PRUNED; WAITING ones have not started and FAIL ones are retried), or ``max_parallel``
        RUNNING trials.
        """

    @abc.abstractmethod
    def set_trial_params(
        self, trial_id: int, params: Mapping[str, tuple[float, Distribution]]
    ) -> None:
        """Records suggested params, name -> (internal value, distribution), all or none:
        raises if the trial is finished or one of the names is already set on it. Trials
        batch their suggestions (see ``pipetune.trial``), so one call usually carries all of a
        trial's params."""

    @abc.abstractmethod
    def finish_trial(
        self, trial_id: int, state: TrialState, values: Sequence[float] | None = None
    ) -> bool:
        """Moves a RUNNING trial to a finished state with its values.

        Returns False, changing nothing, when the trial was already finished (by another
        process, e.g. a heartbeat check); raises TrialNotFoundError when it does not exist.
        """

    @abc.abstractmethod
    def set_trial_intermediate_value(self, trial_id: int, step: int,
                                     value: float | tuple[float, ...]) -> bool:
        """Records a value at a step (a tuple, one per objective, in multi-objective studies);
        returns False (ignored) if that step already has one. NaN and inf are kept."""

    @abc.abstractmethod
    def set_trial_attr(self, trial_id: int, key: str, value: Any, *, system: bool = False) -> None:
        """Sets a JSON-serializable trial attribute; raises if the trial is finished."""

    @abc.abstractmethod
    def get_trial(self, trial_id: int) -> FrozenTrial: ...

    @abc.abstractmethod
    def get_trial_id(self, study_id: int, number: int) -> int:
        """The id of a study's trial by its number; raises TrialNotFoundError if absent."""

    @abc.abstractmethod
    def get_trials(
        self, study_id: int, states: Collection[TrialState] | None = None
    ) -> list[FrozenTrial]:
        """The study's trials ordered by number, optionally only those in ``states``."""

    @abc.abstractmethod
    def get_trials_since(
        self, study_id: int, last_seen_id: int, also_ids: Collection[int] = ()
    ) -> list[FrozenTrial]:
        """Trials with id > ``last_seen_id`` plus those listed in ``also_ids``.

        The incremental read behind the cached study history: a caller passes the largest id it
        has seen and the ids it saw unfinished, so its cost does not grow with the study.
        """

    @abc.abstractmethod
    def count_trials(self, study_id: int, states: Collection[TrialState] | None = None) -> int: ...

    @abc.abstractmethod
    def claim_key(self, study_id: int, key: str, trial_id: int) -> bool:
        """Atomic first-come reservation of a study-wide key for a trial.

        Returns True for the first caller and False for every later one. Samplers that hand out
        a finite set of candidates (the grid) use it so parallel workers never repeat one.
        """

    # -- liveness (heartbeats) ------------------------------------------------------------------

    @abc.abstractmethod
    def heartbeat(self, trial_id: int) -> None:
        """Records that the worker running the trial is alive now; does nothing once the trial
        is no longer RUNNING (a finished trial never changes)."""

    @abc.abstractmethod
    def fail_stale_trials(self, study_id: int, grace_period: float,
                          retry_failed: int = 0) -> list[FrozenTrial]:
        """Fails, in one transaction, the study's RUNNING trials whose last heartbeat (or start,
        if they never beat) is more than ``grace_period`` seconds old, recording the system attr
        ``fail_reason``; returns them as now stored. Each such trial is returned by exactly one
        caller. With ``retry_failed=N`` the same transaction enqueues a WAITING retry of each
        (see ``retry_attrs``), so no claim can take the freed budget slot in between."""

    def close(self) -> None:
        """Releases connections; the storage must not be used afterwards."""
