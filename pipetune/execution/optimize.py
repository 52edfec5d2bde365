"""``Study.optimize``: runs trials in this thread or in a pool of threads until a budget ends."""

from __future__ import annotations

import concurrent.futures
import enum
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
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


class StopReason(enum.Enum):
    """Why an ``optimize`` call stopped starting trials."""

    N_TRIALS = "n_trials"  # the n_trials asked for have run
    TIMEOUT = "timeout"  # the timeout passed
    STOPPING_CRITERION = "stop_when"  # a stop_when criterion fired
    STUDY_BUDGET = "max_trials"  # the study's max_trials trials have started (every process)
    SEARCH_SPACE_EXHAUSTED = "exhausted"  # the sampler has no candidate left (a full grid)
    STOP_CALLED = "stop"  # study.stop() was called (by a callback, another thread, ...)


@dataclass(frozen=True, repr=False)
class OptimizeResult:
    """What one ``Study.optimize`` call did: the trials it ran (numbers in the order they
    finished) and how they ended, why it stopped (``stop_reason``, and ``stop_message`` in
    words, e.g. "no improvement in the last 20 trials"), how long it took, and the study's
    best trial when it returned (over every run and process; None for a multi-objective study
    or before any trial completed)."""

    trial_numbers: tuple[int, ...]
    n_complete: int
    n_pruned: int
    n_failed: int
    stop_reason: StopReason
    stop_message: str
    duration: float  # seconds
    best_trial: FrozenTrial | None

    @property
    def n_trials(self) -> int:
        """How many trials this call ran."""
        return len(self.trial_numbers)

    @property
    def best_value(self) -> float | None:
        return None if self.best_trial is None else self.best_trial.values[0]

    def __repr__(self) -> str:  # short: it is what a notebook shows after study.optimize(...)
        best = "" if self.best_trial is None else \
            f", best trial {self.best_trial.number} with value {self.best_value!r}"
        return (f"<OptimizeResult {self.n_trials} trial(s) ({self.n_complete} COMPLETE, "
                f"{self.n_pruned} PRUNED, {self.n_failed} FAIL) in {self.duration:.3g}s, "
                f"stopped: {self.stop_message}{best}>")


class _Run:
    """Shared state of one optimize call: the budget, progress, the best value seen, the
    trials it finished and why it stopped."""

    def __init__(self, study: "Study", n_trials: int | None, timeout: float | None,
                 show_progress_bar: bool, stop_when: list[StoppingCriterion]) -> None:
        self.study = study
        self.stop_when = stop_when
        self.progress: Progress | None = None
        self.n_trials = n_trials
        self.timeout = timeout
        self.started_at = time.monotonic()
        self.deadline = None if timeout is None else self.started_at + timeout
        self.numbers: list[int] = []  # of the trials this call finished, in that order
        self.counts = {state: 0 for state in TrialState}
        self.stopped_because: tuple[StopReason, str] | None = None
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

    def stop(self, reason: StopReason, message: str) -> None:
        """Ends the run (``study.stop()``) for ``reason``; the first reason given is kept."""
        with self.lock:
            first = self.stopped_because is None
            if first:
                self.stopped_because = (reason, message)
        if first:
            logger.info("Stopping study %r: %s.", self.study.study_name, message)
        self.study.stop()

    def finished(self, frozen: FrozenTrial) -> None:
        with self.lock:
            self.running.pop(frozen.trial_id, None)
            self.numbers.append(frozen.number)
            self.counts[frozen.state] += 1
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
                self.stop(StopReason.STOPPING_CRITERION, reason)

    def close(self) -> None:
        with self.lock:
            self.closed = True
        if self.bar is not None:
            self.bar.close()

    def result(self) -> OptimizeResult:
        """What the call did, once it ended without an error (see ``OptimizeResult``)."""
        if self.stopped_because is not None:
            reason, message = self.stopped_because
        elif self.n_trials is not None and len(self.numbers) >= self.n_trials:
            reason, message = StopReason.N_TRIALS, f"ran the {self.n_trials} trial(s) asked for"
        elif self.deadline is not None and time.monotonic() >= self.deadline:
            reason, message = StopReason.TIMEOUT, f"the timeout of {self.timeout:g}s passed"
        else:  # nothing of ours stopped it: study.stop() did
            reason, message = StopReason.STOP_CALLED, "study.stop() was called"
        best = None
        if not self.study.is_multi_objective:
            try:
                best = self.study.best_trial
            except InvalidArgumentError:  # no COMPLETE trial yet
                pass
        return OptimizeResult(
            trial_numbers=tuple(self.numbers), n_complete=self.counts[TrialState.COMPLETE],
            n_pruned=self.counts[TrialState.PRUNED], n_failed=self.counts[TrialState.FAIL],
            stop_reason=reason, stop_message=message,
            duration=time.monotonic() - self.started_at, best_trial=best)


def _log_trial(frozen: FrozenTrial, best: FrozenTrial | None) -> None:
    """One line per trial that completed or was pruned (a failed one has its warning, with
    the reason, from where it failed)."""
    if frozen.state == TrialState.COMPLETE:
        values = frozen.values[0] if len(frozen.values) == 1 else frozen.values
        best_text = "" if best is None else \
            f" Best is trial {best.number} with value {best.values[0]!r}."
        logger.info("Trial %d finished with value%s %r and params %s.%s", frozen.number,
                    "" if len(frozen.values) == 1 else "s", values, frozen.params, best_text)
    elif frozen.state == TrialState.PRUNED:
        logger.info("Trial %d pruned at step %s with params %s.", frozen.number,
                    frozen.last_step, frozen.params)


def stop_for_budget(run: _Run) -> None:
    """Ends ``run``: the study's ``max_trials`` trials have started."""
    run.stop(StopReason.STUDY_BUDGET, f"study {run.study.study_name!r} has its "
             f"max_trials={run.study._budget.max_trials} trials")


def _worker(run: _Run, func: Callable, catch: tuple, callbacks: list) -> None:
    study = run.study
    while run.take_slot():
        if study.sampler.is_exhausted(study._history):
            run.stop(StopReason.SEARCH_SPACE_EXHAUSTED, "the sampler has no candidate left")
            return
        try:
            trial = retry_storage(lambda: claim_within_budget(study, keep_waiting=run.is_open),
                                  "Claiming a trial")
        except SearchSpaceExhaustedError as error:
            run.stop(StopReason.SEARCH_SPACE_EXHAUSTED, str(error))
            return
        if trial is None:  # the study-wide budget is spent, or the run ended while waiting
            if run.is_open():
                stop_for_budget(run)
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
                 resources_per_trial: dict[str, float] | None = None) -> OptimizeResult:
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
            return run.result()
        if n_jobs == 1:
            _worker(run, func, catch_types, callbacks)
            return run.result()
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
            return run.result()
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
