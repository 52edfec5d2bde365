"""``Study.optimize(..., backend="spark")``: each trial's objective runs as a Spark task.

The driver loop and the task body are those of every task backend (``execution.tasks``):
suggestions, reports and pruning go through the study's storage, which every executor must
reach (a SQLite file on one machine, PostgreSQL, or a ``pipetune server``), never memory. A
user on a Spark cluster needs nothing else: no Ray, no ``pipetune worker``.

Each trial is a Spark job of one task, started from a driver thread in a job group of its own,
so up to ``n_jobs`` trials run at once on the executors and a Ctrl-C cancels exactly the jobs
of this run. ``SparkJobs`` is that machinery; ``pipetune.compat.hyperopt.spark`` (Hyperopt's
``SparkTrials``) runs its trials through it too.

The run joins the active SparkSession (a cluster's, or one the caller built), else starts one
(in a program run by ``spark-submit``, the cluster's it names; otherwise a local one,
``local[n_jobs]`` bound to 127.0.0.1 with this Python as the executors' Python) and stops it
when the run ends.
"""

from __future__ import annotations

import concurrent.futures
import functools
import os
import pickle
import shutil
import sys
import threading
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from pipetune._imports import require
from pipetune.errors import InvalidArgumentError, MissingDependencyError
from pipetune.execution import tasks
from pipetune.execution.optimize_call import OptimizeRun

if TYPE_CHECKING:
    from pipetune.trial import Trial

__all__ = ["SparkJobs", "existing_session", "run_spark", "shipping_bytes"]

T = TypeVar("T")

# A local Spark started here opens no port beyond 127.0.0.1 and no web UI.
_LOCAL_SPARK_CONF = {
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
}


def shipping_bytes(obj: Any) -> bytes:
    """``obj`` pickled for a Spark task, with PySpark's cloudpickle (see
    ``tasks.shipping_bytes``)."""
    return tasks.shipping_bytes(obj, require("pyspark.cloudpickle", "spark"))


def _context_of(session: Any) -> Any:
    """The SparkContext behind ``session``; a Spark Connect session has none, and without one
    no Python function can be sent to the executors."""
    try:
        return session.sparkContext
    except Exception as error:  # noqa: BLE001 - Spark Connect raises its own not-supported error
        raise InvalidArgumentError(
            f"pipetune runs trials as Spark tasks, which needs a classic SparkSession with a "
            f"SparkContext; {type(session).__name__} has none ({error}). Use a session built "
            "by SparkSession.builder without Spark Connect (no 'remote').") from None


def _start_local_session(parallelism: int) -> Any:
    """A local SparkSession of ``parallelism`` cores (-1: every core), reachable only from
    this machine, whose executors run this very Python."""
    sql = require("pyspark.sql", "spark")
    if os.environ.get("JAVA_HOME") is None and shutil.which("java") is None:
        raise MissingDependencyError(
            "Spark needs a Java runtime (17 or later) and none was found: install one (on "
            "Debian/Ubuntu: apt-get install default-jre-headless) or set JAVA_HOME.")
    master = "local[*]" if parallelism == -1 else f"local[{parallelism}]"
    # Read when the JVM starts (the first) and when the SparkContext starts (the second);
    # the caller's own settings win.
    env = {"SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": sys.executable}
    added = [key for key in env if key not in os.environ]
    os.environ.update({key: env[key] for key in added})
    try:
        builder = sql.SparkSession.builder.master(master).appName("pipetune")
        for key, value in _LOCAL_SPARK_CONF.items():
            builder = builder.config(key, value)
        session = builder.getOrCreate()
    finally:
        for key in added:
            os.environ.pop(key, None)
    session.sparkContext.setLogLevel("ERROR")
    return session


def existing_session() -> Any | None:
    """The SparkSession this process already has, if any: the active one, or in a program
    started by ``spark-submit`` the one its master and settings describe. PySpark is not
    imported when neither can be."""
    if os.environ.get("PYSPARK_GATEWAY_PORT"):  # set by spark-submit, which started the JVM
        return require("pyspark.sql", "spark").SparkSession.builder.getOrCreate()
    if "pyspark" not in sys.modules:
        return None
    return require("pyspark.sql", "spark").SparkSession.getActiveSession()


