"""Experiments: named groups of studies and standalone runs (one per pipeline or project),
like an MLflow experiment. A study's experiment is its system attr ``experiment``; a study
without one belongs to ``"default"``. Standalone runs (``pipetune.start_run``) are one-trial
studies whose system attr ``kind`` is ``"run"``; a run that re-runs a study's params (its best
trial's, say) names that study in its system attr ``parent_study`` (the keys:
``pipetune._attrs``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pipetune._attrs import KIND_ATTR, RUN_KIND, experiment_of
from pipetune.datatypes import ExperimentSummary, StudySummary

if TYPE_CHECKING:
    from pipetune.storage.base import BaseStorage

__all__ = ["is_run", "list_experiments", "summarize_experiments"]


def is_run(summary: StudySummary) -> bool:
    """Whether the summarized study is a standalone run (``pipetune.start_run``)."""
    return summary.system_attrs.get(KIND_ATTR) == RUN_KIND


def summarize_experiments(summaries: list[StudySummary]) -> list[ExperimentSummary]:
    """One ExperimentSummary per experiment holding any of ``summaries``, ordered by name."""
    groups: dict[str, list[StudySummary]] = {}
    for summary in summaries:
        groups.setdefault(experiment_of(summary.system_attrs), []).append(summary)
    return [ExperimentSummary(
        name=name, n_studies=sum(1 for s in members if not is_run(s)),
        n_runs=sum(1 for s in members if is_run(s)),
        study_names=tuple(s.study_name for s in members))
        for name, members in sorted(groups.items())]


def list_experiments(storage: str | BaseStorage) -> list[ExperimentSummary]:
    """Every experiment in ``storage`` with its studies and standalone runs."""
    from pipetune.storage import get_storage

    return summarize_experiments(get_storage(storage, create=False).list_studies())
