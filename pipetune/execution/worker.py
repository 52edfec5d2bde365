"""The worker loop behind ``pipetune worker``: pull trials of one study from a shared storage
until the study-wide budget is spent.

Any number of workers, on any machines, run the same loop against one storage (PostgreSQL, or
SQLite on one machine). The budget is the study's ``max_trials`` and ``max_parallel``
(``pipetune.execution.budget``), checked by the storage inside each claim, so the workers
together never start more than it allows; a claim refused for ``max_parallel`` waits for a
running trial to finish. A worker that finds ``max_trials`` spent while other trials still run waits
when the study has heartbeats: one of those trials may belong to a dead worker, be failed by
the heartbeat check and be retried, which frees a slot. The storage being briefly unreachable
(a database restart) is retried with exponential backoff; SIGTERM lets the trials in flight
finish for ``stop_timeout`` seconds and then fails them, so no trial is left RUNNING.
"""

from __future__ import annotations

import functools
import logging
import math
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from pipetune.datatypes import TrialState
from pipetune.errors import InvalidArgumentError
from pipetune.execution.budget import Budget
from pipetune.execution.heartbeat import default_worker_name
from pipetune.execution.loop import retry_storage, run_trial

if TYPE_CHECKING:
    from pipetune.execution.interface import RunInterface
    from pipetune.trial import Trial

logger = logging.getLogger("pipetune")

T = TypeVar("T")

# Exit codes of run_worker (and so of ``pipetune worker``).
EXIT_DONE = 0  # the budget is spent, or stopped with every trial finished
EXIT_FAILED = 1  # the storage stayed unreachable, or a worker thread crashed
EXIT_STOPPED_TRIALS_FAILED = 143  # stopped by a signal; trials in flight had to be failed

STOP_REASON = "worker stopped by a signal before the trial finished"


