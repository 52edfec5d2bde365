"""``plot_timeline``: when each trial ran, and on which worker."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from pipetune._trial_table import check_study
from pipetune.datatypes import TrialState
from pipetune.visualization._common import STATE_COLORS, empty_figure, go_module, new_figure

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from pipetune.study import Study

# Trials run by study.optimize in this process record no worker name.
LOCAL_WORKER = "(local)"


def plot_timeline(study: Study) -> go.Figure:
    """One bar per started trial from its start to its end (to now while it runs), on the row
    of the worker that ran it and coloured by state: how busy the workers were, where time
    went, which trials failed or were pruned early. Waiting trials have not started and are
    not drawn."""
    check_study(study, "plot_timeline")
    title = "Timeline"
    trials = [t for t in study.trials if t.datetime_start is not None]
    if not trials:
        return empty_figure(title, "No trial has started yet.")
    workers = sorted({t.worker or LOCAL_WORKER for t in trials})
    figure = new_figure(title, barmode="overlay",
                        xaxis={"type": "date", "title": {"text": "Time"}},
                        yaxis={"title": {"text": "Worker"}, "type": "category",
                               "categoryorder": "array", "categoryarray": workers},
                        height=max(350, 120 + 28 * len(workers)))
    go = go_module()
    for state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL, TrialState.RUNNING):
        chosen = [t for t in trials if t.state == state]
        if not chosen:
            continue
        starts = [t.datetime_start for t in chosen]
        ends = [t.datetime_complete or dt.datetime.now(t.datetime_start.tzinfo) for t in chosen]
        # A date axis takes bar lengths in milliseconds from a date base (a Gantt chart).
        lengths = [max((end - start).total_seconds(), 0.0) * 1000 for start, end in
                   zip(starts, ends)]
        figure.add_trace(go.Bar(
            base=starts, x=lengths, y=[t.worker or LOCAL_WORKER for t in chosen],
            orientation="h", name=state.name.capitalize(),
            marker={"color": STATE_COLORS[state], "line": {"width": 0.5, "color": "white"}},
            customdata=[[t.number, round(length / 1000, 3)] for t, length in
                        zip(chosen, lengths)],
            hovertemplate="trial %{customdata[0]}<br>%{customdata[1]} s<extra>%{y}</extra>"))
    return figure

