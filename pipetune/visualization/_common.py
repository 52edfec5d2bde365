"""What every plot shares: plotly made ready, the params a plot of several shows by default
(the most important), axes and ticks for log, int and categorical params, label wrapping, and
the figure shown when there is nothing to draw. The trials as columns (``ObjectiveTable``) are
``pipetune._trial_table``, which the importance evaluators read too."""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from pipetune._imports import require
from pipetune._trial_table import ObjectiveTable, ParamColumn, Target, objective_table
from pipetune.datatypes import StudyDirection, TrialState
from pipetune.errors import MissingDependencyError

if TYPE_CHECKING:
    import plotly.graph_objects as go
# Above this many points a scatter is drawn with WebGL (Scattergl): SVG slows down past it.
WEBGL_ABOVE = 1000
# How many params a plot of several params shows unless told which: the most important ones.
# With every param of a 12-param study, labels overlap and a contour grid has 132 panels.
DEFAULT_N_PARAMS = 4
# What labels are wrapped to fit: the width plotly draws a figure at when its layout sets
# none, the margins around the plot (the right one as widened for a colour bar), and a
# generous average width of one character of its default font, in font sizes.
DEFAULT_WIDTH = 700
MARGIN = {"l": 80, "r": 80, "t": 100, "b": 80}
COLORBAR_WIDTH = 100
CHAR_WIDTH = 0.6
AXIS_TITLE_SIZE = 14  # px, plotly's default
# Why a figure of the COMPLETE trials' values is empty.
NO_COMPLETE = "No COMPLETE trials yet."
# Trials that break a constraint (``Trial.set_constraint``) are drawn in this grey, apart from
# the others, under these trace names.
INFEASIBLE_COLOR = "#cccccc"
FEASIBLE_NAME = "Feasible Trial"
INFEASIBLE_NAME = "Infeasible Trial"
STATE_COLORS = {TrialState.COMPLETE: "#1f77b4", TrialState.PRUNED: "#ff7f0e",
                TrialState.FAIL: "#d62728", TrialState.RUNNING: "#2ca02c",
                TrialState.WAITING: "#7f7f7f"}


def go_module() -> Any:
    """plotly.graph_objects, or a MissingDependencyError naming the extra that installs it."""
    require("plotly", "plot")
    import plotly.graph_objects as go

    _pandas_imported()
    return go


@functools.cache
def _pandas_imported() -> bool:
    """Imports pandas where installed, before plotly builds a figure. Plotly takes pandas from
    ``sys.modules`` once anything has begun importing it; while another thread (the server
    builds figures in several, importance imports scikit-learn) is still importing it, plotly
    fails on the half-imported module. An import statement waits for that import to end."""
    try:
        import pandas  # noqa: F401
    except ImportError:
        return False
    return True


def subplots(**grid: Any) -> go.Figure:
    """plotly's ``make_subplots(**grid)``, once plotly is ready (see ``go_module``)."""
    go_module()
    from plotly.subplots import make_subplots

    return make_subplots(**grid)


def linear_ticks(low: float, high: float, whole: bool = False, max_ticks: int = 6
                 ) -> list[float]:
    """At most ``max_ticks`` round numbers inside ``[low, high]``, 1, 2 or 5 times a power of
    ten apart (whole numbers when ``whole``)."""
    span = high - low
    if not span > 0:
        return [low]
    exponent = math.floor(math.log10(span / max_ticks))
    if whole:
        exponent = max(exponent, 0)
    step = next(m * 10.0 ** e for e in (exponent, exponent + 1) for m in (1, 2, 5)
                if span / (m * 10.0 ** e) + 1 <= max_ticks)
    first = math.ceil(low / step - 1e-9)
    last = math.floor(high / step + 1e-9)
    return [round(k * step, 12) for k in range(first, last + 1)]


def log_ticks(low: float, high: float, max_ticks: int = 8) -> list[float]:
    """Tick positions inside ``[low, high]`` of a log10 axis: the powers of ten (every k-th one
    when there are more than ``max_ticks``); where the range holds fewer than three, also the
    threes between them, or else the 1, 2, 5 steps; where even those are fewer than two, the
    ends of the range."""
    tolerance = 1e-9
    powers = range(math.floor(low), math.ceil(high) + 1)
    for mantissas, enough in (((1,), 3), ((1, 3), 3), ((1, 2, 5), 2)):
        ticks = [p + math.log10(m) for p in powers for m in mantissas
                 if low - tolerance <= p + math.log10(m) <= high + tolerance]
        if len(ticks) >= enough:
            return ticks[::math.ceil(len(ticks) / max_ticks)]
    return [low, high] if high > low else [low]


def param_ticks(column: ParamColumn, low: float, high: float
                ) -> tuple[list[float], list[str]]:
    """Tick positions (on the scaled axis) of a param's axis inside ``[low, high]`` with their
    labels in the param's own units: each choice, powers of ten (or 1-3, 1-2-5 steps) for log
    params, round numbers for the others (whole ones for ints)."""
    if column.labels is not None:
        return list(range(len(column.labels))), list(column.labels)
    if column.is_log:
        positions = log_ticks(low, high)
        return positions, [f"{10 ** p:.3g}" for p in positions]
    positions = linear_ticks(low, high, whole=column.is_int)
    return positions, [f"{p:.6g}" for p in positions]