class SparkJobs:
    """Runs Python callables as one-task Spark jobs, up to ``parallelism`` at once, each
    started from a driver thread in a job group of its own so that it can be cancelled.

    ``spark_session`` is the session to use; by default the one the process has
    (``existing_session``), else a local one this object starts (``local[parallelism]``)
    and ``close`` stops. ``parallelism`` -1 means as many as the cluster's default
    parallelism (its cores). Use it as a context manager.
    """

    def __init__(self, parallelism: int, spark_session: Any = None) -> None:
        session = spark_session if spark_session is not None else existing_session()
        self.started_here = session is None
        if session is None:
            session = _start_local_session(parallelism)
        self.session = session
        self._context = _context_of(session)
        self.parallelism = (max(1, int(self._context.defaultParallelism)) if parallelism == -1
                            else parallelism)
        self._threads = concurrent.futures.ThreadPoolExecutor(
            self.parallelism, thread_name_prefix="pipetune-spark")
        self._groups: dict[concurrent.futures.Future, str] = {}  # running jobs' groups
        self._groups_lock = threading.Lock()  # done callbacks run in the job threads
        self._broadcasts: list[Any] = []
        # One partition of one element, made once: each job maps it to its task.
        self._one = self._context.parallelize([0], 1)

    def __enter__(self) -> SparkJobs:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def broadcast(self, value: Any) -> Any:
        """``value`` sent once to every executor (a Spark broadcast variable; tasks read
        ``.value``), released by ``close``."""
        shared = self._context.broadcast(value)
        self._broadcasts.append(shared)
        return shared

    def submit(self, task: Callable[[], T], description: str) -> concurrent.futures.Future:
        """Starts ``task`` (a picklable callable of no arguments) as a Spark task; the future
        holds what it returned, or the error that ended the job (a cancel, a lost
        executor)."""
        group = f"pipetune-{uuid.uuid4().hex}"
        context, one = self._context, self._one

        def job() -> T:
            # Job groups are per thread: this thread's jobs are this task's alone.
            context.setJobGroup(group, description, interruptOnCancel=True)
            result: list[T] = one.map(lambda _: task()).collect()
            return result[0]

        future = self._threads.submit(job)
        with self._groups_lock:
            self._groups[future] = group
        future.add_done_callback(self._forget)
        return future

    def _forget(self, future: concurrent.futures.Future) -> None:
        with self._groups_lock:
            self._groups.pop(future, None)

    def cancel(self, future: concurrent.futures.Future) -> None:
        """Stops the job of ``future``: not started yet, it never starts; running, Spark
        kills its task."""
        future.cancel()
        with self._groups_lock:
            group = self._groups.get(future)
        if group is not None:
            self._context.cancelJobGroup(group)

    def close(self) -> None:
        """Cancels what still runs, releases the broadcasts and stops the session if this
        object started it."""
        with self._groups_lock:
            running = list(self._groups)
        for future in running:
            self.cancel(future)
        self._threads.shutdown(wait=False, cancel_futures=True)
        for shared in self._broadcasts:
            try:
                shared.unpersist()
            except Exception:  # noqa: BLE001 - a stopped context has freed it already
                pass
        self._broadcasts.clear()
        if self.started_here:
            self.session.stop()


def _run_trial_task(reference: Any, study_name: str, trial_id: int, tools: Any,
                    func: Any) -> tasks.Outcome:
    """The Spark task of one trial: ``tasks.run_in_task`` with the broadcast study tools and
    objective."""
    return tasks.run_in_task(reference, study_name, trial_id, tools.value,
                             pickle.loads(func.value))


class _SparkTasks(tasks.TaskPool):
    name = "Spark"

    def __init__(self, jobs: SparkJobs, task: Callable[[int], Callable[[], tasks.Outcome]],
                 study_name: str) -> None:
        self._jobs, self._task, self._study_name = jobs, task, study_name

    def submit(self, trial_id: int) -> concurrent.futures.Future:
        return self._jobs.submit(self._task(trial_id),
                                 f"pipetune: trial {trial_id} of study {self._study_name!r}")

    def wait(self, handles: list[Any]) -> list[Any]:
        done, _ = concurrent.futures.wait(handles, return_when=concurrent.futures.FIRST_COMPLETED)
        return list(done)

    def outcome(self, handle: Any) -> tasks.Outcome:
        result: tasks.Outcome = handle.result()
        return result

    def cancel(self, handle: Any) -> None:
        self._jobs.cancel(handle)


def run_spark(call: OptimizeRun, func: Callable[[Trial], Any], n_jobs: int,
              catch: tuple[type[BaseException], ...], callbacks: list) -> None:
    """Runs the trials of ``call`` as Spark tasks, up to ``n_jobs`` at once (-1: as many as
    the cluster's default parallelism), telling each result to the study as it arrives."""
    run = call.run
    reference = tasks.storage_reference(run.storage, "spark")
    tools = shipping_bytes((type(run.study), run.sampler, run.pruner))
    shipped_func = shipping_bytes(func)
    with SparkJobs(n_jobs) as jobs:
        tools_shared, func_shared = jobs.broadcast(tools), jobs.broadcast(shipped_func)

        def task(trial_id: int) -> Callable[[], tasks.Outcome]:
            return functools.partial(_run_trial_task, reference, run.study_name, trial_id,
                                     tools_shared, func_shared)

        pool = _SparkTasks(jobs, task, run.study_name)
        tasks.drive(call, pool, jobs.parallelism, catch, callbacks)
