"""``Study.optimize(..., backend="ray")``: each trial's objective runs as a Ray task.

The driver keeps the study's ask/tell in this process; a task re-opens the study from its
storage URL (a handle of the driver's own ``Study`` class, shipped with the sampler and pruner),
wraps the claimed trial and runs the objective there, so suggestions, reports and
pruning decisions go through the shared storage exactly as they would in a ``pipetune worker``.
That is why the study needs a storage every Ray node can reach (a SQLite file on one machine,
PostgreSQL, or a ``pipetune server``), never memory.
"""

from __future__ import annotations

import io
import logging
import math
import os
import sys
import threading
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pipetune._imports import require
from pipetune.datatypes import FrozenTrial
from pipetune.errors import InvalidArgumentError, SearchSpaceExhaustedError, TrialPruned
from pipetune.execution.loop import tell_outcome
from pipetune.execution.optimize_call import OptimizeRun, StopReason, stop_for_budget

if TYPE_CHECKING:
    from pipetune.storage.base import BaseStorage
    from pipetune.trial import Trial

logger = logging.getLogger("pipetune")

_LOCK_TYPE = type(threading.Lock())
_RLOCK_TYPE = type(threading.RLock())
_KNOWN_RESOURCES = ("cpu", "gpu")
_RAY_RESOURCE_NAMES = {"cpu": "CPU", "gpu": "GPU"}  # resources_per_trial key -> Ray's name


def check_resources(resources_per_trial: Any) -> dict[str, float]:
    """Validates ``resources_per_trial`` ({"cpu": 1, "gpu": 0} by default)."""
    if resources_per_trial is None:
        return {"cpu": 1.0, "gpu": 0.0}
    if not isinstance(resources_per_trial, dict) or \
            any(key not in _KNOWN_RESOURCES for key in resources_per_trial):
        raise InvalidArgumentError(
            "The 'resources_per_trial' argument of Study.optimize must be a dict with keys "
            f"'cpu' and/or 'gpu', such as {{'cpu': 1, 'gpu': 0}}. Got {resources_per_trial!r}.")
    resources = {"cpu": 1.0, "gpu": 0.0}
    for key, value in resources_per_trial.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0 \
                or math.isinf(value):
            raise InvalidArgumentError(
                f"resources_per_trial[{key!r}] of Study.optimize must be a number >= 0. "
                f"Got {value!r}.")
        resources[key] = float(value)
    return resources


def storage_reference(storage: BaseStorage) -> Any:
    """What a Ray task needs to re-open ``storage``: its full URL (password included, which
    the storage's display URL hides) or, for a remote storage, the picklable object itself."""
    from pipetune.storage.remote import RemoteStorage
    from pipetune.storage.sql import SQLStorage

    if isinstance(storage, RemoteStorage):
        return storage
    if isinstance(storage, SQLStorage):
        url = storage._engine.url
        if url.get_backend_name() != "sqlite" or url.database not in (None, "", ":memory:"):
            return storage.connect_url()
    raise InvalidArgumentError(
        "Study.optimize(backend='ray') runs trials in other processes, which cannot see an "
        f"in-memory storage ({type(storage).__name__}). Create the study in a storage they "
        "can reach: storage='sqlite:///study.db' (one machine), 'postgresql://...' or "
        "'http://host:8080' (a pipetune server).")


def shipping_bytes(obj: Any) -> bytes:
    """``obj`` (a sampler, a pruner, the study's class) pickled for a Ray task: with Ray's
    cloudpickle, so functions made inside a method travel by value, and with each lock, which
    cannot travel, sent as a new lock. ``pickle.loads`` reads it back in any process."""
    # Read at run time, so the type checker takes the base class as Any.
    base_pickler: Any = require("ray.cloudpickle", "ray").Pickler

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


def _portable_error(error: BaseException) -> BaseException:
    """``error`` if it survives pickling, else a RuntimeError with its text."""
    import pickle

    try:
        pickle.loads(pickle.dumps(error))
        return error
    except Exception:  # noqa: BLE001 - whatever pickling raised, the text still travels
        return RuntimeError(f"{type(error).__name__}: {error}")


def _run_in_task(storage: Any, study_name: str, trial_id: int, tools: bytes,
                 func: Callable[[Trial], Any]) -> tuple[str, Any, str | None]:
    """The body of one Ray task: returns ("ok", value, None), ("pruned", None, None) or
    ("error", exception, traceback text). Exceptions travel as values so the driver sees the
    objective's own error rather than Ray's wrapper."""
    import pickle

    study_class, sampler, pruner = pickle.loads(tools)
    study = study_class(study_name, storage, sampler=sampler, pruner=pruner)
    trial = study.run_interface.trial(trial_id)
    try:
        outcome: tuple[str, Any, str | None] = ("ok", func(trial), None)
    except TrialPruned:
        outcome = ("pruned", None, None)
    except Exception as error:  # noqa: BLE001 - the objective's error travels to the driver
        outcome = ("error", _portable_error(error), traceback.format_exc())
    trial.flush()  # the driver tells from the stored record
    return outcome


# A one-machine Ray needs no open ports: unless the first variable is 0 when ``ray`` is first
# imported, Ray 2.x binds its listeners to every interface even when told 127.0.0.1. The
# second keeps Ray from sending usage statistics. The caller's environment may override both.
_LOCAL_RAY_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}