def param_axis(column: ParamColumn, length: float) -> dict[str, Any]:
    """Plotly settings of a param's axis ``length`` pixels long: its title (the name, wrapped
    to fit), a log axis for log params, ticks (see ``param_ticks``) for categorical, int and
    log params, each of those with a range that holds its ticks and, with a margin, its
    points; a plain float's axis places its own ticks inside its range."""
    axis: dict[str, Any] = {"title": {"text": wrap(column.name, length, AXIS_TITLE_SIZE)}}
    if column.labels is not None:
        ticks, labels = param_ticks(column, 0, len(column.labels) - 1)
        return {**axis, "tickmode": "array", "tickvals": ticks, "ticktext": labels,
                "range": [-0.5, len(column.labels) - 0.5]}
    if not (column.is_log or column.is_int):
        return {**axis, "type": "linear"}
    low, high = column.span()
    ticks, labels = param_ticks(column, low, high)
    pad = max(0.05 if column.is_log else 0.5, 0.05 * (high - low))
    return {**axis, "type": "log" if column.is_log else "linear", "tickmode": "array",
            # a log axis takes its ticks in the param's units, its range in log10 units
            "tickvals": [10 ** t for t in ticks] if column.is_log else ticks,
            "ticktext": labels, "range": [low - pad, high + pad]}


def wrap(text: str, width: float, font_size: float) -> str:
    """``text`` broken into lines (joined by ``<br>``) no wider than ``width`` pixels at
    ``font_size``, after a ``_``, ``.``, ``-`` or space: a param name under a narrow panel or
    axis. A piece with no break in it keeps a line of its own, however long."""
    max_chars = max(1, int(width / (CHAR_WIDTH * font_size)))
    lines = [""]
    for piece in re.findall(r"[^_.\- ]*[_.\- ]?", text):
        if lines[-1] and len(lines[-1]) + len(piece) > max_chars:
            lines.append("")
        lines[-1] += piece
    return "<br>".join(line.rstrip() for line in lines if line.strip())


def plot_width(width: int | None = None) -> float:
    """The pixels between the margins of a figure ``width`` wide (plotly's default without)
    that has a colour bar: what its panels share."""
    return (width or DEFAULT_WIDTH) - MARGIN["l"] - MARGIN["r"] - COLORBAR_WIDTH


def best_so_far(values: np.ndarray, direction: StudyDirection) -> np.ndarray:
    """The running best of ``values`` (in trial order), NaNs skipped."""
    if direction == StudyDirection.MAXIMIZE:
        return np.fmax.accumulate(values) if len(values) else values
    return np.fmin.accumulate(values) if len(values) else values


def scatter_class(n_points: int) -> Any:
    """Scattergl for many points, Scatter (crisper, SVG) for few."""
    go = go_module()
    return go.Scattergl if n_points > WEBGL_ABOVE else go.Scatter


def empty_figure(title: str, reason: str) -> go.Figure:
    """A figure saying why there is nothing to draw (an empty study, no COMPLETE trial...)."""
    return new_figure(
        title, xaxis={"visible": False}, yaxis={"visible": False},
        annotations=[{"text": reason, "showarrow": False, "xref": "paper", "yref": "paper",
                      "x": 0.5, "y": 0.5, "font": {"size": 16}}])


def new_figure(title: str, **layout: Any) -> go.Figure:
    """An empty figure with the look every pipetune plot shares."""
    return style(go_module().Figure(), title, **layout)


def style(figure: go.Figure, title: str, **layout: Any) -> go.Figure:
    """Gives ``figure`` (e.g. one from plotly's make_subplots) the shared look and a title."""
    figure.update_layout(title={"text": title}, template="plotly_white", **layout)
    return figure


def grid_size(n_panels: int, max_columns: int = 3) -> tuple[int, int]:
    """Rows and columns of a grid of ``n_panels`` subplots, the rows as evenly filled as
    ``max_columns`` allows (four panels make two rows of two, not three and one)."""
    rows = max(1, math.ceil(n_panels / max_columns))
    return rows, max(1, math.ceil(n_panels / rows))


def trial_hover(numbers: np.ndarray, target: np.ndarray, target_name: str) -> list[str]:
    """Hover text naming the trial and its objective value."""
    return [f"trial {n}<br>{target_name}: {v:.6g}"
            for n, v in zip(numbers.tolist(), target.tolist())]


def plot_table(study: Any, function: str, params: Sequence[str] | None, target: Target | None,
               target_name: str) -> ObjectiveTable:
    """The ObjectiveTable a plot of several params is drawn from: without ``params``, the
    ``DEFAULT_N_PARAMS`` most important when the study has more (see ``default_params``)."""
    def choose(names: list[str]) -> tuple[list[str], str | None]:
        if len(names) <= DEFAULT_N_PARAMS:
            return names, None
        return default_params(study, names, target, DEFAULT_N_PARAMS)

    return objective_table(study, function, params, target, target_name, choose)


def default_params(study: Any, names: list[str], target: Target | None, count: int
                   ) -> tuple[list[str], str]:
    """The ``count`` params of ``names`` a plot shows unless told which, and the note saying
    so: the most important by fANOVA on a forest small enough to take under a second for
    10,000 trials, or, where importance cannot be computed (under two trials, no
    scikit-learn), the first ones."""
    from pipetune.importance import FanovaImportanceEvaluator, get_param_importances

    try:
        importances = get_param_importances(
            study, evaluator=FanovaImportanceEvaluator(n_trees=16, max_depth=8), params=names,
            target=target)
    except MissingDependencyError:
        ranked, how = names, "the first (ranking by importance needs scikit-learn)"
    else:
        if importances.n_trials < 2:
            ranked, how = names, "the first (ranking by importance needs 2 trials)"
        else:
            ranked, how = list(importances), "the most important"
    return ranked[:count], (f"{count} of {len(names)} params shown, {how}: "
                            "choose others with params")
