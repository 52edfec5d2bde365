"""Experiments: named groups of studies and standalone runs (one per pipeline or project),
like an MLflow experiment. A study's experiment is its system attr ``experiment``; a study
without one belongs to ``"default"``. Standalone runs (``pipetune.start_run``) are one-trial
studies whose system attr ``kind`` is ``"run"``; a run that re-runs a study's params (its best
trial's, say) names that study in its system attr ``parent_study``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipetune.datatypes import StudySummary
from pipetune.errors import InvalidArgumentError
from pipetune.tracking.records import ExperimentSummary

if TYPE_CHECKING:
    from pipetune.storage.base import BaseStorage

__all__ = ["DEFAULT_EXPERIMENT", "EXPERIMENT_ATTR", "KIND_ATTR", "PARENT_ATTR", "RUN_KIND",
           "check_experiment", "experiment_of", "list_experiments", "store_experiment",
           "summarize_experiments"]

DEFAULT_EXPERIMENT = "default"
EXPERIMENT_ATTR = "experiment"
KIND_ATTR = "kind"
RUN_KIND = "run"
PARENT_ATTR = "parent_study"  # of a run re-running a study's params: that study's name


def check_experiment(experiment: str) -> str:
    if not isinstance(experiment, str) or not experiment.strip():
        raise InvalidArgumentError(
            f"experiment must be a non-empty string such as 'dc-taxi'. Got {experiment!r}.")
    return experiment


def store_experiment(storage: "BaseStorage", study_id: int, experiment: str) -> None:
    """Records a new study's experiment (nothing to write for the default one)."""
    if experiment != DEFAULT_EXPERIMENT:
        storage.set_study_attr(study_id, EXPERIMENT_ATTR, experiment, system=True)


def experiment_of(summary: StudySummary) -> str:
    return str(summary.system_attrs.get(EXPERIMENT_ATTR) or DEFAULT_EXPERIMENT)


def is_run(summary: StudySummary) -> bool:
    return summary.system_attrs.get(KIND_ATTR) == RUN_KIND


def summarize_experiments(summaries: list[StudySummary]) -> list[ExperimentSummary]:
    """One ExperimentSummary per experiment holding any of ``summaries``, ordered by name."""
    groups: dict[str, list[StudySummary]] = {}
    for summary in summaries:
        groups.setdefault(experiment_of(summary), []).append(summary)
    return [ExperimentSummary(
        name=name, n_studies=sum(1 for s in members if not is_run(s)),
        n_runs=sum(1 for s in members if is_run(s)),
        study_names=tuple(s.study_name for s in members))
        for name, members in sorted(groups.items())]


def list_experiments(storage: "str | BaseStorage") -> list[ExperimentSummary]:
    """Every experiment in ``storage`` with its studies and standalone runs."""
    from pipetune.storage import get_storage

    return summarize_experiments(get_storage(storage, create=False).list_studies())
