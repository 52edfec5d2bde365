"""Trials run as tasks of a cluster framework (``backend="ray"``, ``backend="spark"``): what
the backends share.

The driver keeps the study's ask/tell in this process and hands each claimed trial to a
task. The task re-opens the study from its storage (a handle of the driver's own ``Study``
class, shipped with the sampler and pruner), wraps the claimed trial and runs the objective
there, so suggestions, reports and pruning decisions go through the shared storage exactly as
they would in a ``pipetune worker``; the driver then tells the result from the stored record.
That is why the study needs a storage every node can reach (a SQLite file on one machine,
PostgreSQL, or a ``pipetune server``), never memory.

A backend supplies a ``TaskPool`` (how a task is started, awaited, read and cancelled);
``drive`` is the one driver loop over it.
"""

from __future__ import annotations

import abc
import io
import logging
import threading
import traceback
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any

from pipetune.datatypes import FrozenTrial
from pipetune.errors import InvalidArgumentError, SearchSpaceExhaustedError, TrialPruned
from pipetune.execution.loop import tell_outcome
from pipetune.execution.optimize_call import OptimizeRun, StopReason, stop_for_budget

if TYPE_CHECKING:
    from pipetune.storage.base import BaseStorage
    from pipetune.trial import Trial

__all__ = ["Outcome", "TaskPool", "drive", "run_in_task", "shipping_bytes", "storage_reference"]

logger = logging.getLogger("pipetune")

_LOCK_TYPE = type(threading.Lock())
_RLOCK_TYPE = type(threading.RLock())

# What a task returns: ("ok", value, None), ("pruned", None, None) or
# ("error", exception, traceback text).
Outcome = tuple[str, Any, "str | None"]


def storage_reference(storage: BaseStorage, backend: str) -> Any:
    """What a task of ``backend`` (named in the message) needs to re-open ``storage``: its
    full URL (password included, which the storage's display URL hides) or, for a remote
    storage, the picklable object itself."""
    from pipetune.storage.remote import RemoteStorage
    from pipetune.storage.sql import SQLStorage

    if isinstance(storage, RemoteStorage):
        return storage
    if isinstance(storage, SQLStorage):
        url = storage._engine.url
        if url.get_backend_name() != "sqlite" or url.database not in (None, "", ":memory:"):
            return storage.connect_url()
    raise InvalidArgumentError(
        f"Study.optimize(backend={backend!r}) runs trials in other processes, which cannot see "
        f"an in-memory storage ({type(storage).__name__}). Create the study in a storage they "
        "can reach: storage='sqlite:///study.db' (one machine), 'postgresql://...' or "
        "'http://host:8080' (a pipetune server).")


def shipping_bytes(obj: Any, cloudpickle: Any) -> bytes:
    """``obj`` (a sampler, a pruner, the study's class, an objective) pickled for a task:
    with the framework's ``cloudpickle`` module, so functions made inside a method travel by
    value, and with each lock, which cannot travel, sent as a new lock. ``pickle.loads``
    reads it back in any process."""
    # A module handed in at run time, so the type checker takes the base class as Any.
    base_pickler: Any = cloudpickle.Pickler

    class Pickler(base_pickler):
        def reducer_override(self, value: Any) -> Any:
            if type(value) is _LOCK_TYPE:
                return threading.Lock, ()
            if type(value) is _RLOCK_TYPE:
                return threading.RLock, ()
            return super().reducer_override(value)

    buffer = io.BytesIO()
    Pickler(buffer).dump(obj)
    return buffer.getvalue()


def portable_error(error: BaseException) -> BaseException:
    """``error`` if it survives pickling, else a RuntimeError with its text."""
    import pickle

    try:
        pickle.loads(pickle.dumps(error))
        return error
    except Exception:  # noqa: BLE001 - whatever pickling raised, the text still travels
        return RuntimeError(f"{type(error).__name__}: {error}")


def run_in_task(storage: Any, study_name: str, trial_id: int, tools: bytes,
                func: Callable[[Trial], Any]) -> Outcome:
    """The body of one task: runs ``func`` on the claimed trial ``trial_id`` of the study,
    re-opened with the (study class, sampler, pruner) that ``tools`` holds. Exceptions travel
    as values so the driver sees the objective's own error rather than the framework's
    wrapper."""
    import pickle

    study_class, sampler, pruner = pickle.loads(tools)
    study = study_class(study_name, storage, sampler=sampler, pruner=pruner)
    trial = study.run_interface.trial(trial_id)
    try:
        outcome: Outcome = ("ok", func(trial), None)
    except TrialPruned:
        outcome = ("pruned", None, None)
    except Exception as error:  # noqa: BLE001 - the objective's error travels to the driver
        outcome = ("error", portable_error(error), traceback.format_exc())
    trial.flush()  # the driver tells from the stored record
    return outcome


