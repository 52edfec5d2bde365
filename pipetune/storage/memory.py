"""Storage in this process's memory: the fastest, gone when the process ends."""

from __future__ import annotations

import bisect
import copy
import datetime as dt
import json
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pipetune._attrs import FAIL_REASON_ATTR, FIXED_PARAMS_ATTR
from pipetune._best import best_trial_of
from pipetune.datatypes import (
    ArtifactInfo,
    FrozenTrial,
    MetricPoint,
    StudyDirection,
    StudySummary,
    TrialState,
)
from pipetune.distributions import Distribution
from pipetune.errors import (
    ArtifactNotFoundError,
    DuplicateStudyError,
    InvalidArgumentError,
    ParamConflictError,
    StudyNotFoundError,
    TrialNotFoundError,
    UpdateFinishedTrialError,
)
from pipetune.search import search
from pipetune.storage.artifacts import check_name, media_type_of, read_source
from pipetune.storage.base import BaseStorage, check_study_name, retry_attrs, stale_trial_reason


def _json_copy(value: Any) -> Any:
    # Attributes must survive every storage alike: reject what JSON cannot hold, and copy so the
    # caller mutating its object later does not change the record.
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError):
        raise InvalidArgumentError(
            f"Attributes must be JSON-serializable (str, number, bool, None, list, dict). Got "
            f"{value!r}: convert it first, e.g. str(value)."
        ) from None


@dataclass
class _Study:
    name: str
    directions: tuple[StudyDirection, ...]
    created: dt.datetime
    user_attrs: dict[str, Any] = field(default_factory=dict)
    system_attrs: dict[str, Any] = field(default_factory=dict)
    trial_ids: list[int] = field(default_factory=list)  # ascending, so bisect finds "since"
    waiting_ids: deque[int] = field(default_factory=deque)  # WAITING trials, oldest first
    claimed_keys: dict[str, int] = field(default_factory=dict)


def _with(trial: FrozenTrial, **changes: Any) -> FrozenTrial:
    """``dataclasses.replace`` without re-running field processing: the hot path of suggest."""
    fields = dict(trial.__dict__)
    fields.update(changes)
    return FrozenTrial(**fields)


# Trials that count against a study-wide budget: started and not failed.
_STARTED = (TrialState.RUNNING, TrialState.COMPLETE, TrialState.PRUNED)


