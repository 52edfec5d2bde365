"""``Study.optimize``: runs trials in this thread or in a pool of threads until a budget ends."""

from __future__ import annotations

import concurrent.futures
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from pipetune.datatypes import FrozenTrial, StudyDirection, TrialState
from pipetune.errors import InvalidArgumentError, SearchSpaceExhaustedError
from pipetune.execution.budget import claim_within_budget
from pipetune.execution.loop import retry_storage, run_trial
from pipetune.stopping import Progress, StoppingCriterion, track

if TYPE_CHECKING:
    from pipetune.study import Study
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
        raise InvalidArgumentError(
            f"The 'catch' argument of Study.optimize must be an exception class or a tuple of "
            f"them. Got {catch!r}.")
    if callbacks is not None and not isinstance(callbacks, Iterable):
        raise InvalidArgumentError(
            f"The 'callbacks' argument of Study.optimize must be a list of callables. "
            f"Got {callbacks!r}.")
    callbacks = list(callbacks or ())
    if not all(callable(c) for c in callbacks):
        raise InvalidArgumentError(
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


class _Run:
    """Shared state of one optimize call: the budget, progress and the best value seen."""

    def __init__(self, study: "Study", n_trials: int | None, timeout: float | None,
                 show_progress_bar: bool, stop_when: list[StoppingCriterion]) -> None:
        self.study = study
        self.stop_when = stop_when
        self.progress: Progress | None = None
        self.n_trials = n_trials
        self.deadline = None if timeout is None else time.monotonic() + timeout
        self.lock = threading.Lock()
        self.started = 0
        self.closed = False  # set when optimize returns: a straggling thread starts nothing
        self.running: dict[int, "Trial"] = {}
        self.best: FrozenTrial | None = None
        self.minimize = (not study.is_multi_objective
                         and study.directions[0] == StudyDirection.MINIMIZE)
        self.bar = None
        if show_progress_bar:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=n_trials, desc=study.study_name, unit="trial")
        if not study.is_multi_objective:
            try:
                self.best = study.best_trial
            except InvalidArgumentError:
                self.best = None

    def is_open(self) -> bool:
        """Whether the run may still start trials: not stopped, closed or past its timeout."""
        return not (self.closed or self.study._stop_requested
                    or self.deadline is not None and time.monotonic() >= self.deadline)

    def take_slot(self) -> bool:
        with self.lock:
            if not self.is_open():
                return False
            if self.n_trials is not None and self.started >= self.n_trials:
                return False
            self.started += 1
            return True

    def give_back_slot(self) -> None:
        """Returns a slot that started no trial (a claim refused for ``max_parallel``)."""
        with self.lock:
            self.started -= 1

    def finished(self, frozen: FrozenTrial) -> None:
        with self.lock:
            self.running.pop(frozen.trial_id, None)
            improved = (frozen.state == TrialState.COMPLETE and not self.study.is_multi_objective
                        and (self.best is None
                             or (frozen.values[0] < self.best.values[0]) == self.minimize
                             and frozen.values[0] != self.best.values[0]))
            if improved:
                self.best = frozen
            self.progress = track(self.progress, self.study.directions, frozen, self.best,
                                  improved)
            progress = self.progress
            if self.bar is not None:
                self.bar.update(1)
                if self.best is not None:
                    self.bar.set_postfix(best=f"{self.best.values[0]:.6g}",
                                         trial=self.best.number, refresh=False)
        if logger.isEnabledFor(logging.INFO):
            _log_trial(frozen, self.best)
        for criterion in self.stop_when:
            reason = criterion.reason_to_stop(progress)  # FailedInARow raises instead
            if reason is not None:
                logger.info("Stopping study %r: %s.", self.study.study_name, reason)
                self.study.stop()

    def close(self) -> None:
        with self.lock:
            self.closed = True
        if self.bar is not None:
            self.bar.close()


