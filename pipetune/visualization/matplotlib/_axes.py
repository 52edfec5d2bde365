"""What every matplotlib figure shares: matplotlib made ready, new axes with a title, the axes
shown when there is nothing to draw, and axes scaled per param (log, int, choices)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from pipetune._imports import require
from pipetune._trial_table import ObjectiveTable, ParamColumn

if TYPE_CHECKING:
    from matplotlib.axes import Axes

# Colour maps of values where low is good ("Blues_r": dark) and where high is.
GOOD_LOW_CMAP = "Blues_r"
GOOD_HIGH_CMAP = "Blues"


def pyplot() -> Any:
    """matplotlib.pyplot, or a MissingDependencyError naming the extra that installs it."""
    require("matplotlib", "plot")
    import matplotlib.pyplot as plt

    return plt


def new_axes(title: str, xlabel: str = "", ylabel: str = "", **subplot: Any) -> Axes:
    """One axes in a new figure (``subplot`` as ``add_subplot`` takes it: a 3D projection),
    titled, with a light grid as every pipetune figure has."""
    figure = pyplot().figure()
    axes = figure.add_subplot(**subplot)
    axes.set_title(title)
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.grid(True, color="#e5e5e5", linewidth=0.8)
    axes.set_axisbelow(True)
    return axes


def empty_axes(title: str, reason: str) -> Axes:
    """Axes saying why there is nothing to draw (an empty study, no COMPLETE trial...)."""
    axes = new_axes(title)
    axes.grid(False)
    axes.set_xticks([])
    axes.set_yticks([])
    axes.text(0.5, 0.5, reason, ha="center", va="center", transform=axes.transAxes)
    return axes


def table_title(table: ObjectiveTable, title: str) -> str:
    """``title``, with the note on a second line saying which params a figure chose."""
    return title if table.note is None else f"{title}\n{table.note}"


def grid_of_axes(rows: int, cols: int, title: str, **options: Any) -> np.ndarray:
    """A rows x cols array of axes in one new figure, sized to hold them, with a title."""
    figure, axes = pyplot().subplots(rows, cols, squeeze=False,
                                     figsize=(max(6.4, 3.2 * cols), max(4.8, 3.0 * rows)),
                                     **options)
    figure.suptitle(title)
    for one in axes.flat:
        one.grid(True, color="#e5e5e5", linewidth=0.8)
        one.set_axisbelow(True)
    return axes


def scale_param_axis(axes: Axes, column: ParamColumn, which: str, label: bool = True) -> None:
    """Gives the ``which`` ("x" or "y") axis of ``axes`` the param's scale, as the plotly
    figures do: a log axis for log params, whole-number ticks for ints, the choices (at their
    index, the column's coordinate) for categorical params."""
    from matplotlib.ticker import MaxNLocator

    axis = axes.xaxis if which == "x" else axes.yaxis
    if label:
        axis.set_label_text(column.name)
    if column.labels is not None:
        axis.set_ticks(range(len(column.labels)), list(column.labels))
        (axes.set_xlim if which == "x" else axes.set_ylim)(-0.5, len(column.labels) - 0.5)
    elif column.is_log:
        (axes.set_xscale if which == "x" else axes.set_yscale)("log")
    elif column.is_int:
        axis.set_major_locator(MaxNLocator(integer=True))
