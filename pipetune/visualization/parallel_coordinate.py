"""``plot_parallel_coordinate``: every COMPLETE trial as a line across the chosen params."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from pipetune._trial_table import DEFAULT_TARGET_NAME, ObjectiveTable, Target
from pipetune.datatypes import StudyDirection
from pipetune.visualization._common import (
    empty_figure,
    go_module,
    linear_ticks,
    new_figure,
    param_ticks,
    plot_table,
    plot_width,
    wrap,
)

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from pipetune.study import Study


_LABEL_SIZE = 11  # px, the font of the axis names


@dataclass(frozen=True)
class ParallelAxis:
    """One axis of a parallel coordinate plot: its name, each trial's position on it, its
    range and its ticks (positions and labels). Log params are drawn as log10 with ticks
    labelled in the param's own units; choices are ticks at their index; every tick lies
    inside the range. A trial lacking a conditional param sits just below the range, under a
    tick named "(absent)"."""

    name: str
    values: np.ndarray
    low: float
    high: float
    ticks: list[float]
    labels: list[str]


def parallel_axes(table: ObjectiveTable) -> list[ParallelAxis]:
    """What ``plot_parallel_coordinate`` draws: the target's axis, then one per param."""
    low, high = float(table.target.min()), float(table.target.max())
    ticks = linear_ticks(low, high)
    axes = [ParallelAxis(table.target_name, table.target, low, _above(low, high), ticks,
                         [f"{t:.6g}" for t in ticks])]
    for name in table.params:
        column = table.columns[name]
        values = column.scaled()
        present = ~np.isnan(values)
        if column.labels is not None:
            low, high = 0.0, float(max(len(column.labels) - 1, 1))
        else:
            low, high = column.span()
        ticks, labels = param_ticks(column, low, high)
        if not present.all():
            absent = low - 0.1 * ((high - low) or 1.0)
            values = np.where(present, values, absent)
            ticks, labels = [*ticks, absent], [*labels, "(absent)"]
            low = absent
        axes.append(ParallelAxis(name, values, low, _above(low, high), ticks, labels))
    return axes


def _above(low: float, high: float) -> float:
    """The top of an axis: ``high``, or above ``low`` when every value is the same."""
    return high if high > low else low + 1


def _dimension(axis: ParallelAxis, label_width: float) -> dict[str, Any]:
    """A parcoords dimension, its name wrapped to ``label_width`` pixels. Every one has ticks:
    on an axis without them plotly writes the ends of the range, which collide with the name
    under it."""
    return {"label": wrap(axis.name, label_width, _LABEL_SIZE), "values": axis.values,
            "range": [axis.low, axis.high], "tickvals": axis.ticks, "ticktext": axis.labels}


def plot_parallel_coordinate(study: Study, params: Sequence[str] | None = None, *,
                             target: Target | None = None,
                             target_name: str = DEFAULT_TARGET_NAME) -> go.Figure:
    """One line per COMPLETE trial through the target value and the chosen params (default:
    the ``DEFAULT_N_PARAMS`` most important, the title says which), coloured by the target, so
    the combinations behind good values stand out; drag along an axis in the browser to keep
    only the trials in a range. Log params are on a log scale, categorical params show their
    choices."""
    table = plot_table(study, "plot_parallel_coordinate", params, target, target_name)
    title = "Parallel Coordinate Plot"
    if not len(table):
        return empty_figure(title, "No COMPLETE trials yet.")
    reverse = (target is None and study.directions[0] == StudyDirection.MINIMIZE)
    # The names go under the axes, wrapped to the space between two of them (at plotly's
    # default width): above, a wrapped name would run down into its axis.
    between = plot_width() / max(len(table.params), 1)
    dimensions = [_dimension(axis, between) for axis in parallel_axes(table)]
    figure = new_figure(**table.layout(title))
    figure.add_trace(go_module().Parcoords(
        dimensions=dimensions, labelside="bottom", labelfont={"size": _LABEL_SIZE},
        line={"color": table.target, "colorscale": "Blues", "reversescale": reverse,
              "showscale": True, "colorbar": {"title": {"text": table.target_name}}}))
    return figure
