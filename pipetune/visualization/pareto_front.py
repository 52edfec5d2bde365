"""``plot_pareto_front``: the trade-off between two or three objectives."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from pipetune._best import is_pareto_efficient
from pipetune._trial_table import check_study, completed
from pipetune.datatypes import FrozenTrial, StudyDirection
from pipetune.errors import InvalidArgumentError
from pipetune.visualization._common import empty_figure, go_module, new_figure, scatter_class

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from pipetune.study import Study


def pareto_points(study: Study, targets: Callable[[FrozenTrial], Sequence[float]] | None,
                target_names: Sequence[str] | None) -> tuple[np.ndarray, list[str],
                                                             list[FrozenTrial], np.ndarray]:
    """What ``plot_pareto_front`` draws: the objective values (one row per COMPLETE trial with
    finite values), their names, those trials, and which of them are on the Pareto front."""
    directions = study.directions
    trials = completed(study)
    if targets is None:
        if len(directions) not in (2, 3):
            raise InvalidArgumentError(
                f"plot_pareto_front draws 2 or 3 objectives; study {study.study_name!r} has "
                f"{len(directions)}. Pass targets=lambda t: (t.values[0], t.values[1]) to pick "
                "two or three of them.")
        points = np.array([t.values for t in trials], dtype=float).reshape(-1, len(directions))
        signs = np.array([1.0 if d == StudyDirection.MINIMIZE else -1.0 for d in directions])
    else:
        points = np.array([tuple(targets(t)) for t in trials], dtype=float)
        if points.ndim != 2 or points.shape[1] not in (2, 3):
            raise InvalidArgumentError(
                "targets must return 2 or 3 numbers per trial (the objectives to draw), e.g. "
                "targets=lambda t: (t.values[0], t.values[2]).")
        signs = np.ones(points.shape[1])  # custom targets are all minimized
    n_objectives = points.shape[1] if points.ndim == 2 and len(points) else (
        len(directions) if targets is None else 2)
    names = list(target_names) if target_names is not None else [
        f"Objective {i}" for i in range(n_objectives)]
    if len(names) != n_objectives:
        raise InvalidArgumentError(
            f"target_names needs one name per objective drawn ({n_objectives}). Got {names}.")
    finite = np.isfinite(points).all(axis=1) if len(points) else np.zeros(0, dtype=bool)
    points = points[finite]
    trials = [t for t, keep in zip(trials, finite) if keep]
    on_front = is_pareto_efficient(points * signs) if len(points) else np.zeros(0, dtype=bool)
    return points, names, trials, on_front


def plot_pareto_front(study: Study, *, target_names: Sequence[str] | None = None,
                      include_dominated_trials: bool = True,
                      targets: Callable[[FrozenTrial], Sequence[float]] | None = None
                      ) -> go.Figure:
    """The COMPLETE trials of a two- or three-objective study, the Pareto-optimal ones (no
    other trial at least as good on every objective) highlighted: the trade-offs to choose
    from. ``targets`` picks 2 or 3 numbers per trial (all minimized) for studies with more
    objectives or derived quantities; ``target_names`` names the axes."""
    check_study(study, "plot_pareto_front")
    points, names, trials, on_front = pareto_points(study, targets, target_names)
    title = "Pareto-front Plot"
    if not len(points):
        return empty_figure(title, "No COMPLETE trials yet.")
    numbers = np.array([t.number for t in trials])
    three = points.shape[1] == 3
    go = go_module()
    if three:
        figure = new_figure(title, scene={"xaxis": {"title": {"text": names[0]}},
                                          "yaxis": {"title": {"text": names[1]}},
                                          "zaxis": {"title": {"text": names[2]}}})
    else:
        figure = new_figure(title, xaxis={"title": {"text": names[0]}},
                            yaxis={"title": {"text": names[1]}})
    groups = [("Best Trials", on_front, "#d62728")]
    if include_dominated_trials:
        groups.insert(0, ("Trials", ~on_front, "#9ecae1"))
    for label, mask, color in groups:
        if not mask.any():
            continue
        hover = "trial %{customdata}<br>" + "<br>".join(
            f"{name}: %{{{axis}:.6g}}" for name, axis in zip(names, "xyz")) + "<extra></extra>"
        coords = dict(zip("xyz", points[mask].T))
        if three:
            trace = go.Scatter3d(mode="markers", name=label, marker={"color": color, "size": 4},
                                 customdata=numbers[mask], hovertemplate=hover, **coords)
        else:
            trace = scatter_class(int(mask.sum()))(
                mode="markers", name=label, marker={"color": color, "size": 7},
                customdata=numbers[mask], hovertemplate=hover, **coords)
        figure.add_trace(trace)
    return figure
