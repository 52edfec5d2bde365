"""``plot_intermediate_values``: the learning curve each trial reported, pruned ones marked."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from pipetune._trial_table import check_study
from pipetune.datatypes import TrialState
from pipetune.visualization._common import STATE_COLORS, empty_figure, new_figure, scatter_class

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from pipetune.study import Study

_FAINT_ABOVE = 100  # trials; more curves are drawn fainter so their density shows
_SHOWN_STATES = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING, TrialState.FAIL)


def plot_intermediate_values(study: Study, *, objective: int = 0) -> go.Figure:
    """The values every trial reported with ``trial.report`` against their step, one line per
    trial and one colour per state: complete, pruned (its last report marked with a cross,
    where the pruner stopped it), running, failed. Shows whether pruning stopped the curves
    that ended badly. ``objective`` picks the value of multi-objective reports."""
    check_study(study, "plot_intermediate_values")
    title = "Intermediate Values"
    trials = [t for t in study.get_trials(states=_SHOWN_STATES) if t.intermediate_values]
    if not trials:
        return empty_figure(title, "No trial has reported intermediate values yet.")
    figure = new_figure(title, xaxis={"title": {"text": "Step"}},
                        yaxis={"title": {"text": "Intermediate Value"}})
    # One trace per state, the trials' curves joined by gaps (None): a figure of 10,000 traces
    # takes seconds to build and to draw, a handful of long ones does not.
    for state in _SHOWN_STATES:
        steps: list[float | None] = []
        values: list[float | None] = []
        labels: list[str | None] = []
        ends_x, ends_y, ends_label = [], [], []
        for trial in trials:
            if trial.state != state:
                continue
            for step, value in trial.intermediate_values.items():
                value = value[objective] if isinstance(value, tuple) else value
                steps.append(step)
                values.append(value if math.isfinite(value) else None)
                labels.append(f"trial {trial.number}")
            steps.append(None)
            values.append(None)
            labels.append(None)
            if state == TrialState.PRUNED:
                last = trial.last_step
                value = trial.intermediate_values[last]
                ends_x.append(last)
                ends_y.append(value[objective] if isinstance(value, tuple) else value)
                ends_label.append(f"trial {trial.number} pruned")
        if not steps:
            continue
        scatter = scatter_class(len(steps))
        color = STATE_COLORS[state]
        figure.add_trace(scatter(
            x=steps, y=values, mode="lines+markers", name=state.name.capitalize(),
            line={"color": color, "width": 1}, marker={"size": 3, "color": color},
            opacity=0.7 if len(trials) <= _FAINT_ABOVE else 0.25, text=labels,
            hovertemplate="%{text}<br>step %{x}: %{y:.6g}<extra></extra>"))
        if ends_x:
            figure.add_trace(scatter(
                x=ends_x, y=ends_y, mode="markers", name="Pruned here",
                marker={"symbol": "x", "size": 9, "color": color}, text=ends_label,
                hovertemplate="%{text} at step %{x}<extra></extra>"))
    return figure
