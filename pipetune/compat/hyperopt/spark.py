"""Hyperopt's ``hyperopt.spark``: ``SparkTrials``, whose ``fmin`` runs each trial as a Spark task.

Code written for Hyperopt on a Spark cluster (Databricks' way) runs by changing the import::

    from pipetune.compat.hyperopt import SparkTrials, fmin, hp, tpe
    best = fmin(objective, space, algo=tpe.suggest, max_evals=40,
                trials=SparkTrials(parallelism=4))

The driver suggests: it asks the study for a trial, draws the sample from the space on it
(the sampler sees the finished trials and those in flight) and starts a Spark job of one task
(``execution.spark_backend.SparkJobs``), which evaluates the objective on the sample and
records the result in the study's storage, as ``fmin`` does (status, loss, the other keys).
The driver reads it back from there. So the storage must be one every executor reaches: on a
local Spark a ``SparkTrials`` keeps its study in a SQLite file of a temporary folder; on a
cluster it needs ``storage=`` (PostgreSQL, a ``pipetune server``) and ``study_name=``.

As Hyperopt's ``SparkTrials``: up to ``parallelism`` trials run at once (default: the cluster's
default parallelism, at most 128); the smaller of its ``timeout`` and ``fmin``'s ends the
search, cancelling the trials still running (their Spark jobs are killed and the trials end
FAIL); an objective that raises fails its trial and the search goes on (the error is logged,
the trial keeps it); ``fmin`` inside ``mlflow.start_run()`` logs every trial as a nested child
run of that run, with its params (``pipetune.integrations.mlflow``). Without an active run
nothing goes to MLflow. ``trials_save_file`` is refused: the storage keeps the trials already.
"""

from __future__ import annotations

import concurrent.futures
import functools
import logging
import math
import os
import pickle
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from pipetune._numbers import real_number
from pipetune.compat.hyperopt._space import space_eval
from pipetune.compat.hyperopt._trials import STATUS_OK, AllTrialsFailedError
from pipetune.compat.hyperopt.fmin import (
    Trials,
    advance,
    check_budget,
    open_search,
    parse_result,
    progress_bar,
    record_result,
    sample_trial,
    seed_from,
)
from pipetune.datatypes import FrozenTrial, TrialState
from pipetune.errors import InvalidArgumentError, ObjectiveError
from pipetune.execution import tasks
from pipetune.execution.loop import tell_outcome
from pipetune.execution.spark_backend import SparkJobs, existing_session, shipping_bytes
from pipetune.samplers import RandomSampler
from pipetune.study import Study, load_study
from pipetune.trial import Trial

__all__ = ["MAX_CONCURRENT_JOBS_ALLOWED", "SparkTrials"]

logger = logging.getLogger("pipetune")

#: The most trials a SparkTrials runs at once, as in Hyperopt.
MAX_CONCURRENT_JOBS_ALLOWED = 128


def _evaluate_in_task(storage: Any, study_name: str, trial_id: int, sample: Any,
                      fn: Any) -> tasks.Outcome:
    """The Spark task of one trial: evaluates the broadcast objective on ``sample`` and
    records the result on the stored trial. Returns ("ok", the result dict or None when it
    cannot travel back, None) or ("error", exception, traceback text)."""
    # The driver's sampler has drawn the sample; telling needs none of its own.
    study = load_study(study_name=study_name, storage=storage, sampler=RandomSampler(seed=0))
    trial = study.run_interface.trial(trial_id)
    try:
        result = parse_result(pickle.loads(fn.value)(sample))
    except Exception as error:  # noqa: BLE001 - the objective's error fails its trial only
        tell_outcome(study.run_interface, trial, error=error)
        return "error", tasks.portable_error(error), traceback.format_exc()
    with warnings.catch_warnings():
        # A given point names every label, also those of branches not taken: no mistake here.
        warnings.filterwarnings("ignore", message=r"Trial \d+ was enqueued with param")
        kept = record_result(study, trial, result)
    try:
        pickle.dumps(kept)
    except Exception:  # noqa: BLE001 - the stored record holds what JSON could keep
        return "ok", None, None
    return "ok", kept, None


