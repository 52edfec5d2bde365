"""The figures of trials rather than of values, drawn with matplotlib: intermediate values,
the timeline and the Pareto front. The data are the plotly figures'
(``pipetune.visualization.intermediate_values``, ``.timeline``, ``.pareto_front``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from pipetune._trial_table import check_study
from pipetune.datatypes import FrozenTrial, TrialState
from pipetune.visualization._common import NO_COMPLETE, STATE_COLORS
from pipetune.visualization.intermediate_values import (
    FAINT_ABOVE,
    NO_REPORTS,
    intermediate_curves,
)
from pipetune.visualization.matplotlib._axes import empty_axes, new_axes
from pipetune.visualization.pareto_front import pareto_points
from pipetune.visualization.timeline import NOTHING_STARTED, TIMELINE_STATES, timeline_bars

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from pipetune.study import Study


def plot_intermediate_values(study: Study, *, objective: int = 0) -> Axes:
    """``pipetune.visualization.plot_intermediate_values`` as matplotlib axes: each trial's
    reported values against their step, coloured by state, a cross where a pruned trial
    stopped."""
    check_study(study, "plot_intermediate_values")
    title = "Intermediate Values"
    curves = intermediate_curves(study, objective)
    if not curves:
        return empty_axes(title, NO_REPORTS)
    axes = new_axes(title, "Step", "Intermediate Value")
    alpha = 0.7 if len(curves) <= FAINT_ABOVE else 0.25
    labelled: set[TrialState] = set()
    for curve in curves:
        color = STATE_COLORS[curve.state]
        label = None if curve.state in labelled else curve.state.name.capitalize()
        labelled.add(curve.state)
        axes.plot(curve.steps, curve.values, color=color, linewidth=1, marker=".",
                  markersize=3, alpha=alpha, label=label)
        if curve.state == TrialState.PRUNED:
            axes.plot(curve.steps[-1], curve.values[-1], color=color, marker="x",
                      markersize=8, linestyle="none")
    axes.legend()
    return axes


def plot_timeline(study: Study, n_recent_trials: int | None = None) -> Axes:
    """``pipetune.visualization.plot_timeline`` as matplotlib axes: a bar per started trial
    (or per one of the ``n_recent_trials`` started last) from its start to its end, on the
    row of its worker, coloured by state."""
    check_study(study, "plot_timeline")
    title = "Timeline"
    bars = timeline_bars(study, n_recent_trials)
    if not bars:
        return empty_axes(title, NOTHING_STARTED)
    from matplotlib.dates import date2num

    workers = sorted({bar.worker for bar in bars})
    axes = new_axes(title, "Time", "Worker")
    for state in TIMELINE_STATES:
        chosen = [bar for bar in bars if bar.state == state]
        if chosen:
            axes.barh([workers.index(bar.worker) for bar in chosen],
                      [bar.seconds / 86400 for bar in chosen],  # date units are days
                      left=[date2num(bar.start) for bar in chosen], height=0.8,
                      color=STATE_COLORS[state], edgecolor="white", linewidth=0.5,
                      label=state.name.capitalize())
    axes.set_yticks(range(len(workers)), workers)
    axes.xaxis_date()
    axes.figure.autofmt_xdate()
    axes.legend()
    return axes


def plot_pareto_front(study: Study, *, target_names: Sequence[str] | None = None,
                      include_dominated_trials: bool = True,
                      targets: Callable[[FrozenTrial], Sequence[float]] | None = None) -> Axes:
    """``pipetune.visualization.plot_pareto_front`` as matplotlib axes (3D axes for three
    objectives): the COMPLETE trials, the Pareto-optimal ones highlighted."""
    check_study(study, "plot_pareto_front")
    points, names, _, on_front = pareto_points(study, targets, target_names)
    title = "Pareto-front Plot"
    if not len(points):
        return empty_axes(title, NO_COMPLETE)
    three = points.shape[1] == 3
    # 3D axes (mpl_toolkits' Axes3D) take a third coordinate and label.
    axes: Any = new_axes(title, names[0], names[1], **({"projection": "3d"} if three else {}))
    if three:
        axes.set_zlabel(names[2])
    groups = [("Best Trials", on_front, "#d62728")]
    if include_dominated_trials:
        groups.insert(0, ("Trials", ~on_front, "#9ecae1"))
    for label, mask, color in groups:
        if mask.any():
            axes.scatter(*points[mask].T, color=color, s=20, label=label)
    axes.legend()
    return axes
