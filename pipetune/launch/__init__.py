"""``pipetune tune``: tuning a training script pipetune cannot import, one process per trial.

What it is made of, one concern per module:

- ``schema``: the study's YAML file (its schema is drawn there), read and checked line by
  line (``_yamldoc``) into a ``StudyConfig`` (``config``);
- ``specs``: how to run one trial (``LaunchSpec``: an argv with ``{param}`` templates,
  limits, retries, GPUs) and where its values come from (``MetricSpec``,
  ``IntermediateSpec``);
- ``objective``: ``ScriptObjective``, the objective ``study.optimize`` runs: params in as
  arguments, the script started in its own process group (``process_group``) on its GPUs
  (``gpus``), its output read live for metrics and pruning (``output``);
- ``logs``: each trial's log, kept with it when it ends and read back (``pipetune logs``);
- ``final``: the final run of the best params, outside the search.

The script's side of the protocol, ``pipetune.report``, is ``pipetune.reporting``: a launched
script imports it without the rest of pipetune. The names below are imported on first use.
"""

import importlib as _importlib
from typing import Any as _Any

_EXPORTS = {
    "FinalSpec": "pipetune.launch.config",
    "GpuPool": "pipetune.launch.gpus",
    "IntermediateSpec": "pipetune.launch.specs",
    "LaunchSpec": "pipetune.launch.specs",
    "MetricSpec": "pipetune.launch.specs",
    "PrunerSpec": "pipetune.launch.config",
    "SamplerSpec": "pipetune.launch.config",
    "ScriptObjective": "pipetune.launch.objective",
    "StoppingSpec": "pipetune.launch.config",
    "StudyConfig": "pipetune.launch.config",
    "detect_gpus": "pipetune.launch.gpus",
    "gpu_pool": "pipetune.launch.gpus",
    "load_config": "pipetune.launch.schema",
    "parse_config": "pipetune.launch.schema",
    "read_log": "pipetune.launch.logs",
    "terminate_all": "pipetune.launch.process_group",
}


def __getattr__(name: str) -> _Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'pipetune.launch' has no attribute {name!r}")
    value = getattr(_importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "FinalSpec",
    "GpuPool",
    "IntermediateSpec",
    "LaunchSpec",
    "MetricSpec",
    "PrunerSpec",
    "SamplerSpec",
    "ScriptObjective",
    "StoppingSpec",
    "StudyConfig",
    "detect_gpus",
    "gpu_pool",
    "load_config",
    "parse_config",
    "read_log",
    "terminate_all",
]
