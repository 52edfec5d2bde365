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
    from pipetune.study import Study
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


def run_trial(study: "Study", func: Callable[["Trial"], Any], trial: "Trial",
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
    try:
        result = func(trial)
    except TrialPruned:
        return _store(study, trial, retry, "Storing a result", lambda: study.tell(
            trial, state=TrialState.PRUNED, skip_if_finished=True)), None
    except Exception as error:
        failure = error  # bound for the lambda: ``error`` is unbound once the block ends
        frozen = _store(study, trial, retry, "Storing a failure",
                        lambda: study._fail(trial, failure))
        if isinstance(error, StorageUnavailableError):
            retry(lambda: study._retry_trial(frozen), "Re-queueing a trial")
        if isinstance(error, catch):
            logger.warning("Trial %d failed with %s: %s", trial.number, type(error).__name__, error)
            return frozen, None
        return frozen, error
    except BaseException as interrupt:  # KeyboardInterrupt, SystemExit: never leave it RUNNING
        return study._fail(trial, interrupt), interrupt
    return _store(study, trial, retry, "Storing a result",
                  lambda: study.tell(trial, result, skip_if_finished=True)), None


def _store(study: "Study", trial: "Trial", retry: Callable[[Callable[[], Any], str], Any],
           what: str, store: Callable[[], FrozenTrial]) -> FrozenTrial:
    """``store()`` through ``retry``; if it still fails, the trial is abandoned (see
    ``Study._abandon``) and the error raised."""
    try:
        return retry(store, what)
    except Exception as error:
        study._abandon(trial, error)
        raise
