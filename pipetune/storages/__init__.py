"""Storages under the names and constructors Optuna gives them, so ``optuna.storages.X`` code
runs with ``pipetune.storages.X``.

``RDBStorage(url, heartbeat_interval=..., grace_period=..., failed_trial_callback=...)`` is
pipetune's SQL storage (``pipetune.storage.sql``) carrying crash-recovery settings for the
studies opened through it: they are pipetune's per-study heartbeat settings
(``create_study(heartbeat_interval=, grace_period=, retry_failed=)``, see
``pipetune.execution.heartbeat``), written into each study the storage creates, and followed by
a study it opens that has none of its own. ``RetryFailedTrialCallback(max_retry=N)`` becomes
``retry_failed=N``: the retry is enqueued in the transaction that fails the trial. Any other
callback is called with ``(study, trial)`` for each trial this process fails as stale.
``JournalStorage`` is pipetune's journal file storage (``pipetune.storage.journal``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pipetune._attrs import (
    FIXED_PARAMS_ATTR,
    GRACE_PERIOD_ATTR,
    HEARTBEAT_INTERVAL_ATTR,
    RETRY_FAILED_ATTR,
    RETRY_HISTORY_ATTR,
)
from pipetune.datatypes import FrozenTrial, StudyDirection, TrialState
from pipetune.errors import InvalidArgumentError
from pipetune.execution.heartbeat import Liveness
from pipetune.storage import BaseStorage, InMemoryStorage, get_storage, sql_url
from pipetune.storage.base import retry_attrs
from pipetune.storage.journal import (
    JournalFileBackend,
    JournalFileOpenLock,
    JournalFileSymlinkLock,
    JournalStorage,
)
from pipetune.storage.sql import SQLStorage
from pipetune.storage.sql.schema import SCHEMA_VERSION
from pipetune.storages import journal

if TYPE_CHECKING:
    from collections.abc import Sequence

    from pipetune.study import Study

__all__ = ["BaseStorage", "InMemoryStorage", "JournalFileBackend", "JournalFileOpenLock",
           "JournalFileSymlinkLock", "JournalStorage", "RDBStorage", "RetryFailedTrialCallback",
           "RetryHeartbeatStaleTrialCallback", "fail_stale_trials", "get_storage", "journal"]

# ``max_retry=None`` retries without end: stored as this many retries.
UNLIMITED_RETRIES = 2**31 - 1


class RetryHeartbeatStaleTrialCallback:
    """Re-enqueues a trial failed because its worker stopped beating, at most ``max_retry``
    times per original trial (None: no limit). Given to ``RDBStorage``, it becomes the studies'
    ``retry_failed`` setting; called as ``callback(study, trial)``, it enqueues the retry.

    ``inherit_intermediate_values=True`` is refused: a pipetune retry starts from step 0.
    """

    def __init__(self, max_retry: int | None = None,
                 inherit_intermediate_values: bool = False) -> None:
        if max_retry is not None and (isinstance(max_retry, bool) or
                                      not isinstance(max_retry, int) or max_retry < 0):
            raise InvalidArgumentError(
                f"max_retry must be None (no limit) or an int >= 0. Got {max_retry!r}.")
        if inherit_intermediate_values:
            raise InvalidArgumentError(
                "inherit_intermediate_values=True is not supported: a retried trial reports its "
                "intermediate values anew. Leave it False.")
        self.max_retry = max_retry
        self.inherit_intermediate_values = False

    @property
    def retry_failed(self) -> int:
        """The ``retry_failed`` setting this callback stands for."""
        return UNLIMITED_RETRIES if self.max_retry is None else self.max_retry

    def __call__(self, study: Study, trial: FrozenTrial) -> None:
        attrs = retry_attrs(trial, trial.system_attrs.get(FIXED_PARAMS_ATTR), self.retry_failed)
        if attrs is not None:
            interface = study.run_interface
            interface.storage.create_trial(interface.study_id, state=TrialState.WAITING,
                                           system_attrs=attrs)

    @staticmethod
    def retried_trial_number(trial: FrozenTrial) -> int | None:
        """The number of the original trial that ``trial`` retries, None if it is no retry."""
        history = trial.system_attrs.get(RETRY_HISTORY_ATTR)
        return history[0] if history else None

    @staticmethod
    def retry_history(trial: FrozenTrial) -> list[int]:
        """The numbers of the trials ``trial`` retries, the original first; empty if none."""
        return list(trial.system_attrs.get(RETRY_HISTORY_ATTR, []))


class RetryFailedTrialCallback(RetryHeartbeatStaleTrialCallback):
    """Optuna's earlier name of ``RetryHeartbeatStaleTrialCallback``."""


