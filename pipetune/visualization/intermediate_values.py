"""``plot_intermediate_values``: the learning curve each trial reported, pruned ones marked."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pipetune._trial_table import check_study
from pipetune.datatypes import TrialState
from pipetune.visualization._common import STATE_COLORS, empty_figure, new_figure, scatter_class

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from pipetune.study import Study

FAINT_ABOVE = 100  # trials; more curves are drawn fainter so their density shows
SHOWN_STATES = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING, TrialState.FAIL)


@dataclass(frozen=True)
class Curve:
    """What one trial reported: its number, state, steps and the value at each (NaN where the
    report was not finite)."""

    number: int
    state: TrialState
    steps: list[int]
    values: list[float]


NO_REPORTS = "No trial has reported intermediate values yet."


def intermediate_curves(study: Study, objective: int = 0) -> list[Curve]:
    """The curve of every trial that reported intermediate values and is complete, pruned,
    running or failed (``objective`` picks the value of multi-objective reports)."""
    curves = []
    for trial in study.get_trials(deepcopy=False, states=SHOWN_STATES):
        if not trial.intermediate_values:
            continue
        values = [value[objective] if isinstance(value, tuple) else value
                  for value in trial.intermediate_values.values()]
        curves.append(Curve(trial.number, trial.state, list(trial.intermediate_values),
                            [v if math.isfinite(v) else math.nan for v in values]))
    return curves


def plot_intermediate_values(study: Study, *, objective: int = 0) -> go.Figure:
    """The values every trial reported with ``trial.report`` against their step, one line per
    trial and one colour per state: complete, pruned (its last report marked with a cross,
    where the pruner stopped it), running, failed. Shows whether pruning stopped the curves
    that ended badly. ``objective`` picks the value of multi-objective reports."""
    check_study(study, "plot_intermediate_values")
    title = "Intermediate Values"
    curves = intermediate_curves(study, objective)
    if not curves:
        return empty_figure(title, NO_REPORTS)
    figure = new_figure(title, xaxis={"title": {"text": "Step"}},
                        yaxis={"title": {"text": "Intermediate Value"}})
    # One trace per state, the trials' curves joined by gaps (None): a figure of 10,000 traces
    # takes seconds to build and to draw, a handful of long ones does not.
    for state in SHOWN_STATES:
        steps: list[float | None] = []
        values: list[float | None] = []
        labels: list[str | None] = []
        ends_x, ends_y, ends_label = [], [], []
        for curve in curves:
            if curve.state != state:
                continue
            steps += [*curve.steps, None]
            values += [*(None if math.isnan(v) else v for v in curve.values), None]
            labels += [f"trial {curve.number}"] * len(curve.steps) + [None]
            if state == TrialState.PRUNED:
                ends_x.append(curve.steps[-1])
                ends_y.append(curve.values[-1])
                ends_label.append(f"trial {curve.number} pruned")
        if not steps:
            continue
        scatter = scatter_class(len(steps))
        color = STATE_COLORS[state]
        figure.add_trace(scatter(
            x=steps, y=values, mode="lines+markers", name=state.name.capitalize(),
            line={"color": color, "width": 1}, marker={"size": 3, "color": color},
            opacity=0.7 if len(curves) <= FAINT_ABOVE else 0.25, text=labels,
            hovertemplate="%{text}<br>step %{x}: %{y:.6g}<extra></extra>"))
        if ends_x:
            figure.add_trace(scatter(
                x=ends_x, y=ends_y, mode="markers", name="Pruned here",
                marker={"symbol": "x", "size": 9, "color": color}, text=ends_label,
                hovertemplate="%{text} at step %{x}<extra></extra>"))
    return figure
