"""``Study.optimize``: runs trials in this thread or in a pool of threads until a budget ends,
and records what each call ran with (the ``sampler``, ``pruner``, ``optimize`` and
``environment`` system attrs of the study)."""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import logging
import os
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from pipetune._attrs import ENVIRONMENT_ATTR, OPTIMIZE_ATTR, PRUNER_ATTR, SAMPLER_ATTR
from pipetune.environment import describe, environment
from pipetune.errors import ArgumentTypeError, InvalidArgumentError, SearchSpaceExhaustedError
from pipetune.execution.loop import retry_storage, run_trial
from pipetune.execution.optimize_call import (
    OptimizeResult,
    OptimizeRun,
    StopReason,
    stop_for_budget,
)
from pipetune.stopping import StoppingCriterion

if TYPE_CHECKING:
    from pipetune.execution.interface import RunInterface
    from pipetune.trial import Trial

logger = logging.getLogger("pipetune")


def _check_arguments(n_trials: Any, timeout: Any, n_jobs: Any, catch: Any,
                     callbacks: Any) -> tuple[int, tuple[type[BaseException], ...], list]:
    if n_trials is not None and (isinstance(n_trials, bool) or not isinstance(n_trials, int)
                                 or n_trials <= 0):
        raise InvalidArgumentError(
            f"The 'n_trials' argument of Study.optimize must be a positive int or None. "
            f"Got {n_trials!r}.")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))
                                or not timeout > 0):
        raise InvalidArgumentError(
            f"The 'timeout' argument of Study.optimize must be a positive number of seconds or "
            f"None. Got {timeout!r}.")
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs == 0 or n_jobs < -1:
        raise InvalidArgumentError(
            f"The 'n_jobs' argument of Study.optimize must be a positive int, or -1 for one per "
            f"CPU. Got {n_jobs!r}.")
    if n_jobs == -1:
        n_jobs = os.cpu_count() or 1
    if isinstance(catch, type):
        catch_types = (catch,)
    elif isinstance(catch, Iterable) and not isinstance(catch, (str, bytes)):
        catch_types = tuple(catch)
    else:
        catch_types = (catch,)  # rejected just below, with the message naming 'catch'
    if not all(isinstance(c, type) and issubclass(c, BaseException) for c in catch_types):
        raise ArgumentTypeError(
            f"The 'catch' argument of Study.optimize must be an exception class or a tuple of "
            f"them. Got {catch!r}.")
    if callbacks is not None and not isinstance(callbacks, Iterable):
        raise ArgumentTypeError(
            f"The 'callbacks' argument of Study.optimize must be a list of callables. "
            f"Got {callbacks!r}.")
    callbacks = list(callbacks or ())
    if not all(callable(c) for c in callbacks):
        raise ArgumentTypeError(
            "Every entry of the 'callbacks' argument of Study.optimize must be callable. "
            f"Got {callbacks!r}.")
    return n_jobs, catch_types, callbacks


def _check_criteria(stop_when: Any, directions: tuple) -> list[StoppingCriterion]:
    criteria = [stop_when] if isinstance(stop_when, StoppingCriterion) else list(stop_when or ())
    for criterion in criteria:
        if not isinstance(criterion, StoppingCriterion):
            raise InvalidArgumentError(
                "The 'stop_when' argument of Study.optimize takes stopping criteria such as "
                f"pipetune.stopping.TargetValue(0.1). Got {criterion!r}.")
        criterion.check_study(directions)
    return criteria


def _worker(call: OptimizeRun, func: Callable, catch: tuple, callbacks: list) -> None:
    run = call.run
    while call.take_slot():
        if run.is_exhausted():
            call.stop(StopReason.SEARCH_SPACE_EXHAUSTED, "the sampler has no candidate left")
            return
        try:
            trial = retry_storage(lambda: run.claim_within_budget(keep_waiting=call.is_open),
                                  "Claiming a trial")
        except SearchSpaceExhaustedError as error:
            call.stop(StopReason.SEARCH_SPACE_EXHAUSTED, str(error))
            return
        if trial is None:  # the study-wide budget is spent, or the run ended while waiting
            if call.is_open():
                stop_for_budget(call)
            return
        with call.lock:
            call.running[trial.trial_id] = trial
        frozen, raised = run_trial(run, func, trial, catch)
        call.finished(frozen)
        if raised is not None:  # escapes optimize: callbacks see only trials the run survives
            run.stop_requested = True
            raise raised
        for callback in callbacks:
            callback(run.study, frozen)


