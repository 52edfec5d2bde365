"""``Study.optimize(..., backend="ray")``: each trial's objective runs as a Ray task.

The driver loop and the task body are those of every task backend (``execution.tasks``):
suggestions, reports and pruning go through the study's storage, which every Ray node must
reach (a SQLite file on one machine, PostgreSQL, or a ``pipetune server``), never memory.
This module joins or starts Ray and holds each task to ``resources_per_trial``.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pipetune._imports import require
from pipetune.errors import InvalidArgumentError
from pipetune.execution import tasks
from pipetune.execution.optimize_call import OptimizeRun

if TYPE_CHECKING:
    from pipetune.trial import Trial

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


def shipping_bytes(obj: Any) -> bytes:
    """``obj`` pickled for a Ray task, with Ray's cloudpickle (see ``tasks.shipping_bytes``)."""
    return tasks.shipping_bytes(obj, require("ray.cloudpickle", "ray"))


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


class _RayTasks(tasks.TaskPool):
    name = "Ray"

    def __init__(self, ray: Any, task: Any, reference: Any, study_name: str, tools: bytes,
                 func_ref: Any) -> None:
        self._ray, self._task, self._func_ref = ray, task, func_ref
        self._reference, self._study_name, self._tools = reference, study_name, tools

    def submit(self, trial_id: int) -> Any:
        return self._task.remote(self._reference, self._study_name, trial_id, self._tools,
                                 self._func_ref)

    def wait(self, handles: list[Any]) -> list[Any]:
        done, _ = self._ray.wait(handles, num_returns=1)
        return list(done)

    def outcome(self, handle: Any) -> tasks.Outcome:
        result: tasks.Outcome = self._ray.get(handle)
        return result

    def cancel(self, handle: Any) -> None:
        self._ray.cancel(handle, force=True)


def run_ray(call: OptimizeRun, func: Callable[[Trial], Any], n_jobs: int,
            catch: tuple[type[BaseException], ...], callbacks: list,
            resources_per_trial: Any) -> None:
    """Runs the trials of ``call`` as Ray tasks, up to ``n_jobs`` at once (-1: as many as the
    cluster's CPUs hold), telling each result to the study as it arrives."""
    run = call.run
    resources = check_resources(resources_per_trial)
    reference = tasks.storage_reference(run.storage, "ray")
    ray, started_here = _connect(n_jobs, resources)
    tools = shipping_bytes((type(run.study), run.sampler, run.pruner))
    try:
        check_cluster_holds(ray, resources)
        if n_jobs == -1:
            cluster_cpus = ray.cluster_resources().get("CPU", 1)
            n_jobs = max(1, int(cluster_cpus // resources["cpu"]) if resources["cpu"] else 1)
        task = ray.remote(tasks.run_in_task).options(
            num_cpus=resources["cpu"], num_gpus=resources["gpu"], max_retries=0)
        pool = _RayTasks(ray, task, reference, run.study_name, tools, ray.put(func))
        tasks.drive(call, pool, n_jobs, catch, callbacks)
    finally:
        if started_here:
            ray.shutdown()