def _log_trial(frozen: FrozenTrial, best: FrozenTrial | None) -> None:
    if frozen.state == TrialState.COMPLETE:
        outcome = f"finished with value {frozen.values[0] if len(frozen.values) == 1 else frozen.values}"
    else:
        outcome = f"ended {frozen.state.name}"
    best_text = "" if best is None else f" Best is trial {best.number} with value {best.values[0]:.6g}."
    logger.info("Trial %d %s and params %s.%s", frozen.number, outcome, frozen.params, best_text)


def _worker(run: _Run, func: Callable, catch: tuple, callbacks: list) -> None:
    study = run.study
    while run.take_slot():
        if study.sampler.is_exhausted(study._history):
            study.stop()
            return
        try:
            trial = retry_storage(lambda: claim_within_budget(study, keep_waiting=run.is_open),
                                  "Claiming a trial")
        except SearchSpaceExhaustedError as error:
            logger.info("Stopping: %s", error)
            study.stop()
            return
        if trial is None:  # the study-wide budget is spent, or the run ended while waiting
            if run.is_open():
                logger.info("Stopping: study %r has its max_trials trials.", study.study_name)
                study.stop()
            return
        with run.lock:
            run.running[trial._trial_id] = trial
        frozen, error = run_trial(study, func, trial, catch)
        run.finished(frozen)
        for callback in callbacks:
            callback(study, frozen)
        if error is not None:
            study.stop()
            raise error


def run_optimize(study: "Study", func: Callable[["Trial"], Any], *, n_trials: int | None,
                 timeout: float | None, n_jobs: int, catch: Any,
                 callbacks: Iterable | None, show_progress_bar: bool,
                 stop_when: Any = (), backend: str = "thread",
                 resources_per_trial: dict[str, float] | None = None) -> None:
    """The body of ``Study.optimize`` (see there)."""
    if not callable(func):
        raise InvalidArgumentError(
            f"Study.optimize needs a callable objective taking a trial. Got {func!r}.")
    if backend not in ("thread", "ray"):
        raise InvalidArgumentError(
            f"The 'backend' argument of Study.optimize must be 'thread' or 'ray'. Got {backend!r}.")
    if backend == "thread" and resources_per_trial is not None:
        raise InvalidArgumentError(
            "The 'resources_per_trial' argument of Study.optimize applies to backend='ray' "
            "only; drop it or pass backend='ray'.")
    requested_jobs = n_jobs
    n_jobs, catch_types, callbacks = _check_arguments(n_trials, timeout, n_jobs, catch, callbacks)
    criteria = _check_criteria(stop_when, study.directions)
    if backend == "ray":
        from pipetune.execution.ray_backend import check_resources, storage_reference

        check_resources(resources_per_trial)
        storage_reference(study._storage)  # refuse an in-memory storage before starting Ray
    study._stop_requested = False
    run = _Run(study, n_trials, timeout, show_progress_bar, criteria)
    try:
        if backend == "ray":
            from pipetune.execution.ray_backend import run_ray

            run_ray(run, func, requested_jobs, catch_types, callbacks, resources_per_trial)
            return
        if n_jobs == 1:
            _worker(run, func, catch_types, callbacks)
            return
        pool = concurrent.futures.ThreadPoolExecutor(n_jobs, thread_name_prefix="pipetune")
        futures = [pool.submit(_worker, run, func, catch_types, callbacks) for _ in range(n_jobs)]
        try:
            first_error: BaseException | None = None
            for future in concurrent.futures.as_completed(futures):
                error = future.exception()
                if error is not None and first_error is None:
                    first_error = error
                    study.stop()
            pool.shutdown()
            if first_error is not None:
                raise first_error
        except KeyboardInterrupt as interrupt:
            # Threads cannot be interrupted: fail the trials in flight now, so nothing stays
            # RUNNING, and let the threads' late results be ignored.
            study.stop()
            with run.lock:
                in_flight = list(run.running.values())
            for trial in in_flight:
                study._fail(trial, interrupt)
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    finally:
        run.close()
        study._stop_requested = False
