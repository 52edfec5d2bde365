"""``plot_timeline``: when each trial ran, and on which worker."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pipetune._trial_table import check_study
from pipetune.datatypes import TrialState
from pipetune.errors import InvalidArgumentError
from pipetune.visualization._common import STATE_COLORS, empty_figure, go_module, new_figure

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from pipetune.study import Study

# Trials run by study.optimize in this process record no worker name.
LOCAL_WORKER = "(local)"
# The states a timeline draws, in the order of its legend.
TIMELINE_STATES = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL, TrialState.RUNNING)
NOTHING_STARTED = "No trial has started yet."


@dataclass(frozen=True)
class TimelineBar:
    """One started trial: its number, state, worker row, and when it started and ended (now,
    for one still running)."""

    number: int
    state: TrialState
    worker: str
    start: dt.datetime
    end: dt.datetime

    @property
    def seconds(self) -> float:
        return max((self.end - self.start).total_seconds(), 0.0)


def timeline_bars(study: Study, n_recent_trials: int | None = None) -> list[TimelineBar]:
    """The bars of ``plot_timeline``: every started trial, or the ``n_recent_trials`` started
    last, in trial order."""
    if n_recent_trials is not None and (isinstance(n_recent_trials, bool) or
                                        not isinstance(n_recent_trials, int)
                                        or n_recent_trials < 1):
        raise InvalidArgumentError(
            f"n_recent_trials of plot_timeline must be a positive int (or None for every "
            f"trial). Got {n_recent_trials!r}.")
    bars = [TimelineBar(t.number, t.state, t.worker or LOCAL_WORKER, start,
                        t.datetime_complete or dt.datetime.now(start.tzinfo))
            for t in study.trials if (start := t.datetime_start) is not None]
    if n_recent_trials is not None:
        bars = sorted(bars, key=lambda b: b.start)[-n_recent_trials:]
        bars.sort(key=lambda b: b.number)
    return [b for b in bars if b.state in TIMELINE_STATES]


def plot_timeline(study: Study, n_recent_trials: int | None = None) -> go.Figure:
    """One bar per started trial (or per one of the ``n_recent_trials`` started last) from its
    start to its end (to now while it runs), on the row of the worker that ran it and coloured
    by state: how busy the workers were, where time went, which trials failed or were pruned
    early. Waiting trials have not started and are not drawn."""
    check_study(study, "plot_timeline")
    title = "Timeline"
    bars = timeline_bars(study, n_recent_trials)
    if not bars:
        return empty_figure(title, NOTHING_STARTED)
    workers = sorted({bar.worker for bar in bars})
    figure = new_figure(title, barmode="overlay",
                        xaxis={"type": "date", "title": {"text": "Time"}},
                        yaxis={"title": {"text": "Worker"}, "type": "category",
                               "categoryorder": "array", "categoryarray": workers},
                        height=max(350, 120 + 28 * len(workers)))
    go = go_module()
    for state in TIMELINE_STATES:
        chosen = [bar for bar in bars if bar.state == state]
        if not chosen:
            continue
        # A date axis takes bar lengths in milliseconds from a date base (a Gantt chart).
        figure.add_trace(go.Bar(
            base=[bar.start for bar in chosen], x=[bar.seconds * 1000 for bar in chosen],
            y=[bar.worker for bar in chosen], orientation="h", name=state.name.capitalize(),
            marker={"color": STATE_COLORS[state], "line": {"width": 0.5, "color": "white"}},
            customdata=[[bar.number, round(bar.seconds, 3)] for bar in chosen],
            hovertemplate="trial %{customdata[0]}<br>%{customdata[1]} s<extra>%{y}</extra>"))
    return figure
