"""How a study progressed: objective value per trial with the best so far
(``plot_optimization_history``, several studies overlaid) and the empirical distribution of the
values (``plot_edf``), the usual way to compare samplers or runs."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from pipetune._trial_table import (
    DEFAULT_TARGET_NAME,
    Target,
    completed,
    resolve_target,
    studies_of,
    target_values,
)
from pipetune.visualization._common import (
    best_so_far,
    empty_figure,
    new_figure,
    scatter_class,
    trial_hover,
)

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from pipetune.study import Study

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
            "#7f7f7f", "#bcbd22", "#17becf")


@dataclass(frozen=True)
class History:
    """What ``plot_optimization_history`` draws for one study: the COMPLETE trials' numbers,
    their target values and the running best (absent for a custom target, whose direction is
    unknown)."""

    study_name: str
    numbers: np.ndarray
    values: np.ndarray
    best: np.ndarray | None


def history_of(study: Study, target: Target | None = None,
               target_name: str = DEFAULT_TARGET_NAME) -> tuple[History, str]:
    """The history of one study and the axis title of its values."""
    function, name = resolve_target(study.directions, target, target_name)
    trials = completed(study)
    values = target_values(trials, function)
    numbers = np.array([t.number for t in trials], dtype=int)
    best = None if target is not None else best_so_far(values, study.directions[0])
    return History(study.study_name, numbers, values, best), name


def histories_of(study: Study | Sequence[Study], target: Target | None = None,
                 target_name: str = DEFAULT_TARGET_NAME) -> tuple[list[History], str]:
    """What ``plot_optimization_history`` draws: the history of each study, and the axis
    title of the values."""
    histories = []
    name = target_name
    for one in studies_of(study, "plot_optimization_history"):
        history, name = history_of(one, target, target_name)
        histories.append(history)
    return histories, name


def plot_optimization_history(study: Study | Sequence[Study], *, target: Target | None = None,
                              target_name: str = DEFAULT_TARGET_NAME,
                              error_bar: bool = False) -> go.Figure:
    """The objective value of every COMPLETE trial against its number, with the best value so
    far as a line: did the search converge, and when. Several studies are overlaid in one
    figure (one colour each), or, with ``error_bar=True``, summarized as the mean and standard
    deviation of their best-so-far curves (the fair comparison of seeded repeats)."""
    histories, name = histories_of(study, target, target_name)
    title = "Optimization History"
    if not any(len(h.numbers) for h in histories):
        return empty_figure(title, "No COMPLETE trials yet.")
    figure = new_figure(title, xaxis={"title": {"text": "Trial"}},
                        yaxis={"title": {"text": name}})
    if error_bar and len(histories) > 1 and all(h.best is not None for h in histories):
        _add_mean_best(figure, histories)
        return figure
    for i, history in enumerate(histories):
        color = PALETTE[i % len(PALETTE)]
        label = history.study_name if len(histories) > 1 else name
        scatter = scatter_class(len(history.numbers))
        figure.add_trace(scatter(
            x=history.numbers, y=history.values, mode="markers", name=label,
            marker={"color": color, "size": 6}, text=trial_hover(
                history.numbers, history.values, name), hoverinfo="text"))
        if history.best is not None:
            best_label = ("Best Value" if len(histories) == 1
                          else f"{history.study_name} (best)")
            figure.add_trace(scatter(x=history.numbers, y=history.best, mode="lines",
                                     name=best_label, line={"color": color, "shape": "hv"}))
    return figure


def mean_best(histories: list[History]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Trial numbers, and the mean and standard deviation there of several best-so-far
    curves (each carried forward over the trials that did not complete)."""
    length = max(int(h.numbers.max()) + 1 for h in histories if len(h.numbers))
    curves = np.full((len(histories), length), np.nan)
    for row, history in zip(curves, histories):
        row[history.numbers] = history.best
        # carry the best forward over the trials that did not complete
        last_known = np.maximum.accumulate(np.where(np.isnan(row), 0, np.arange(length)))
        row[:] = row[last_known]
    with warnings.catch_warnings():  # a trial number no study has reached yet is all-NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(curves, axis=0)
        std = np.nanstd(curves, axis=0)
    return np.arange(length), mean, std


def _add_mean_best(figure: go.Figure, histories: list[History]) -> None:
    """Mean +/- one standard deviation of several best-so-far curves over trial numbers."""
    x, mean, std = mean_best(histories)
    length = len(x)
    scatter = scatter_class(length)
    figure.add_trace(scatter(x=x, y=mean + std, mode="lines", line={"width": 0},
                             showlegend=False, hoverinfo="skip"))
    figure.add_trace(scatter(x=x, y=mean - std, mode="lines", line={"width": 0},
                             fill="tonexty", fillcolor="rgba(31,119,180,0.2)",
                             name="+/- 1 std", hoverinfo="skip"))
    figure.add_trace(scatter(x=x, y=mean, mode="lines", name="Mean best value",
                             line={"color": PALETTE[0]}))


def edf_curves(study: Study | Sequence[Study], target: Target | None = None,
               target_name: str = DEFAULT_TARGET_NAME
               ) -> tuple[list[tuple[str, np.ndarray]], str]:
    """What ``plot_edf`` draws: per study, its name and the sorted finite target values of its
    COMPLETE trials; and the axis title of the values."""
    curves = []
    name = target_name
    for one in studies_of(study, "plot_edf"):
        function, name = resolve_target(one.directions, target, target_name)
        values = target_values(completed(one), function)
        curves.append((one.study_name, np.sort(values[np.isfinite(values)])))
    return curves, name


def plot_edf(study: Study | Sequence[Study], *, target: Target | None = None,
             target_name: str = DEFAULT_TARGET_NAME) -> go.Figure:
    """The empirical distribution function of the COMPLETE trials' values, one curve per
    study: the fraction of trials at or below each value. A curve further towards the good end
    means a search that more often finds good configurations, whatever the trial order."""
    curves, name = edf_curves(study, target, target_name)
    title = "Empirical Distribution Function"
    if not any(len(values) for _, values in curves):
        return empty_figure(title, "No COMPLETE trials yet.")
    figure = new_figure(title, xaxis={"title": {"text": name}},
                        yaxis={"title": {"text": "Cumulative Probability"}, "range": [0, 1.02]})
    for i, (study_name, values) in enumerate(curves):
        if not len(values):
            continue
        fraction = np.arange(1, len(values) + 1) / len(values)
        figure.add_trace(scatter_class(len(values))(
            x=values, y=fraction, mode="lines", name=study_name,
            line={"shape": "hv", "color": PALETTE[i % len(PALETTE)]}))
    return figure