def _check_parallelism(parallelism: Any) -> int | None:
    if parallelism is None:
        return None
    if isinstance(parallelism, bool) or not isinstance(parallelism, int) or parallelism < 1:
        raise InvalidArgumentError(
            f"The 'parallelism' argument of SparkTrials must be a positive int or None (the "
            f"cluster's default parallelism). Got {parallelism!r}.")
    if parallelism > MAX_CONCURRENT_JOBS_ALLOWED:
        logger.warning("SparkTrials runs at most %d trials at once; parallelism=%d is lowered "
                       "to that.", MAX_CONCURRENT_JOBS_ALLOWED, parallelism)
        return MAX_CONCURRENT_JOBS_ALLOWED
    return parallelism


def _check_timeout(name: str, timeout: Any) -> float | None:
    if timeout is None:
        return None
    value = real_number(timeout)
    if value is None or not value > 0:
        raise InvalidArgumentError(
            f"The {name!r} argument of SparkTrials must be a positive number of seconds or "
            f"None. Got {timeout!r}.")
    return float(value)


class SparkTrials(Trials):
    """``Trials`` whose ``fmin`` runs each trial as a Spark task, up to ``parallelism`` at
    once (see the module docstring).

    Args:
        parallelism: trials at a time (default: the cluster's default parallelism); at most
            128.
        timeout: seconds the search may take; trials running then are cancelled.
        loss_threshold: stop starting trials once a loss is at most this.
        spark_session: the session to run on (default: the active one, else a local Spark
            started for each ``fmin``).
        storage, study_name: where the trials are kept (as for ``Trials``); needed on a
            cluster, whose executors cannot open a file of the driver's.
    """

    asynchronous = True  # Hyperopt's flag: trials finish out of order

    def __init__(self, parallelism: int | None = None, timeout: float | None = None,
                 loss_threshold: float | None = None, spark_session: Any = None, *,
                 storage: Any = None, study_name: str | None = None) -> None:
        self.parallelism = _check_parallelism(parallelism)
        self.timeout = _check_timeout("timeout", timeout)
        if loss_threshold is not None and real_number(loss_threshold) is None:
            raise InvalidArgumentError(
                "The 'loss_threshold' argument of SparkTrials must be a number or None. "
                f"Got {loss_threshold!r}.")
        self.loss_threshold = loss_threshold
        self._spark_session = spark_session if spark_session is not None \
            else existing_session()
        self._folder: tempfile.TemporaryDirectory[str] | None = None
        if storage is None:
            master = "local" if self._spark_session is None \
                else str(self._spark_session.sparkContext.master)
            if not master.startswith("local"):
                raise InvalidArgumentError(
                    f"SparkTrials on the cluster {master!r} needs a storage every executor "
                    "reaches, which a file of this machine is not: pass "
                    "SparkTrials(storage='postgresql://...' or 'http://host:8080' (a pipetune "
                    "server), study_name=...).")
            # Deleted with this object; the executors of a local Spark share this machine.
            self._folder = tempfile.TemporaryDirectory(prefix="pipetune-sparktrials-")
            storage = f"sqlite:///{os.path.join(self._folder.name, 'trials.db')}"
        super().__init__(storage=storage,
                         study_name="hyperopt" if study_name is None else study_name)

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state.pop("_spark_session", None)
        state.pop("_folder", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self._spark_session = existing_session()
        self._folder = None

    def fmin(self, fn: Callable[[Any], Any], space: Any, algo: Any = None,
             max_evals: int | None = None, timeout: float | None = None,
             loss_threshold: float | None = None, max_queue_len: int = 1, rstate: Any = None,
             verbose: bool = False, pass_expr_memo_ctrl: Any = None,
             catch_eval_exceptions: bool = False, return_argmin: bool = True,
             show_progressbar: bool = True, early_stop_fn: Callable[..., Any] | None = None,
             trials_save_file: str = "", points_to_evaluate: Any = None) -> Any:
        """``fmin`` over these trials, each evaluated in a Spark task: what
        ``pipetune.compat.hyperopt.fmin`` calls when given a ``SparkTrials``. Returns the
        argmin (or, with ``return_argmin=False``, the best sample). As in Hyperopt,
        ``max_queue_len`` trials are suggested ahead while others run (each then sees all
        results but those in flight), so a slot that frees starts one at once; trials
        suggested ahead of a search that stops end FAIL, cancelled. ``show_progressbar``
        shows the trials finished and the best loss; ``verbose`` and ``catch_eval_exceptions``
        (SparkTrials never raises an objective's error) are accepted for Hyperopt's sake."""
        if not callable(fn):
            raise InvalidArgumentError(f"The 'fn' argument of fmin must be callable. Got {fn!r}.")
        if pass_expr_memo_ctrl:
            raise InvalidArgumentError(
                "fmin(pass_expr_memo_ctrl=True) hands the objective Hyperopt's pyll graph, "
                "which pipetune does not build; the objective receives the sample instead.")
        if isinstance(space, str) and space == "annotated":
            raise InvalidArgumentError(
                "SparkTrials takes the space itself, not space='annotated': pass a dict of the "
                "objective's parameters (the same nodes) and let it take one sample argument.")
        if trials_save_file:
            raise InvalidArgumentError(
                "SparkTrials keeps its trials in its storage: drop trials_save_file and pass "
                "SparkTrials(storage='sqlite:///trials.db', study_name=...) to keep them.")
        check_budget(max_evals, timeout, loss_threshold)
        if isinstance(max_queue_len, bool) or not isinstance(max_queue_len, int) \
                or max_queue_len < 1:
            raise InvalidArgumentError(
                f"The 'max_queue_len' argument of fmin must be a positive int. "
                f"Got {max_queue_len!r}.")
        limits = [float(t) for t in (self.timeout, timeout) if t is not None]
        deadline = time.monotonic() + min(limits) if limits else None
        thresholds = [real_number(t) for t in (self.loss_threshold, loss_threshold)
                      if t is not None]
        threshold = max((t for t in thresholds if t is not None), default=None)
        seed = seed_from(rstate)
        study = open_search(self, space, algo, seed, points_to_evaluate)
        run = _Search(self, study, space, seed, max_evals, deadline, threshold, early_stop_fn,
                      sum(1 for t in study.trials if t.state != TrialState.WAITING))
        parallelism = self.parallelism if self.parallelism is not None else -1
        run.bar = progress_bar(show_progressbar, max_evals, run.done, run.best)
        try:
            with SparkJobs(parallelism, self._spark_session) as jobs:
                run.drive(jobs, fn, min(jobs.parallelism, MAX_CONCURRENT_JOBS_ALLOWED),
                          max_queue_len)
        finally:
            if run.bar is not None:
                run.bar.close()
        if return_argmin:
            return self.argmin
        return space_eval(space, self.argmin)


class _Search:
    """One ``SparkTrials.fmin``: the budget, the trials in flight and what is told of them."""

    def __init__(self, trials: SparkTrials, study: Study, space: Any, seed: int | None,
                 max_evals: int | None, deadline: float | None, threshold: float | None,
                 early_stop_fn: Callable[..., Any] | None, done: int) -> None:
        self.trials, self.study, self.space, self.seed = trials, study, space, seed
        self.max_evals, self.deadline, self.threshold = max_evals, deadline, threshold
        self.early_stop_fn = early_stop_fn
        self.early_stop_args: tuple[Any, ...] = ()
        self.done = done
        self.stopped = False
        try:
            self.best = float(trials.best_trial["result"]["loss"])
        except AllTrialsFailedError:
            self.best = math.inf
        self.pending: dict[concurrent.futures.Future, Trial] = {}
        self.mlflow = _mlflow_callback()
        self.unlogged: list[FrozenTrial] = []  # finished, not yet sent to MLflow
        self.queued: list[tuple[Trial, Any]] = []  # suggested, waiting for a free slot
        self.bar: Any = None  # fmin's progress bar, when it shows one

    def halted(self) -> bool:
        """Whether the search is over, whatever is left of max_evals."""
        if self.stopped:
            return True
        if self.deadline is not None and time.monotonic() >= self.deadline:
            return True
        return self.threshold is not None and self.best <= self.threshold

    def may_suggest(self) -> bool:
        started = self.done + len(self.pending) + len(self.queued)
        return not self.halted() and (self.max_evals is None or started < self.max_evals)

    def drive(self, jobs: SparkJobs, fn: Callable[[Any], Any], parallelism: int,
              queue_len: int) -> None:
        reference = tasks.storage_reference(self.study.run_interface.storage, "spark")
        shipped = jobs.broadcast(shipping_bytes(fn))
        name = self.study.study_name
        try:
            while True:
                while len(self.pending) < parallelism and (self.queued or self.may_suggest()):
                    if self.halted():
                        break
                    trial, sample = self.queued.pop(0) if self.queued else self._suggest()
                    task = functools.partial(_evaluate_in_task, reference, name,
                                             trial.trial_id, sample, shipped)
                    self.pending[jobs.submit(task, f"hyperopt: trial {trial.number} of "
                                                   f"{name!r}")] = trial
                # Hyperopt's max_queue_len: trials suggested ahead while these run, so a slot
                # that frees starts the next one at once.
                while self.pending and len(self.queued) < queue_len and self.may_suggest():
                    self.queued.append(self._suggest())
                if self.halted():
                    self._cancel_queued("cancelled: the search stopped before it ran")
                self._log()  # while the new trials run, not before they start
                if not self.pending:
                    self._cancel_queued("cancelled: the search stopped before it ran")
                    self._log()
                    return
                left = None if self.deadline is None else \
                    max(0.0, self.deadline - time.monotonic())
                finished, _ = concurrent.futures.wait(
                    list(self.pending), timeout=left,
                    return_when=concurrent.futures.FIRST_COMPLETED)
                if not finished:  # the timeout passed with trials still running
                    self._cancel_all(jobs, "cancelled: the timeout of the search passed")
                    self._log()
                    return
                for future in finished:
                    self._finish(future, self.pending.pop(future))
        except BaseException as error:  # KeyboardInterrupt too: no trial stays RUNNING
            self._cancel_all(jobs, f"cancelled: {type(error).__name__}: {error}")
            raise

    def _suggest(self) -> tuple[Trial, Any]:
        """A new trial and its sample, drawn here, on the driver, and stored before its task
        starts (the task finishes the trial)."""
        trial = self.study.ask()
        # Unlabelled draws (scope.uniform(0, 1)) repeat with the seed, as in fmin.
        rng = np.random.default_rng(None if self.seed is None else [self.seed, trial.number])
        try:
            sample = sample_trial(trial, self.space, rng)
            trial.flush()
        except BaseException as error:
            tell_outcome(self.study.run_interface, trial, error=error)
            raise
        return trial, sample

    def _finish(self, future: concurrent.futures.Future, trial: Trial) -> None:
        try:
            outcome, payload, trace = future.result()
        except Exception as error:  # noqa: BLE001 - the task died: a lost executor, a cancel
            outcome, payload, trace = "error", error, None
        run = self.study.run_interface
        # The task finished the trial; one whose task died is failed here.
        frozen = tell_outcome(run, run.trial(trial.trial_id), error=payload, trace=trace) \
            if outcome == "error" else run.storage.get_trial(trial.trial_id)
        self.done += 1
        if outcome == "ok":
            if isinstance(payload, dict):
                self.trials.keep_result(trial.number, payload)
            loss = real_number(payload.get("loss")) if isinstance(payload, dict) else None
            if loss is None and frozen.state == TrialState.COMPLETE and frozen.values:
                loss = frozen.values[0]
            status = payload.get("status") if isinstance(payload, dict) else STATUS_OK
            if status == STATUS_OK and loss is not None and loss < self.best:
                self.best = loss
        else:
            logger.warning("Trial %d of SparkTrials failed: %s: %s", trial.number,
                           type(payload).__name__, payload)
        self.unlogged.append(frozen)
        advance(self.bar, 1, self.best)
        if self.early_stop_fn is not None:
            stop, *rest = self.early_stop_fn(self.trials, *self.early_stop_args)
            self.early_stop_args = tuple(rest[0]) if rest else ()
            self.stopped = self.stopped or bool(stop)

    def _cancel_all(self, jobs: SparkJobs, reason: str) -> None:
        run = self.study.run_interface
        for future, trial in list(self.pending.items()):
            jobs.cancel(future)
            self.unlogged.append(tell_outcome(run, trial, error=ObjectiveError(reason)))
        self.pending.clear()
        self._cancel_queued(reason)

    def _cancel_queued(self, reason: str) -> None:
        """Fails the trials suggested ahead that will not run (never left RUNNING)."""
        run = self.study.run_interface
        for trial, _ in self.queued:
            self.unlogged.append(tell_outcome(run, trial, error=ObjectiveError(reason)))
        self.queued.clear()

    def _log(self) -> None:
        """Sends the trials finished since the last call to MLflow, when it logs."""
        if self.mlflow is not None:
            for frozen in self.unlogged:
                self.mlflow(self.study, frozen)
        self.unlogged.clear()


def _mlflow_callback() -> Any:
    """An ``MLflowCallback`` nesting each trial under the active MLflow run, or None when
    there is none (MLflow never imported, or no ``mlflow.start_run()`` open)."""
    mlflow = sys.modules.get("mlflow")
    if mlflow is None or mlflow.active_run() is None:
        return None
    from pipetune.integrations.mlflow import MLflowCallback

    return MLflowCallback(tracking_uri=mlflow.get_tracking_uri(),
                          parent_run_id=mlflow.active_run().info.run_id)
