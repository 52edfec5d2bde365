"""pipetune: tune machine-learning pipelines.

The public vocabulary matches Optuna's, so code written for it moves over by changing the
import: ``create_study``, ``Trial.suggest_*``, ``study.optimize``, ``trials_dataframe``.
"""

import importlib as _importlib
from typing import Any as _Any

# Public name -> the module defining it. Everything is imported on first use (PEP 562), so a
# launched training script's `from pipetune import report` does not pay for SQLAlchemy, scipy
# and the samplers at every start.
_EXPORTS = {
    "ArtifactNotFoundError": "pipetune.errors",
    "CategoricalDistribution": "pipetune.distributions",
    "DuplicateStudyError": "pipetune.errors",
    "FilterSyntaxError": "pipetune.errors",
    "FloatDistribution": "pipetune.distributions",
    "FrozenTrial": "pipetune.datatypes",
    "InMemoryStorage": "pipetune.storage",
    "IntDistribution": "pipetune.distributions",
    "InvalidArgumentError": "pipetune.errors",
    "InvalidDistributionError": "pipetune.errors",
    "ObjectiveError": "pipetune.errors",
    "OptimizeResult": "pipetune.execution.optimize_call",
    "ParamConflictError": "pipetune.errors",
    "PipetuneError": "pipetune.errors",
    "Run": "pipetune.tracking.runs",
    "StopReason": "pipetune.execution.optimize_call",
    "StorageError": "pipetune.errors",
    "Study": "pipetune.study",
    "StudyDirection": "pipetune.datatypes",
    "StudyNotFoundError": "pipetune.errors",
    "StudySummary": "pipetune.datatypes",
    "Trial": "pipetune.trial",
    "TrialPruned": "pipetune.errors",
    "TrialState": "pipetune.datatypes",
    "copy_study": "pipetune.study",
    "create_study": "pipetune.study",
    "create_trial": "pipetune.trial",
    "delete_study": "pipetune.study",
    "get_all_study_names": "pipetune.study",
    "get_all_study_summaries": "pipetune.study",
    "get_storage": "pipetune.storage",
    "list_experiments": "pipetune.tracking.experiments",
    "list_studies": "pipetune.study",
    "load_study": "pipetune.study",
    "report": "pipetune.reporting",
    "start_run": "pipetune.tracking.runs",
}
_SUBPACKAGES = ("artifacts", "distributions", "exceptions", "importance", "pipeline", "pruners",
                "samplers", "search_space", "stopping", "storages", "study", "terminator",
                "trial", "visualization")

# Imported now, as it installs the handler that prints pipetune's log lines whichever part of
# pipetune logs first (and it is small). Not in __all__: a star import would shadow the
# standard library's ``logging``.
from pipetune import logging  # noqa: E402, F401


def __getattr__(name: str) -> _Any:
    if name in _EXPORTS:
        value = getattr(_importlib.import_module(_EXPORTS[name]), name)
    elif name in _SUBPACKAGES:
        value = _importlib.import_module(f"pipetune.{name}")
    else:
        raise AttributeError(f"module 'pipetune' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


from pipetune._version import __version__  # noqa: E402, F401

__all__ = [
    "ArtifactNotFoundError",
    "CategoricalDistribution",
    "DuplicateStudyError",
    "FilterSyntaxError",
    "FloatDistribution",
    "FrozenTrial",
    "InMemoryStorage",
    "IntDistribution",
    "InvalidArgumentError",
    "InvalidDistributionError",
    "ObjectiveError",
    "OptimizeResult",
    "ParamConflictError",
    "PipetuneError",
    "Run",
    "StopReason",
    "StorageError",
    "Study",
    "StudyDirection",
    "StudyNotFoundError",
    "StudySummary",
    "Trial",
    "TrialPruned",
    "TrialState",
    "artifacts",
    "copy_study",
    "create_study",
    "create_trial",
    "delete_study",
    "distributions",
    "exceptions",
    "get_all_study_names",
    "get_all_study_summaries",
    "get_storage",
    "importance",
    "list_experiments",
    "list_studies",
    "load_study",
    "pipeline",
    "pruners",
    "report",
    "samplers",
    "search_space",
    "start_run",
    "stopping",
    "storages",
    "study",
    "terminator",
    "trial",
    "visualization",
]