StaleTrialCallback = Callable[["Study", FrozenTrial], None]


class RDBStorage(SQLStorage):
    """Optuna's SQL storage constructor over pipetune's SQL storage (see the module doc).

    ``skip_compatibility_check`` and ``skip_table_creation`` are accepted and change nothing:
    pipetune upgrades an older schema of its own when it opens it, refuses a newer one, and
    creates missing tables, so ``upgrade()`` has nothing left to do and
    ``get_current_version()`` is ``get_head_version()``. Optuna's own databases are copied
    over with ``pipetune import optuna``.
    """

    def __init__(self, url: str, engine_kwargs: dict[str, Any] | None = None,
                 skip_compatibility_check: bool = False, *,
                 heartbeat_interval: int | None = None, grace_period: int | None = None,
                 heartbeat_stale_trial_callback: StaleTrialCallback | None = None,
                 failed_trial_callback: StaleTrialCallback | None = None,
                 skip_table_creation: bool = False) -> None:
        if heartbeat_stale_trial_callback is not None and failed_trial_callback is not None:
            raise InvalidArgumentError(
                "Give either heartbeat_stale_trial_callback= or failed_trial_callback= (its "
                "earlier name), not both.")
        for name, seconds in (("heartbeat_interval", heartbeat_interval),
                              ("grace_period", grace_period)):
            if seconds is not None and not (isinstance(seconds, (int, float))
                                            and not isinstance(seconds, bool) and seconds > 0):
                raise InvalidArgumentError(
                    f"The {name!r} argument of RDBStorage must be a positive number of seconds "
                    f"or None. Got {seconds!r}.")
        callback = heartbeat_stale_trial_callback or failed_trial_callback
        retry = callback.retry_failed \
            if isinstance(callback, RetryHeartbeatStaleTrialCallback) else 0
        self.liveness = None if heartbeat_interval is None else \
            Liveness.from_arguments(heartbeat_interval, grace_period, retry)
        self.heartbeat_stale_trial_callback = None \
            if isinstance(callback, RetryHeartbeatStaleTrialCallback) else callback
        super().__init__(sql_url(url), engine_kwargs=engine_kwargs)

    def upgrade(self) -> None:
        """Nothing to do: opening the storage already brought its schema up to date (an
        older pipetune schema is upgraded when opened, a newer one refused)."""

    def get_current_version(self) -> str:
        """The version of the storage's schema: pipetune's, which opening made the latest."""
        return self.get_head_version()

    def get_head_version(self) -> str:
        """The version of the schema this pipetune writes."""
        return str(SCHEMA_VERSION)

    def _liveness_attrs(self) -> dict[str, Any]:
        if self.liveness is None:
            return {}
        return {HEARTBEAT_INTERVAL_ATTR: self.liveness.heartbeat_interval,
                GRACE_PERIOD_ATTR: self.liveness.grace_period,
                RETRY_FAILED_ATTR: self.liveness.retry_failed}

    def create_study(self, study_name: str, directions: Sequence[StudyDirection]) -> int:
        study_id = super().create_study(study_name, directions)
        for key, value in self._liveness_attrs().items():
            self.set_study_attr(study_id, key, value, system=True)
        return study_id

    def get_study_attrs(self, study_id: int, *, system: bool = False) -> dict[str, Any]:
        attrs = super().get_study_attrs(study_id, system=system)
        if system and HEARTBEAT_INTERVAL_ATTR not in attrs:
            attrs.update(self._liveness_attrs())
        return attrs

    def fail_stale_trials(self, study_id: int, grace_period: float,
                          retry_failed: int = 0) -> list[FrozenTrial]:
        failed = super().fail_stale_trials(study_id, grace_period, retry_failed)
        if failed and self.heartbeat_stale_trial_callback is not None:
            from pipetune.study import Study

            study = Study(self.get_study_name(study_id), self)
            for trial in failed:
                self.heartbeat_stale_trial_callback(study, trial)
        return failed


def fail_stale_trials(study: Study) -> None:
    """Fails the study's RUNNING trials whose worker stopped beating, as pipetune does by itself
    before each claim, and enqueues their retries; does nothing for a study without heartbeats."""
    liveness = study.run_interface.liveness
    if liveness is not None:
        liveness.before_claim(force=True)
