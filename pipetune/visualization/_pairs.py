"""The grid of param pairs shared by ``plot_contour`` and ``plot_rank``: one panel for two
params, an n x n grid (x = column's param, y = row's param, diagonal left blank) for more."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from pipetune._trial_table import ObjectiveTable, ParamColumn
from pipetune.visualization._common import MARGIN, param_axis, plot_width, style, subplots

if TYPE_CHECKING:
    import plotly.graph_objects as go

# draw(x_column, y_column, rows_with_both) -> the traces of one panel
PanelDrawer = Callable[[ParamColumn, ParamColumn, np.ndarray], list[Any]]


def pair_grid(table: ObjectiveTable, title: str, draw: PanelDrawer,
              coloraxis: dict[str, Any]) -> go.Figure:
    """Lays out the panels of every ordered pair of ``table.params`` with one shared colour
    scale (``coloraxis``), axes scaled per param (log, choices). As in a scatter matrix, every
    panel of a column shares its x axis's range and every panel of a row its y axis's, so
    only the outermost panel of each names its param and labels its ticks: the bottom one of
    a column (above the blank diagonal for the last column) and the left one of a row (right
    of it for the first row). Inner tick labels would run into the next panel."""
    names = table.params
    n = len(names)
    if n == 2:
        pairs = [(0, 0, names[0], names[1])]
        size = 1
    else:
        pairs = [(i, j, names[j], names[i]) for i in range(n) for j in range(n) if i != j]
        size = n
    figure = subplots(rows=size, cols=size, horizontal_spacing=0.2 / size,
                           vertical_spacing=0.2 / size)
    side = 500 if size == 1 else max(600, 200 * size)
    style(figure, **table.layout(title), height=side, width=side + 120, coloraxis=coloraxis,
          showlegend=False)
    first = figure.get_subplot(1, 1)  # titles are wrapped to a panel (all have its size)
    cell_width = plot_width(side + 120) * (first.xaxis.domain[1] - first.xaxis.domain[0])
    cell_height = (side - MARGIN["t"] - MARGIN["b"]) * (first.yaxis.domain[1]
                                                        - first.yaxis.domain[0])
    for row, col, x_name, y_name in pairs:
        x, y = table.columns[x_name], table.columns[y_name]
        both = x.present & y.present
        for trace in draw(x, y, both):
            figure.add_trace(trace, row=row + 1, col=col + 1)
        x_axis, y_axis = param_axis(x, cell_width), param_axis(y, cell_height)
        bottom = size - 1 if col != size - 1 else size - 2
        left = 0 if row != 0 else 1
        for axis, outermost in ((x_axis, size == 1 or row == bottom),
                                (y_axis, size == 1 or col == left)):
            if not outermost:
                axis.pop("title")
                axis["showticklabels"] = False
        figure.update_xaxes(x_axis, row=row + 1, col=col + 1)
        figure.update_yaxes(y_axis, row=row + 1, col=col + 1)
    for i in range(size if size > 1 else 0):  # the diagonal is left blank
        figure.update_xaxes(visible=False, row=i + 1, col=i + 1)
        figure.update_yaxes(visible=False, row=i + 1, col=i + 1)
    return figure
