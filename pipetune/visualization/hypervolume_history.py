"""``plot_hypervolume_history``: how much of objective space a multi-objective study's Pareto
front dominated after each trial (see ``pipetune._hypervolume``)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from pipetune._attrs import is_feasible
from pipetune._hypervolume import hypervolume
from pipetune._numbers import real_number
from pipetune._trial_table import check_study, completed
from pipetune.datatypes import StudyDirection
from pipetune.errors import InvalidArgumentError
from pipetune.visualization._common import NO_COMPLETE, empty_figure, new_figure, scatter_class

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from pipetune.study import Study

@dataclass(frozen=True)
class HypervolumeHistory:
    """The number of each COMPLETE trial and the hypervolume of the front after it."""

    numbers: np.ndarray
    values: np.ndarray


def hypervolume_history(study: Study, reference_point: Sequence[float]) -> HypervolumeHistory:
    """What ``plot_hypervolume_history`` draws. A trial that breaks a constraint
    (``Trial.set_constraints``), or has a value that is not finite, leaves the front as it
    was; maximized objectives count from the reference point upwards."""
    check_study(study, "plot_hypervolume_history")
    directions = study.directions
    if len(directions) < 2:
        raise InvalidArgumentError(
            f"plot_hypervolume_history needs a study of two or more objectives; study "
            f"{study.study_name!r} has one. Use plot_optimization_history for it.")
    numbers = [real_number(v) for v in reference_point] \
        if isinstance(reference_point, Sequence) and not isinstance(reference_point, str) else []
    if len(numbers) != len(directions) or \
            not all(v is not None and math.isfinite(v) for v in numbers):
        raise InvalidArgumentError(
            f"reference_point of plot_hypervolume_history must be {len(directions)} finite "
            f"numbers, one per objective (a value worse than any trial's on each). "
            f"Got {reference_point!r}.")
    signs = np.array([1.0 if d == StudyDirection.MINIMIZE else -1.0 for d in directions])
    reference = np.asarray(numbers, dtype=float) * signs
    front = np.empty((0, len(directions)))
    volume = 0.0
    trial_numbers, volumes = [], []
    for trial in completed(study):
        point = np.asarray(trial.values, dtype=float) * signs
        if is_feasible(trial.system_attrs) and np.isfinite(point).all() \
                and (point < reference).all() and not (front <= point).all(axis=1).any():
            front = np.vstack([front[~(point <= front).all(axis=1)], point])
            volume = hypervolume(front, reference)
        trial_numbers.append(trial.number)
        volumes.append(volume)
    return HypervolumeHistory(np.array(trial_numbers, dtype=int), np.array(volumes))


def plot_hypervolume_history(study: Study, reference_point: Sequence[float]) -> go.Figure:
    """The hypervolume of the study's Pareto front against the trial number: the
    multi-objective counterpart of the optimization history, rising while the search still
    finds better trade-offs. ``reference_point`` bounds the volume, one value per objective,
    worse than every trial worth counting."""
    history = hypervolume_history(study, reference_point)
    title = "Hypervolume History Plot"
    if not len(history.numbers):
        return empty_figure(title, NO_COMPLETE)
    figure = new_figure(title, xaxis={"title": {"text": "Trial"}},
                        yaxis={"title": {"text": "Hypervolume"}})
    figure.add_trace(scatter_class(len(history.numbers))(
        x=history.numbers, y=history.values, mode="lines+markers", name="Hypervolume",
        hovertemplate="trial %{x}<br>hypervolume %{y:.6g}<extra></extra>"))
    return figure