class InMemoryStorage(BaseStorage):
    """Keeps studies as Python objects behind one lock; trials are immutable snapshots.

    ``clock`` (seconds, like ``time.time``) times heartbeats and dates studies, trials and
    artifacts; tests pass a fake one, and the journal storage (``storage/journal.py``) the time
    each replayed operation was logged, so every process replays the same dates.
    """

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._heartbeats: dict[int, float] = {}  # RUNNING trial id -> last beat
        self._lock = threading.RLock()
        self._studies: dict[int, _Study] = {}
        self._study_ids: dict[str, int] = {}
        self._trials: dict[int, FrozenTrial] = {}
        self._trial_study: dict[int, int] = {}
        self._next_study_id = 0
        self._next_trial_id = 0
        # tracking records, by trial id: metric points in logging order, artifacts by name
        self._metrics: dict[int, list[MetricPoint]] = {}
        self._artifacts: dict[int, dict[str, tuple[ArtifactInfo, bytes]]] = {}

    def _now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self._clock())

    # -- studies -------------------------------------------------------------------------------

    def _study(self, study_id: int) -> _Study:
        try:
            return self._studies[study_id]
        except KeyError:
            raise StudyNotFoundError(f"No study with id {study_id} in this storage.") from None

    def create_study(self, study_name: str, directions: Sequence[StudyDirection]) -> int:
        check_study_name(study_name)
        with self._lock:
            if study_name in self._study_ids:
                raise DuplicateStudyError(
                    f"A study named {study_name!r} already exists. Load it with "
                    "load_if_exists=True, or choose another study_name."
                )
            study_id = self._next_study_id
            self._next_study_id += 1
            self._studies[study_id] = _Study(study_name, tuple(directions), self._now())
            self._study_ids[study_name] = study_id
            return study_id

    def delete_study(self, study_id: int) -> None:
        with self._lock:
            study = self._study(study_id)
            for trial_id in study.trial_ids:
                del self._trials[trial_id]
                del self._trial_study[trial_id]
                self._metrics.pop(trial_id, None)
                self._artifacts.pop(trial_id, None)
            del self._study_ids[study.name]
            del self._studies[study_id]

    def get_study_id(self, study_name: str) -> int:
        check_study_name(study_name)
        with self._lock:
            try:
                return self._study_ids[study_name]
            except KeyError:
                raise StudyNotFoundError(
                    f"No study named {study_name!r} in this storage. Create it with "
                    "create_study, or check the name and the storage URL."
                ) from None

    def get_study_name(self, study_id: int) -> str:
        with self._lock:
            return self._study(study_id).name

    def get_study_directions(self, study_id: int) -> tuple[StudyDirection, ...]:
        with self._lock:
            return self._study(study_id).directions

    def set_study_attr(self, study_id: int, key: str, value: Any, *, system: bool = False) -> None:
        value = _json_copy(value)
        with self._lock:
            study = self._study(study_id)
            (study.system_attrs if system else study.user_attrs)[key] = value

    def get_study_attrs(self, study_id: int, *, system: bool = False) -> dict[str, Any]:
        with self._lock:
            study = self._study(study_id)
            return copy.deepcopy(study.system_attrs if system else study.user_attrs)

    def list_studies(self) -> list[StudySummary]:
        with self._lock:
            summaries = []
            for study_id, study in sorted(self._studies.items()):
                trials = [self._trials[i] for i in study.trial_ids]
                summaries.append(StudySummary(
                    study_id=study_id, study_name=study.name, directions=study.directions,
                    n_trials=len(trials), best_trial=best_trial_of(trials, study.directions),
                    datetime_start=study.created, user_attrs=copy.deepcopy(study.user_attrs),
                    system_attrs=copy.deepcopy(study.system_attrs)))
            return summaries

    # -- trials --------------------------------------------------------------------------------

    def _add_trial(self, study_id: int, trial: FrozenTrial) -> FrozenTrial:
        study = self._study(study_id)
        trial = _with(trial, trial_id=self._next_trial_id, number=len(study.trial_ids))
        self._next_trial_id += 1
        self._trials[trial.trial_id] = trial
        self._trial_study[trial.trial_id] = study_id
        study.trial_ids.append(trial.trial_id)
        if trial.state == TrialState.WAITING:
            study.waiting_ids.append(trial.trial_id)
        elif trial.state == TrialState.RUNNING:
            self._heartbeats[trial.trial_id] = self._clock()
        return trial

    def create_trial(self, study_id: int, *, state: TrialState = TrialState.WAITING,
                     system_attrs: dict[str, Any] | None = None) -> FrozenTrial:
        system_attrs = _json_copy(system_attrs or {})
        with self._lock:
            start = self._now() if state == TrialState.RUNNING else None
            return self._add_trial(study_id, FrozenTrial(
                number=-1, trial_id=-1, state=state, system_attrs=system_attrs,
                datetime_start=start))

    def add_trial(self, study_id: int, trial: FrozenTrial) -> FrozenTrial:
        copied = _with(
            trial, values=None if trial.values is None else tuple(map(float, trial.values)),
            params=dict(trial.params), distributions=dict(trial.distributions),
            user_attrs=_json_copy(trial.user_attrs), system_attrs=_json_copy(trial.system_attrs),
            intermediate_values={int(step): tuple(map(float, value)) if isinstance(value, tuple)
                                 else float(value)
                                 for step, value in sorted(trial.intermediate_values.items())})
        with self._lock:
            return self._add_trial(study_id, copied)

    def claim_trial(self, study_id: int, worker: str | None = None,
                    max_trials: int | None = None,
                    max_parallel: int | None = None) -> FrozenTrial | None:
        with self._lock:
            study = self._study(study_id)
            if max_trials is not None and self.count_trials(study_id, _STARTED) >= max_trials:
                return None
            if max_parallel is not None and self.count_trials(
                    study_id, (TrialState.RUNNING,)) >= max_parallel:
                return None
            while study.waiting_ids:
                trial = self._trials.get(study.waiting_ids.popleft())
                if trial is not None and trial.state == TrialState.WAITING:
                    trial = _with(trial, state=TrialState.RUNNING,
                                    datetime_start=self._now(), worker=worker)
                    self._trials[trial.trial_id] = trial
                    self._heartbeats[trial.trial_id] = self._clock()
                    return trial
            return self._add_trial(study_id, FrozenTrial(
                number=-1, trial_id=-1, state=TrialState.RUNNING,
                datetime_start=self._now(), worker=worker))

    def _running(self, trial_id: int) -> FrozenTrial:
        trial = self._trial(trial_id)
        if trial.state.is_finished():
            raise UpdateFinishedTrialError(
                f"Trial {trial.number} is already {trial.state.name}; a finished trial cannot "
                "be changed."
            )
        return trial

    def _trial(self, trial_id: int) -> FrozenTrial:
        try:
            return self._trials[trial_id]
        except KeyError:
            raise TrialNotFoundError(f"No trial with id {trial_id} in this storage.") from None

    def set_trial_params(self, trial_id: int,
                         params: Mapping[str, tuple[float, Distribution]]) -> None:
        with self._lock:
            trial = self._running(trial_id)
            for name in params:
                if name in trial.params:
                    raise ParamConflictError(
                        f"Param {name!r} is already set on trial {trial.number}; a param is "
                        "suggested once per trial.")
            self._trials[trial_id] = _with(
                trial,
                params={**trial.params, **{name: distribution.to_external(internal)
                                           for name, (internal, distribution) in params.items()}},
                distributions={**trial.distributions,
                               **{name: distribution
                                  for name, (_, distribution) in params.items()}})

    def finish_trial(self, trial_id: int, state: TrialState,
                     values: Sequence[float] | None = None) -> bool:
        with self._lock:
            trial = self._trial(trial_id)
            if trial.state.is_finished():
                return False
            self._heartbeats.pop(trial_id, None)
            self._trials[trial_id] = _with(
                trial, state=state, values=None if values is None else tuple(map(float, values)),
                datetime_complete=self._now(),
                datetime_start=trial.datetime_start or self._now())
            return True

    def set_trial_intermediate_value(self, trial_id: int, step: int,
                                     value: float | tuple[float, ...]) -> bool:
        with self._lock:
            trial = self._running(trial_id)
            if step in trial.intermediate_values:
                return False
            value = tuple(map(float, value)) if isinstance(value, tuple) else float(value)
            values = dict(sorted({**trial.intermediate_values, step: value}.items()))
            self._trials[trial_id] = _with(trial, intermediate_values=values)
            return True

    def set_trial_attr(self, trial_id: int, key: str, value: Any, *, system: bool = False) -> None:
        value = _json_copy(value)
        with self._lock:
            trial = self._running(trial_id)
            if system:
                trial = _with(trial, system_attrs={**trial.system_attrs, key: value})
            else:
                trial = _with(trial, user_attrs={**trial.user_attrs, key: value})
            self._trials[trial_id] = trial

    def get_trial(self, trial_id: int) -> FrozenTrial:
        with self._lock:
            return self._trial(trial_id)

    def get_trial_id(self, study_id: int, number: int) -> int:
        with self._lock:
            trial_ids = self._study(study_id).trial_ids
            if not 0 <= number < len(trial_ids):
                raise TrialNotFoundError(f"No trial number {number} in this study.")
            return trial_ids[number]

    def get_trials(self, study_id: int,
                   states: Collection[TrialState] | None = None) -> list[FrozenTrial]:
        with self._lock:
            trials = [self._trials[i] for i in self._study(study_id).trial_ids]
        if states is not None:
            trials = [t for t in trials if t.state in states]
        return trials

    def get_trials_since(self, study_id: int, last_seen_id: int,
                         also_ids: Collection[int] = ()) -> list[FrozenTrial]:
        with self._lock:
            trial_ids = self._study(study_id).trial_ids
            start = bisect.bisect_right(trial_ids, last_seen_id)
            older = sorted(i for i in also_ids if i <= last_seen_id and i in self._trials)
            return [self._trials[i] for i in older + trial_ids[start:]]

    def count_trials(self, study_id: int, states: Collection[TrialState] | None = None) -> int:
        with self._lock:
            trial_ids = self._study(study_id).trial_ids
            if states is None:
                return len(trial_ids)
            return sum(1 for i in trial_ids if self._trials[i].state in states)

    def claim_key(self, study_id: int, key: str, trial_id: int) -> bool:
        with self._lock:
            claimed = self._study(study_id).claimed_keys
            if key in claimed:
                return False
            claimed[key] = trial_id
            return True

    # -- liveness ------------------------------------------------------------------------------

    def heartbeat(self, trial_id: int) -> None:
        with self._lock:
            if self._trial(trial_id).state == TrialState.RUNNING:
                self._heartbeats[trial_id] = self._clock()

    def fail_stale_trials(self, study_id: int, grace_period: float,
                          retry_failed: int = 0) -> list[FrozenTrial]:
        with self._lock:
            now = self._clock()
            failed = []
            for trial_id in self._study(study_id).trial_ids:
                trial = self._trials[trial_id]
                last = self._heartbeats.get(trial_id)
                if trial.state != TrialState.RUNNING or last is None or \
                        not last < now - grace_period:
                    continue
                reason = stale_trial_reason(now - last, trial.worker)
                self._trials[trial_id] = _with(
                    trial, system_attrs={**trial.system_attrs, FAIL_REASON_ATTR: reason})
                self.finish_trial(trial_id, TrialState.FAIL)
                failed.append(self._trials[trial_id])
            for trial in failed:
                attrs = retry_attrs(trial, trial.system_attrs.get(FIXED_PARAMS_ATTR),
                                    retry_failed)
                if attrs is not None:
                    self.create_trial(study_id, state=TrialState.WAITING, system_attrs=attrs)
            return failed

    # -- tracking ------------------------------------------------------------------------------

    def add_trial_metrics(self, trial_id: int, points: Sequence[MetricPoint]) -> None:
        points = [MetricPoint(p.name, int(p.step), float(p.value), float(p.timestamp))
                  for p in points]
        with self._lock:
            self._trial(trial_id)
            self._metrics.setdefault(trial_id, []).extend(points)

    def get_metric_history(self, trial_id: int, name: str | None = None) -> list[MetricPoint]:
        with self._lock:
            self._trial(trial_id)
            points = list(enumerate(self._metrics.get(trial_id, ())))
        points.sort(key=lambda item: (item[1].name, item[1].step, item[0]))
        return [p for _, p in points if name is None or p.name == name]

    def _last_metrics(self, trial_id: int) -> dict[str, float]:
        last: dict[str, MetricPoint] = {}
        for point in self._metrics.get(trial_id, ()):  # logging order: a later point wins ties
            if point.name not in last or point.step >= last[point.name].step:
                last[point.name] = point
        return {name: point.value for name, point in last.items()}

    def get_last_metrics(self, study_id: int) -> dict[int, dict[str, float]]:
        with self._lock:
            return {trial_id: self._last_metrics(trial_id)
                    for trial_id in self._study(study_id).trial_ids if trial_id in self._metrics}

    def put_artifact(self, trial_id: int, name: str, data: bytes | str | os.PathLike[str],
                     media_type: str | None = None) -> ArtifactInfo:
        name = check_name(name)
        content = read_source(data)
        info = ArtifactInfo(trial_id=trial_id, name=name, size=len(content),
                            media_type=media_type_of(name, media_type),
                            created_at=self._now())
        with self._lock:
            self._trial(trial_id)
            self._artifacts.setdefault(trial_id, {})[name] = (info, content)
        return info

    def list_artifacts(self, trial_id: int) -> list[ArtifactInfo]:
        with self._lock:
            self._trial(trial_id)
            stored = self._artifacts.get(trial_id, {})
            return [stored[name][0] for name in sorted(stored)]

    def read_artifact(self, trial_id: int, name: str, *,
                      last_bytes: int | None = None) -> bytes:
        with self._lock:
            trial = self._trial(trial_id)
            stored = self._artifacts.get(trial_id, {}).get(name)
        if stored is None:
            raise ArtifactNotFoundError(
                f"Trial {trial.number} has no artifact named {name!r}; list_artifacts shows "
                "what it has.")
        data = stored[1]
        return data if last_bytes is None else data[max(0, len(data) - last_bytes):]

    def search_trials(self, study_id: int, filter: str | None = None,
                      order_by: str | None = None, limit: int | None = None,
                      offset: int = 0) -> list[FrozenTrial]:
        with self._lock:
            trials = self.get_trials(study_id)
            last = self.get_last_metrics(study_id)
        return search(trials, last, filter, order_by, limit, offset)
