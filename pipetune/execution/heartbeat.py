"""Crash recovery: heartbeats for the trials this process runs, and the check that fails (and
re-queues) the trials of workers that died.

A study opts in with ``create_study(..., heartbeat_interval=s)``; the settings live in the
study's system attrs, so every process that opens the study follows them. While a trial runs,
one daemon thread per process calls ``storage.heartbeat`` for it every interval. Before claiming
a trial, a process calls ``storage.fail_stale_trials``: a RUNNING trial silent for longer than
the grace period belongs to a dead worker (killed, out of memory, machine lost) and becomes FAIL;
with ``retry_failed=N`` a copy of its params is enqueued, at most N times per original trial.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any

from pipetune._attrs import (
    FAIL_REASON_ATTR,
    GRACE_PERIOD_ATTR,
    HEARTBEAT_INTERVAL_ATTR,
    RETRY_FAILED_ATTR,
)
from pipetune.datatypes import FrozenTrial
from pipetune.errors import InvalidArgumentError, PipetuneError
from pipetune.storage.base import BaseStorage

logger = logging.getLogger("pipetune")

# Slack added to two missed beats: covers clock skew between machines (timestamps come from
# each worker's clock) and a database pausing for a few seconds.
GRACE_SLACK_SECONDS = 10.0


def default_grace_period(heartbeat_interval: float) -> float:
    """Two missed beats plus ``GRACE_SLACK_SECONDS``."""
    return 2 * heartbeat_interval + GRACE_SLACK_SECONDS


def _positive_number(value: Any) -> bool:
    return (not isinstance(value, bool) and isinstance(value, (int, float))
            and 0 < value < math.inf)


@dataclass(frozen=True)
class Liveness:
    """A study's crash-recovery settings (see the module docstring)."""

    heartbeat_interval: float
    grace_period: float
    retry_failed: int = 0

    def __post_init__(self) -> None:
        if not _positive_number(self.heartbeat_interval):
            raise InvalidArgumentError(
                f"The 'heartbeat_interval' argument of create_study must be a positive number "
                f"of seconds. Got {self.heartbeat_interval!r}.")
        if not _positive_number(self.grace_period) or \
                self.grace_period <= self.heartbeat_interval:
            raise InvalidArgumentError(
                f"The 'grace_period' argument of create_study must be a number of seconds "
                f"larger than heartbeat_interval ({self.heartbeat_interval}), or else live "
                f"trials are failed between two beats. Got {self.grace_period!r}.")
        if isinstance(self.retry_failed, bool) or not isinstance(self.retry_failed, int) \
                or self.retry_failed < 0:
            raise InvalidArgumentError(
                f"The 'retry_failed' argument of create_study must be an int >= 0. "
                f"Got {self.retry_failed!r}.")

    @classmethod
    def from_arguments(cls, heartbeat_interval: float | None, grace_period: float | None,
                       retry_failed: int) -> Liveness | None:
        """The settings ``create_study`` was given, or None when it was given none."""
        if heartbeat_interval is None:
            if grace_period is not None or retry_failed:
                raise InvalidArgumentError(
                    "The 'grace_period' and 'retry_failed' arguments of create_study need "
                    "heartbeats: pass heartbeat_interval too (e.g. heartbeat_interval=60).")
            return None
        if grace_period is None:
            # For a bad interval any stand-in does: the check of the interval comes first.
            grace_period = (default_grace_period(heartbeat_interval)
                            if _positive_number(heartbeat_interval) else heartbeat_interval)
        return cls(heartbeat_interval, grace_period, retry_failed)

    @classmethod
    def from_attrs(cls, attrs: dict[str, Any]) -> Liveness | None:
        interval = attrs.get(HEARTBEAT_INTERVAL_ATTR)
        if interval is None:
            return None
        return cls(float(interval), float(attrs.get(GRACE_PERIOD_ATTR)
                                          or default_grace_period(float(interval))),
                   int(attrs.get(RETRY_FAILED_ATTR, 0)))

    def store(self, storage: BaseStorage, study_id: int) -> None:
        for key, value in ((HEARTBEAT_INTERVAL_ATTR, self.heartbeat_interval),
                           (GRACE_PERIOD_ATTR, self.grace_period),
                           (RETRY_FAILED_ATTR, self.retry_failed)):
            storage.set_study_attr(study_id, key, value, system=True)


