"""One ``optimize`` call as the loops running it share it: how many trials it may still
start, what they did, the best trial seen, the progress bar and the stopping criteria
(``OptimizeRun``); why it stopped (``StopReason``) and what it did (``OptimizeResult``, which
``Study.optimize`` returns). Shared by the thread pool (``optimize``) and the driver of the task
backends (``tasks``)."""

from __future__ import annotations

import enum
import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pipetune.datatypes import FrozenTrial, StudyDirection, TrialState
from pipetune.stopping import Progress, StoppingCriterion, track

if TYPE_CHECKING:
    from pipetune.execution.interface import RunInterface
    from pipetune.trial import Trial

__all__ = ["OptimizeResult", "OptimizeRun", "StopReason", "stop_for_budget"]

logger = logging.getLogger("pipetune")


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
        return None if self.best_trial is None else self.best_trial.value

    def __repr__(self) -> str:  # short: it is what a notebook shows after study.optimize(...)
        best = "" if self.best_trial is None else \
            f", best trial {self.best_trial.number} with value {self.best_value!r}"
        return (f"<OptimizeResult {self.n_trials} trial(s) ({self.n_complete} COMPLETE, "
                f"{self.n_pruned} PRUNED, {self.n_failed} FAIL) in {self.duration:.3g}s, "
                f"stopped: {self.stop_message}{best}>")


class OptimizeRun:
    """Shared state of one optimize call: the budget, progress, the best value seen, the
    trials it finished and why it stopped."""

    def __init__(self, run: RunInterface, n_trials: int | None, timeout: float | None,
                 show_progress_bar: bool, stop_when: list[StoppingCriterion]) -> None:
        self.run = run
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
        self.running: dict[int, Trial] = {}
        self.best: FrozenTrial | None = None
        self.single = len(run.directions) == 1
        self.minimize = self.single and run.directions[0] == StudyDirection.MINIMIZE
        self.bar = None
        if show_progress_bar:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=n_trials, desc=run.study_name, unit="trial")
        self.best = run.best_trial()

    def is_open(self) -> bool:
        """Whether the run may still start trials: not stopped, closed or past its timeout."""
        return not (self.closed or self.run.stop_requested
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

    def fail_running(self, interrupt: BaseException) -> None:
        """Stops the run and ends FAIL every trial it claimed and has not finished (on
        Ctrl-C: nothing may stay RUNNING, whatever happens to the work still in flight)."""
        self.run.stop_requested = True
        with self.lock:
            claimed = list(self.running.values())
        for trial in claimed:
            self.run.fail(trial, interrupt)

    def stop(self, reason: StopReason, message: str) -> None:
        """Ends the run (``study.stop()``) for ``reason``; the first reason given is kept."""
        with self.lock:
            first = self.stopped_because is None
            if first:
                self.stopped_because = (reason, message)
        if first:
            logger.info("Stopping study %r: %s.", self.run.study_name, message)
        self.run.stop_requested = True

    def finished(self, frozen: FrozenTrial) -> None:
        with self.lock:
            self.running.pop(frozen.trial_id, None)
            self.numbers.append(frozen.number)
            self.counts[frozen.state] += 1
            value = frozen.value if frozen.state == TrialState.COMPLETE and self.single else None
            best = None if self.best is None else self.best.value
            improved = value is not None and (best is None or (value < best) == self.minimize
                                              and value != best)
            if improved:
                self.best = frozen
            self.progress = track(self.progress, self.run.directions, frozen, self.best,
                                  improved)
            progress = self.progress
            if self.bar is not None:
                self.bar.update(1)
                if self.best is not None:
                    self.bar.set_postfix(best=f"{self.best.value:.6g}",
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
        return OptimizeResult(
            trial_numbers=tuple(self.numbers), n_complete=self.counts[TrialState.COMPLETE],
            n_pruned=self.counts[TrialState.PRUNED], n_failed=self.counts[TrialState.FAIL],
            stop_reason=reason, stop_message=message,
            duration=time.monotonic() - self.started_at, best_trial=self.run.best_trial())


def _log_trial(frozen: FrozenTrial, best: FrozenTrial | None) -> None:
    """One line per trial that completed or was pruned (a failed one has its warning, with
    the reason, from where it failed)."""
    if frozen.state == TrialState.COMPLETE and frozen.values is not None:
        values = frozen.values[0] if len(frozen.values) == 1 else frozen.values
        best_text = "" if best is None else \
            f" Best is trial {best.number} with value {best.value!r}."
        logger.info("Trial %d finished with value%s %r and params %s.%s", frozen.number,
                    "" if len(frozen.values) == 1 else "s", values, frozen.params, best_text)
    elif frozen.state == TrialState.PRUNED:
        logger.info("Trial %d pruned at step %s with params %s.", frozen.number,
                    frozen.last_step, frozen.params)


def stop_for_budget(call: OptimizeRun) -> None:
    """Ends ``call``: the study's ``max_trials`` trials have started."""
    call.stop(StopReason.STUDY_BUDGET, f"study {call.run.study_name!r} has its "
              f"max_trials={call.run.budget.max_trials} trials")