def _will_start_local_ray() -> bool:
    if os.environ.get("RAY_ADDRESS"):
        return False
    ray = sys.modules.get("ray")
    return ray is None or not ray.is_initialized()


def _connect(n_jobs: int, resources: dict[str, float]) -> tuple[Any, bool]:
    """Joins the running Ray (or the one at $RAY_ADDRESS), else starts a local one bound to
    127.0.0.1; returns ``ray`` and whether this call started it (and so must shut it down)."""
    if not _will_start_local_ray():
        ray = require("ray", "ray")
        if not ray.is_initialized():
            ray.init(address=os.environ["RAY_ADDRESS"])
        return ray, False
    added = [key for key in _LOCAL_RAY_ENV if key not in os.environ]
    os.environ.update({key: _LOCAL_RAY_ENV[key] for key in added})
    try:
        ray = require("ray", "ray")
        if n_jobs == -1:
            num_cpus = os.cpu_count() or 1
        else:
            num_cpus = max(1, math.ceil(n_jobs * resources["cpu"]))
        ray.init(num_cpus=num_cpus, include_dashboard=False, _node_ip_address="127.0.0.1",
                 configure_logging=False)
    finally:
        for key in added:
            os.environ.pop(key, None)
    return ray, True


def check_cluster_holds(ray: Any, resources: dict[str, float]) -> None:
    """Refuses ``resources`` that no live node of the Ray cluster has: Ray would keep every
    task pending, and the run would wait forever without a word (a GPU asked for where
    there is none)."""
    nodes = [node["Resources"] for node in ray.nodes() if node.get("Alive")]
    largest = {key: max((node.get(name, 0.0) for node in nodes), default=0.0)
               for key, name in _RAY_RESOURCE_NAMES.items()}
    if any(all(node.get(_RAY_RESOURCE_NAMES[key], 0.0) >= amount
               for key, amount in resources.items()) for node in nodes):
        return
    short = [key.upper() for key, amount in resources.items() if amount > largest[key]]
    lacking = " and ".join(short) if short else "of both at once"
    has = " and ".join(f"{largest[key]:g} {key.upper()}" for key in _RAY_RESOURCE_NAMES)
    given = {key: _plain(amount) for key, amount in resources.items()}
    fitting = {key: _plain(min(amount, largest[key])) for key, amount in resources.items()}
    raise InvalidArgumentError(
        f"resources_per_trial={given} asks more than any node of the Ray cluster has "
        f"({lacking}): its {len(nodes)} live node(s) have at most {has} each, so no trial "
        f"could ever start. Ask for what a node has, e.g. resources_per_trial={fitting}, or "
        "join a cluster that has it ($RAY_ADDRESS).")


def _plain(amount: float) -> float | int:
    """``1.0`` as ``1``: a resources dict shown as the user would write it."""
    return int(amount) if amount.is_integer() else amount


def run_ray(call: OptimizeRun, func: Callable[[Trial], Any], n_jobs: int,
            catch: tuple[type[BaseException], ...], callbacks: list,
            resources_per_trial: Any) -> None:
    """Runs the trials of ``call`` as Ray tasks, up to ``n_jobs`` at once (-1: as many as the
    cluster's CPUs hold), telling each result to the study as it arrives."""
    run = call.run
    resources = check_resources(resources_per_trial)
    reference = storage_reference(run.storage)
    ray, started_here = _connect(n_jobs, resources)
    tools = shipping_bytes((type(run.study), run.sampler, run.pruner))
    try:
        check_cluster_holds(ray, resources)
        if n_jobs == -1:
            cluster_cpus = ray.cluster_resources().get("CPU", 1)
            n_jobs = max(1, int(cluster_cpus // resources["cpu"]) if resources["cpu"] else 1)
        task = ray.remote(_run_in_task).options(
            num_cpus=resources["cpu"], num_gpus=resources["gpu"], max_retries=0)
        func_ref = ray.put(func)
        _drive(ray, call, task, func_ref, reference, tools, n_jobs, catch, callbacks)
    finally:
        if started_here:
            ray.shutdown()


def _drive(ray: Any, call: OptimizeRun, task: Any, func_ref: Any, reference: Any,
           tools: bytes, n_jobs: int, catch: tuple, callbacks: list) -> None:
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
                ref = task.remote(reference, run.study_name, trial.trial_id, tools, func_ref)
                pending[ref] = trial
            if not pending:
                break
            done, _ = ray.wait(list(pending), num_returns=1)
            for ref in done:
                frozen, error = _finish(ray, call, pending.pop(ref), ref, catch)
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
        run.stop_requested = True
        with call.lock:
            claimed = list(call.running.values())
        for trial in claimed:
            run.fail(trial, interrupt)
        for ref in pending:
            try:
                ray.cancel(ref, force=True)
            except Exception as error:  # noqa: BLE001 - the trial is already FAIL
                logger.warning("Could not cancel a Ray task of study %r: %s",
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


def _finish(ray: Any, call: OptimizeRun, trial: Trial, ref: Any,
            catch: tuple) -> tuple[FrozenTrial, BaseException | None]:
    """Tells the study how the task of ``trial`` ended; returns the finished trial and the
    error the run must raise, if any."""
    try:
        outcome, payload, trace = ray.get(ref)
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