def default_worker_name() -> str:
    """``host:pid``, what a failure reason names as the presumed-dead worker."""
    return f"{socket.gethostname()}:{os.getpid()}"


def recover_stale_trials(storage: BaseStorage, study_id: int,
                         liveness: Liveness) -> list[FrozenTrial]:
    """Fails the study's trials whose worker stopped beating and, in the same transaction,
    enqueues their retries (see ``BaseStorage.fail_stale_trials``); returns the failed ones."""
    failed = storage.fail_stale_trials(study_id, liveness.grace_period,
                                       retry_failed=liveness.retry_failed)
    for trial in failed:
        logger.warning("Trial %d failed: %s.", trial.number,
                       trial.system_attrs.get(FAIL_REASON_ATTR))
    return failed


class Heartbeat:
    """One daemon thread per process beating for every registered trial.

    It ticks at the smallest interval among the registered trials. A failed beat (database
    briefly unreachable) is logged and tried again at the next tick: the grace period is
    meant to outlast such hiccups.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._trials: dict[tuple[int, int], tuple[BaseStorage, float]] = {}
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, storage: BaseStorage, trial_id: int, interval: float) -> None:
        with self._lock:
            self._trials[(id(storage), trial_id)] = (storage, interval)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="pipetune-heartbeat",
                                                daemon=True)
                self._thread.start()
        self._wake.set()  # a shorter interval than the current tick takes effect now

    def remove(self, storage: BaseStorage, trial_id: int) -> None:
        with self._lock:
            self._trials.pop((id(storage), trial_id), None)

    def running(self, storage: BaseStorage) -> list[int]:
        """Ids of the trials of ``storage`` beating now."""
        with self._lock:
            return [trial_id for key, trial_id in self._trials if key == id(storage)]

    def _run(self) -> None:
        while True:
            with self._lock:
                beating = [(key[1], storage) for key, (storage, _) in self._trials.items()]
                tick = min((interval for _, interval in self._trials.values()), default=1.0)
            for trial_id, storage in beating:
                try:
                    storage.heartbeat(trial_id)
                except PipetuneError as error:
                    logger.warning("Heartbeat of trial id %d failed (will retry): %s",
                                   trial_id, error)
                except Exception:
                    logger.exception("Heartbeat of trial id %d failed", trial_id)
            self._wake.wait(tick)
            self._wake.clear()


_heartbeat = Heartbeat()


def process_heartbeat() -> Heartbeat:
    """This process's heartbeat thread (started on first use)."""
    return _heartbeat


class StudyLiveness:
    """What a ``Study`` handle does with its study's settings: check for dead workers before a
    claim (at most once per heartbeat interval) and beat for its own trials."""

    def __init__(self, storage: BaseStorage, study_id: int, liveness: Liveness) -> None:
        self.storage = storage
        self.study_id = study_id
        self.settings = liveness
        self._last_check = -math.inf
        self._lock = threading.Lock()

    def before_claim(self, force: bool = False) -> list[FrozenTrial]:
        with self._lock:
            now = time.monotonic()
            if not force and now - self._last_check < self.settings.heartbeat_interval:
                return []
            self._last_check = now
        return recover_stale_trials(self.storage, self.study_id, self.settings)

    def started(self, trial_id: int) -> None:
        _heartbeat.add(self.storage, trial_id, self.settings.heartbeat_interval)

    def finished(self, trial_id: int) -> None:
        _heartbeat.remove(self.storage, trial_id)