@dataclass(frozen=True)
class WorkerOptions:
    """How one worker process runs (see ``run_worker``)."""

    max_trials: int | None = None
    max_parallel: int | None = None
    concurrency: int = 1
    stop_timeout: float = 10.0
    storage_retry_for: float = 60.0
    worker_name: str | None = None

    def __post_init__(self) -> None:
        Budget(self.max_trials, self.max_parallel)  # checks them
        if isinstance(self.concurrency, bool) or not isinstance(self.concurrency, int) \
                or self.concurrency < 1:
            raise InvalidArgumentError(
                f"The 'concurrency' option of the worker must be a positive int. "
                f"Got {self.concurrency!r}.")
        for name in ("stop_timeout", "storage_retry_for"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or not 0 <= value < math.inf:
                raise InvalidArgumentError(
                    f"The '{name}' option of the worker must be a number of seconds >= 0. "
                    f"Got {value!r}.")


class Worker:
    """One worker process: ``concurrency`` threads pulling trials of one study (given as its
    run interface, ``study.run_interface``)."""

    def __init__(self, run_interface: RunInterface, func: Callable[[Trial], Any],
                 options: WorkerOptions) -> None:
        self.run_interface = run_interface
        self.func = func
        self.options = options
        self.name = options.worker_name or default_worker_name()
        self.stop_event = threading.Event()
        self._lock = threading.Lock()
        self._running: dict[int, Trial] = {}
        self._errors: list[BaseException] = []
        self.numbers: list[int] = []  # the trials this worker ran, in order
        given = Budget(options.max_trials, options.max_parallel)
        if given != Budget():  # the worker sets the study-wide budget for every worker
            self._retry(lambda: given.store(run_interface.storage, run_interface.study_id),
                        "Setting the study's budget")
            self._retry(run_interface.load_settings, "Reading the study's settings")

    def _retry(self, call: Callable[[], T], what: str) -> T:
        return retry_storage(call, what, give_up_after=self.options.storage_retry_for)

    # -- one thread ----------------------------------------------------------------------------

    def _others_may_free_a_slot(self) -> bool:
        """Whether a refused claim is worth trying again. Refused for ``max_parallel``: yes.
        For ``max_trials``, with heartbeats, a RUNNING trial may be a dead worker's, to be
        failed and retried: the worker waits for it. Without, it cannot tell, and leaves it to
        its worker."""
        run = self.run_interface
        if not self._retry(run.budget_spent, "Counting started trials"):
            return True  # refused for max_parallel: a running trial will free a slot
        liveness = run.liveness
        if liveness is None:
            return False
        if self._retry(liveness.before_claim, "Checking for dead workers"):
            return True  # failing them freed budget slots (and may have queued retries)
        return self._retry(lambda: run.storage.count_trials(run.study_id, [TrialState.RUNNING]),
                           "Counting running trials") > 0

    def _pull(self, index: int) -> None:
        name = self.name if self.options.concurrency == 1 else f"{self.name}:{index}"
        run = self.run_interface
        liveness = run.liveness
        poll = 0.5 if liveness is None else min(1.0, liveness.settings.heartbeat_interval)
        while not self.stop_event.is_set():
            trial = self._retry(lambda: run.claim(name, run.budget), "Claiming a trial")
            if trial is None:
                if not self._others_may_free_a_slot():
                    return
                self.stop_event.wait(poll)
                continue
            self._run(trial)

    def _run(self, trial: Trial) -> None:
        with self._lock:
            self._running[trial.trial_id] = trial
            self.numbers.append(trial.number)
        try:
            # A failing objective fails its trial only; an interrupt stops the thread.
            frozen, interrupt = run_trial(self.run_interface, self.func, trial, (Exception,),
                                          retry=self._retry)
            if interrupt is not None:
                raise interrupt
            logger.info("Trial %d finished %s with values %s.", trial.number,
                        frozen.state.name, frozen.values)
        finally:
            with self._lock:
                self._running.pop(trial.trial_id, None)

    def _thread_body(self, index: int) -> None:
        try:
            self._pull(index)
        except BaseException as error:  # noqa: BLE001 - reported by run(); the others stop too
            logger.error("Worker thread %d stopped: %s: %s", index, type(error).__name__, error)
            with self._lock:
                self._errors.append(error)
            self.stop_event.set()

    # -- the process ---------------------------------------------------------------------------

    def stop(self) -> None:
        """Starts no more trials; those in flight get ``stop_timeout`` seconds to finish."""
        self.stop_event.set()

    def fail_in_flight(self) -> int:
        """Fails the trials this worker's threads are running now (a stop that timed out, or a
        second signal); returns how many."""
        with self._lock:
            in_flight = list(self._running.values())
        for trial in in_flight:
            try:
                self.run_interface.record_failure(trial, STOP_REASON, None)
                self._retry(functools.partial(self.run_interface.tell, trial,
                                              state=TrialState.FAIL, skip_if_finished=True),
                            "Failing a trial")
            except Exception as error:  # noqa: BLE001 - the heartbeat check will fail it
                logger.error("Could not fail trial %d: %s", trial.number, error)
        return len(in_flight)

    def run(self) -> int:
        """Runs until the budget is spent or ``stop`` is called; returns an exit code."""
        threads = [threading.Thread(target=self._thread_body, args=(i,), daemon=True,
                                    name=f"pipetune-worker-{i}")
                   for i in range(self.options.concurrency)]
        for thread in threads:
            thread.start()
        stopping_since: float | None = None
        while any(thread.is_alive() for thread in threads):
            for thread in threads:
                thread.join(0.1)
            if self.stop_event.is_set() and stopping_since is None:
                stopping_since = time.monotonic()
            if stopping_since is not None and \
                    time.monotonic() - stopping_since > self.options.stop_timeout:
                # The objectives did not return in time: fail their trials and leave the
                # (daemon) threads behind; the caller exits the process.
                if self.fail_in_flight():
                    return EXIT_STOPPED_TRIALS_FAILED
                break
        return EXIT_FAILED if self._errors else EXIT_DONE

    @property
    def errors(self) -> list[BaseException]:
        with self._lock:
            return list(self._errors)


def run_worker(worker: Worker) -> int:
    """Runs ``worker`` in this process until the budget is spent or SIGTERM / SIGINT arrives
    (a second signal fails the trials in flight at once); returns its exit code."""
    in_main = threading.current_thread() is threading.main_thread()
    previous: dict[signal.Signals, Any] = {}

    def on_signal(signum: int, _frame: Any) -> None:
        if worker.stop_event.is_set():
            worker.fail_in_flight()
        logger.warning("Received signal %d: finishing the trials in flight, then exiting.",
                       signum)
        worker.stop()

    if in_main:
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous[signum] = signal.signal(signum, on_signal)
    try:
        return worker.run()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