class TaskPool(abc.ABC):
    """How one backend runs the task of a trial: ``drive`` submits up to ``n_jobs`` of them,
    waits for any to finish, reads each finished one's outcome and, on Ctrl-C, cancels the
    rest. A handle is whatever the framework gives back for a started task."""

    #: The framework's name, as messages show it ("Ray", "Spark").
    name: str

    @abc.abstractmethod
    def submit(self, trial_id: int) -> Hashable:
        """Starts the task of the claimed trial ``trial_id``; returns its handle."""

    @abc.abstractmethod
    def wait(self, handles: list[Any]) -> list[Any]:
        """Blocks until at least one of ``handles`` finished; returns the finished ones."""

    @abc.abstractmethod
    def outcome(self, handle: Any) -> Outcome:
        """The finished task's outcome (see ``run_in_task``); raises when the task itself
        died (a lost worker, a cancelled task)."""

    @abc.abstractmethod
    def cancel(self, handle: Any) -> None:
        """Stops the task of ``handle`` if it still runs."""


def drive(call: OptimizeRun, pool: TaskPool, n_jobs: int, catch: tuple,
          callbacks: list) -> None:
    """Runs the trials of ``call`` as tasks of ``pool``, up to ``n_jobs`` at once, telling
    each result to the study as it arrives. The first error that ``catch`` does not hold lets
    the tasks in flight finish, starts no more and is raised."""
    run = call.run
    pending: dict[Any, Trial] = {}
    first_error: BaseException | None = None
    try:
        while True:
            while first_error is None and len(pending) < n_jobs and call.take_slot():
                # With tasks of its own in flight the driver must not wait for a slot of
                # max_parallel: only telling their results frees one.
                trial = _ask(call, keep_waiting=lambda: not pending and call.is_open())
                if trial is None:
                    call.give_back_slot()
                    break
                with call.lock:
                    call.running[trial.trial_id] = trial
                pending[pool.submit(trial.trial_id)] = trial
            if not pending:
                break
            for handle in pool.wait(list(pending)):
                frozen, error = _finish(pool, call, pending.pop(handle), handle, catch)
                call.finished(frozen)
                if error is None:  # callbacks see only trials whose error does not escape
                    for callback in callbacks:
                        callback(run.study, frozen)
                elif first_error is None:
                    first_error = error  # let the tasks in flight finish, start no more
                    run.stop_requested = True
    except KeyboardInterrupt as interrupt:
        # Every trial this run claimed and did not finish ends FAIL first (one submitted or
        # not yet, one whose result was being told), then its task is cancelled: a cancel
        # that fails must not leave a trial RUNNING.
        call.fail_running(interrupt)
        for handle in pending:
            try:
                pool.cancel(handle)
            except Exception as error:  # noqa: BLE001 - the trial is already FAIL
                logger.warning("Could not cancel a %s task of study %r: %s", pool.name,
                               run.study_name, error)
        raise
    if first_error is not None:
        raise first_error


def _ask(call: OptimizeRun, keep_waiting: Callable[[], bool]) -> Trial | None:
    """The next claimed trial, or None: the study has nothing to give (and the run stops), or
    ``max_parallel`` trials run and ``keep_waiting`` said not to wait."""
    run = call.run
    if run.is_exhausted():
        call.stop(StopReason.SEARCH_SPACE_EXHAUSTED, "the sampler has no candidate left")
        return None
    try:
        trial = run.claim_within_budget(keep_waiting=keep_waiting)
    except SearchSpaceExhaustedError as error:
        call.stop(StopReason.SEARCH_SPACE_EXHAUSTED, str(error))
        return None
    if trial is None and run.budget_spent():
        stop_for_budget(call)
    return trial


def _finish(pool: TaskPool, call: OptimizeRun, trial: Trial, handle: Any,
            catch: tuple) -> tuple[FrozenTrial, BaseException | None]:
    """Tells the study how the task of ``trial`` ended; returns the finished trial and the
    error the run must raise, if any."""
    try:
        outcome, payload, trace = pool.outcome(handle)
    except Exception as error:  # noqa: BLE001 - the task died: worker crash, cancelled, node lost
        outcome, payload, trace = "error", error, None
    # The task suggested and reported through storage: tell from the stored record.
    stored = call.run.trial(trial.trial_id)
    if outcome == "ok":
        return tell_outcome(call.run, stored, payload), None
    if outcome == "pruned":
        return tell_outcome(call.run, stored, error=TrialPruned()), None
    frozen = tell_outcome(call.run, stored, error=payload, trace=trace)
    if isinstance(payload, catch):
        logger.warning("Trial %d failed with %s: %s", trial.number, type(payload).__name__,
                       payload)
        return frozen, None
    return frozen, payload
