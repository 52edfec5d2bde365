"""The run interface: what the run loop drives on one study.

A ``Study`` owns one (``study.run_interface``). ``optimize``, workers, the Ray backend, the
script launcher, standalone runs and the Hyperopt layer all run trials through it rather than
through the Study, which is why nothing in ``pipetune.execution`` imports ``study.py``. It
claims a trial (an enqueued one first, within the study-wide budget) and starts it with the
sampler, tells a trial's result, fails a trial with the error that ended it, abandons one whose
outcome could not be stored, re-queues one the storage failed, and holds the flag that stops a
running ``optimize``.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import time
import traceback
import warnings
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from pipetune._attrs import FAIL_REASON_ATTR, FIXED_PARAMS_ATTR, RETRY_OF_ATTR, TRACEBACK_ATTR
from pipetune._best import best_trial_of
from pipetune._param_buffer import flush_all as flush_params
from pipetune.datatypes import FrozenTrial, StudyDirection, TrialState
from pipetune.errors import InvalidArgumentError, UpdateFinishedTrialError
from pipetune.execution.budget import PARALLEL_POLL_SECONDS, Budget
from pipetune.execution.heartbeat import Liveness, StudyLiveness, default_worker_name
from pipetune.storage.base import BaseStorage, retry_attrs
from pipetune.storage.cached import StudyHistory
from pipetune.trial import Trial, check_values

if TYPE_CHECKING:
    from pipetune.pruners.base import BasePruner
    from pipetune.samplers.base import BaseSampler
    from pipetune.view import StudyView

logger = logging.getLogger("pipetune")


class RunInterface:
    """The trials of one stored study as the run loop sees them, with the sampler and pruner
    this process uses on them. ``study`` is the ``Study`` owning it: what callbacks receive
    and ``Trial.study`` returns."""

    def __init__(self, storage: BaseStorage, study_id: int, study_name: str,
                 directions: Sequence[StudyDirection], sampler: BaseSampler,
                 pruner: BasePruner, study: Any) -> None:
        self.storage = storage
        self.study_id = study_id
        self.study_name = study_name
        self.directions = tuple(directions)
        self.sampler = sampler
        self.pruner = pruner
        self.study = study
        self.history = StudyHistory(storage, study_id, study_name, self.directions)
        self.stop_requested = False  # set by Study.stop: a running optimize starts no more
        self.liveness: StudyLiveness | None = None
        self.budget = Budget()
        self.load_settings()

    def load_settings(self) -> None:
        """Reads the study-wide settings every process follows (heartbeats, budget)."""
        attrs = self.storage.get_study_attrs(self.study_id, system=True)
        liveness = Liveness.from_attrs(attrs)
        self.liveness = None if liveness is None else StudyLiveness(
            self.storage, self.study_id, liveness)
        self.budget = Budget.from_attrs(attrs)

    @property
    def retries_failed(self) -> bool:
        """Whether the study re-enqueues trials that fail (``retry_failed``)."""
        return self.liveness is not None and self.liveness.settings.retry_failed > 0

    # -- reading -------------------------------------------------------------------------------

    def view(self, refresh: bool = True) -> StudyView:
        """The study as samplers and pruners see it, refreshed from storage first unless told
        not to (the running trials of this process show their params)."""
        if refresh:
            flush_params()
        return self.history.view(refresh=refresh)

    def best_trial(self) -> FrozenTrial | None:
        """The COMPLETE trial with the best value; None for several objectives or before any
        trial completed."""
        return best_trial_of(self.view().trials, self.directions)

    def is_exhausted(self) -> bool:
        """Whether the sampler has no candidate left (a full grid): no trial is worth claiming."""
        return self.sampler.can_exhaust and self.sampler.is_exhausted(self.view())

    def budget_spent(self) -> bool:
        """Whether the study's ``max_trials`` trials have started (and not failed)."""
        return self.budget.is_spent(self.storage, self.study_id)

    def trial(self, trial_id: int) -> Trial:
        """A handle on a stored trial of the study (one another process claimed, say)."""
        return Trial(self, self.storage.get_trial(trial_id))

    # -- claiming ------------------------------------------------------------------------------

    def claim(self, worker: str | None = None, budget: Budget = Budget()) -> Trial | None:
        """Claims a trial (an enqueued one first) and starts it; None, claiming nothing, when
        the storage refuses the claim for ``budget`` (see ``pipetune.execution.budget``)."""
        liveness = self.liveness
        if liveness is not None:
            liveness.before_claim()
            worker = worker or default_worker_name()
        frozen = self.storage.claim_trial(self.study_id, worker, budget.max_trials,
                                          budget.max_parallel)
        if frozen is None:
            return None
        if liveness is None:
            return self._start(frozen)
        liveness.started(frozen.trial_id)
        try:
            return self._start(frozen)
        except BaseException:
            # Stop beating for a trial nobody will run (e.g. the storage went away): the
            # heartbeat check then fails it, wherever it is left.
            liveness.finished(frozen.trial_id)
            raise

    def claim_within_budget(self, worker: str | None = None, *,
                            keep_waiting: Callable[[], bool] = lambda: True) -> Trial | None:
        """The next trial within the study's budget: waits while ``max_parallel`` trials run
        (as long as ``keep_waiting()`` says so) and returns None once ``max_trials`` have
        started."""
        while True:
            trial = self.claim(worker, self.budget)
            if trial is not None or self.budget_spent():
                return trial
            if not keep_waiting():
                return None
            time.sleep(PARALLEL_POLL_SECONDS)

    def _start(self, frozen: FrozenTrial) -> Trial:
        view = self.view(refresh=self.sampler.needs_history)
        try:
            attrs = self.sampler.before_trial(view, frozen)
        except BaseException as error:
            # The trial is already claimed; never leave it RUNNING (e.g. the grid ran out
            # between the exhaustion check and the claim of a parallel worker).
            self.fail(Trial(self, frozen), error)
            raise
        for key, value in attrs.items():
            self.storage.set_trial_attr(frozen.trial_id, key, value, system=True)
            frozen.system_attrs[key] = value
        return Trial(self, frozen)

    # -- finishing -----------------------------------------------------------------------------

    def tell(self, trial: Trial, values: float | Sequence[float] | None = None,
             state: TrialState = TrialState.COMPLETE, *,
             skip_if_finished: bool = False) -> FrozenTrial:
        """Finishes ``trial`` in ``state`` (COMPLETE, PRUNED or FAIL; see ``Study.tell``)."""
        checked: tuple[float, ...] | None = None
        if state == TrialState.COMPLETE:
            checked, problem = check_values(values, len(self.directions))
            if problem is not None:
                logger.warning("Trial %d failed: %s", trial.number, problem)
                self.record_failure(trial, problem, None)
                state = TrialState.FAIL
        elif state == TrialState.PRUNED:
            # A pruned trial keeps its last reported value(s), unless they hold a NaN.
            intermediate = trial.intermediate_values
            if intermediate:
                last = intermediate[max(intermediate)]
                last = last if isinstance(last, tuple) else (last,)
                if not any(math.isnan(v) for v in last):
                    checked = last
        elif values is not None:
            raise InvalidArgumentError(f"A {state.name} trial takes no values; drop values=.")
        if state == TrialState.COMPLETE:
            _warn_unused_fixed_params(trial)
        frozen = trial.snapshot()
        attrs = self.sampler.after_trial(self.view(refresh=False), frozen, state, checked)
        try:
            for key, value in (attrs or {}).items():
                self.storage.set_trial_attr(trial.trial_id, key, value, system=True)
                frozen.system_attrs[key] = value
            trial.flush()
            finished = self.storage.finish_trial(trial.trial_id, state, checked)
        except UpdateFinishedTrialError:  # the params came too late: finished elsewhere
            finished = False
        trial.mark_finished(state)
        if self.liveness is not None:
            self.liveness.finished(trial.trial_id)
        if not finished:
            if skip_if_finished:
                return self.storage.get_trial(trial.trial_id)
            raise UpdateFinishedTrialError(
                f"Trial {trial.number} was already finished; pass skip_if_finished=True to "
                "ignore repeated tells.")
        return replace(frozen, state=state, values=checked, datetime_complete=dt.datetime.now())

    def record_failure(self, trial: Trial, reason: str, trace: str | None) -> None:
        """Records why ``trial`` failed (and the traceback), unless it is already finished."""
        try:
            trial.set_system_attr(FAIL_REASON_ATTR, reason)
            if trace is not None:
                trial.set_system_attr(TRACEBACK_ATTR, trace)
        except UpdateFinishedTrialError:
            pass  # already failed elsewhere (interrupted, or a heartbeat check)

    def fail(self, trial: Trial, error: BaseException, trace: str | None = None) -> FrozenTrial:
        """Records ``error`` on the trial, with ``trace`` (default: its own traceback), and
        finishes it FAIL."""
        reason = f"{type(error).__name__}: {error}"
        self.record_failure(trial, reason, trace or "".join(traceback.format_exception(error)))
        return self.tell(trial, state=TrialState.FAIL, skip_if_finished=True)

    def abandon(self, trial: Trial, error: BaseException) -> None:
        """What is left to do when a trial's outcome could not be stored (``error``: a full
        disk, a storage down too long): record the error and finish the trial FAIL as far as
        the storage still takes writes, each on its own (a full disk may refuse the record
        and take the state change), so that it is not left RUNNING; and stop beating for it,
        so that where nothing was taken a heartbeat check fails (and re-queues) it."""
        if self.liveness is not None:
            self.liveness.finished(trial.trial_id)
        reason = f"storing the trial's outcome failed: {type(error).__name__}: {error}"
        for write in (lambda: self.storage.set_trial_attr(trial.trial_id, FAIL_REASON_ATTR,
                                                          reason, system=True),
                      lambda: self.storage.finish_trial(trial.trial_id, TrialState.FAIL)):
            try:
                write()
            except Exception as failure:  # noqa: BLE001 - best effort; ``error`` is raised
                logger.error("Could not mark trial %d FAIL after %s: %s", trial.number,
                             type(error).__name__, failure)
        trial.mark_finished(TrialState.FAIL)

    def retry_trial(self, failed: FrozenTrial) -> None:
        """Enqueues a retry of a trial that failed because the storage was unreachable, as
        the heartbeat check does for a dead worker's, when the study retries failed trials
        (``retry_failed``) and nobody enqueued one yet."""
        liveness = self.liveness
        if liveness is None or not liveness.settings.retry_failed or any(
                t.system_attrs.get(RETRY_OF_ATTR) == failed.number for t in self.view().trials):
            return
        attrs = retry_attrs(failed, failed.system_attrs.get(FIXED_PARAMS_ATTR),
                            liveness.settings.retry_failed)
        if attrs is not None:
            self.storage.create_trial(self.study_id, state=TrialState.WAITING,
                                      system_attrs=attrs)


def _warn_unused_fixed_params(trial: Trial) -> None:
    """Warns when a trial completes without suggesting a param it was enqueued with: most
    often a misspelt name in ``enqueue_trial``, which would otherwise be silently ignored."""
    unused = sorted(set(trial.fixed_params) - set(trial.params))
    if unused:
        warnings.warn(
            f"Trial {trial.number} was enqueued with param(s) {unused} that its objective never "
            f"suggested (it suggested {sorted(trial.params)}), so they were ignored: check "
            "their spelling in enqueue_trial, or leave out params the others make inactive.",
            stacklevel=4)