def run_optimize(run: RunInterface, func: Callable[[Trial], Any], *, n_trials: int | None,
                 timeout: float | None, n_jobs: int, catch: Any,
                 callbacks: Iterable | None, show_progress_bar: bool,
                 stop_when: Any = (), backend: str = "thread",
                 resources_per_trial: dict[str, float] | None = None) -> OptimizeResult:
    """The body of ``Study.optimize`` (see there), recorded on the study (see
    ``record_optimize_start``)."""
    record = record_optimize_start(run, n_trials, timeout, n_jobs)
    try:
        return _optimize(run, func, n_trials=n_trials, timeout=timeout, n_jobs=n_jobs,
                         catch=catch, callbacks=callbacks, show_progress_bar=show_progress_bar,
                         stop_when=stop_when, backend=backend,
                         resources_per_trial=resources_per_trial)
    finally:
        record_optimize_end(run, record)


def _optimize(run: RunInterface, func: Callable[[Trial], Any], *, n_trials: int | None,
              timeout: float | None, n_jobs: int, catch: Any, callbacks: Iterable | None,
              show_progress_bar: bool, stop_when: Any, backend: str,
              resources_per_trial: dict[str, float] | None) -> OptimizeResult:
    if not callable(func):
        raise InvalidArgumentError(
            f"Study.optimize needs a callable objective taking a trial. Got {func!r}.")
    if backend not in ("thread", "ray", "spark"):
        raise InvalidArgumentError(
            "The 'backend' argument of Study.optimize must be 'thread', 'ray' or 'spark'. "
            f"Got {backend!r}.")
    if backend != "ray" and resources_per_trial is not None:
        raise InvalidArgumentError(
            "The 'resources_per_trial' argument of Study.optimize applies to backend='ray' "
            "only; drop it or pass backend='ray'.")
    requested_jobs = n_jobs
    n_jobs, catch_types, callbacks = _check_arguments(n_trials, timeout, n_jobs, catch, callbacks)
    criteria = _check_criteria(stop_when, run.directions)
    if backend != "thread":
        from pipetune.execution.tasks import storage_reference

        if backend == "ray":
            from pipetune.execution.ray_backend import check_resources

            check_resources(resources_per_trial)
        storage_reference(run.storage, backend)  # refused before starting a cluster
    run.stop_requested = False
    call = OptimizeRun(run, n_trials, timeout, show_progress_bar, criteria)
    try:
        if backend == "ray":
            from pipetune.execution.ray_backend import run_ray

            run_ray(call, func, requested_jobs, catch_types, callbacks, resources_per_trial)
            return call.result()
        if backend == "spark":
            from pipetune.execution.spark_backend import run_spark

            run_spark(call, func, requested_jobs, catch_types, callbacks)
            return call.result()
        if n_jobs == 1:
            _worker(call, func, catch_types, callbacks)
            return call.result()
        pool = concurrent.futures.ThreadPoolExecutor(n_jobs, thread_name_prefix="pipetune")
        futures = [pool.submit(_worker, call, func, catch_types, callbacks)
                   for _ in range(n_jobs)]
        try:
            first_error: BaseException | None = None
            for future in concurrent.futures.as_completed(futures):
                error = future.exception()
                if error is not None and first_error is None:
                    first_error = error
                    run.stop_requested = True
            pool.shutdown()
            if first_error is not None:
                raise first_error
            return call.result()
        except KeyboardInterrupt as interrupt:
            # Threads cannot be interrupted: fail the trials in flight now, so nothing stays
            # RUNNING, and let the threads' late results be ignored.
            call.fail_running(interrupt)
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    finally:
        call.close()
        run.stop_requested = False


def record_optimize_start(run: RunInterface, n_trials: int | None, timeout: float | None,
                          n_jobs: int) -> dict[str, Any]:
    """Stores what an ``optimize`` call runs with, as study system attrs: this process's
    environment, the sampler and the pruner (class, settings, seed) and the call's budget with
    its start time; returns the record ``record_optimize_end`` completes."""
    record = {"n_trials": n_trials, "timeout": timeout, "n_jobs": n_jobs,
              "started": dt.datetime.now().isoformat(), "ended": None}
    storage, study_id = run.storage, run.study_id
    storage.set_study_attr(study_id, ENVIRONMENT_ATTR, environment(), system=True)
    storage.set_study_attr(study_id, SAMPLER_ATTR, describe(run.sampler), system=True)
    storage.set_study_attr(study_id, PRUNER_ATTR, describe(run.pruner), system=True)
    storage.set_study_attr(study_id, OPTIMIZE_ATTR, record, system=True)
    return record


def record_optimize_end(run: RunInterface, record: dict[str, Any]) -> None:
    """Adds the end time to the record of an ``optimize`` call."""
    run.storage.set_study_attr(run.study_id, OPTIMIZE_ATTR,
                               {**record, "ended": dt.datetime.now().isoformat()}, system=True)
