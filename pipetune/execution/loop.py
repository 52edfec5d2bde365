"""One trial's life: ask -> run the objective -> tell, and riding out a storage that is
briefly unreachable. Shared by optimize and workers."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from pipetune.datatypes import FrozenTrial, TrialState
from pipetune.errors import StorageUnavailableError, TrialPruned

if TYPE_CHECKING:
    from pipetune.execution.interface import RunInterface
    from pipetune.trial import Trial

logger = logging.getLogger("pipetune")

T = TypeVar("T")


def retry_storage(call: Callable[[], T], what: str, *, give_up_after: float = 60.0,
                  first_delay: float = 0.5, max_delay: float = 8.0) -> T:
    """``call()``, retried with exponential backoff while the storage is unreachable.

    A ``StorageUnavailableError`` is what a database restart or a network hiccup looks like; it
    is retried until ``give_up_after`` seconds have passed, then re-raised. Every other error (a
    missing study, a finished trial, a bad token or schema) is raised at once.
    """
    deadline = time.monotonic() + give_up_after
    delay = first_delay
    while True:
        try:
            return call()
        except StorageUnavailableError as error:
            if time.monotonic() + delay > deadline:
                raise
            logger.warning("%s failed; retrying in %.1fs: %s", what, delay, error)
            time.sleep(delay)
            delay = min(delay * 2, max_delay)


def tell_outcome(run: RunInterface, trial: Trial, result: Any = None, *,
                 error: BaseException | None = None, trace: str | None = None) -> FrozenTrial:
    """Tells the study how the objective ended on ``trial``, the one place that decides it:
    it returned ``result`` (COMPLETE with it, or FAIL when it is no number), it raised
    ``TrialPruned`` (PRUNED, keeping its last reported value), or it raised any other
    ``error`` (FAIL, with the error and ``trace``, default its traceback, recorded). A trial
    already finished elsewhere (a heartbeat check, an interrupt) is left as stored."""
    if error is None:
        return run.tell(trial, result, skip_if_finished=True)
    if isinstance(error, TrialPruned):
        return run.tell(trial, state=TrialState.PRUNED, skip_if_finished=True)
    return run.fail(trial, error, trace)


def run_trial(run: RunInterface, func: Callable[[Trial], Any], trial: Trial,
              catch: tuple[type[BaseException], ...], *,
              retry: Callable[[Callable[[], Any], str], Any] = retry_storage,
              ) -> tuple[FrozenTrial, BaseException | None]:
    """Evaluates ``func`` on a claimed ``trial`` and stores the outcome through ``retry``.

    Returns the finished trial and the exception the caller must re-raise (one not in
    ``catch``, or an interrupt), if any. Whatever happens, the trial leaves RUNNING: when its
    outcome cannot be stored (a full disk, a storage down for longer than ``retry`` waits),
    it is failed as far as the storage still takes writes and the error is raised. A trial
    that failed because the storage was unreachable is re-queued when the study retries
    failed trials (``retry_failed``): the storage failed, not its params.
    """
    result: Any = None
    error: BaseException | None = None
    try:
        result = func(trial)
    except BaseException as raised:  # noqa: BLE001 - classified just below
        error = raised
    if error is not None and not isinstance(error, Exception):
        # KeyboardInterrupt, SystemExit: never leave the trial RUNNING, and stop at once.
        return tell_outcome(run, trial, error=error), error
    failed = error is not None and not isinstance(error, TrialPruned)
    try:
        frozen = retry(lambda: tell_outcome(run, trial, result, error=error),
                       "Storing a failure" if failed else "Storing a result")
    except Exception as storing:
        run.abandon(trial, storing)
        raise
    if not failed:
        return frozen, None
    if isinstance(error, StorageUnavailableError):
        retry(lambda: run.retry_trial(frozen), "Re-queueing a trial")
    if isinstance(error, catch):
        logger.warning("Trial %d failed with %s: %s", trial.number, type(error).__name__, error)
        return frozen, None
    return frozen, error
