"""The grid of param pairs shared by ``plot_contour`` and ``plot_rank``: one panel for two
params, an n x n grid (x = column's param, y = row's param, diagonal left blank) for more."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from pipetune.visualization._common import ObjectiveTable, ParamColumn, style

if TYPE_CHECKING:
    import plotly.graph_objects as go

# draw(x_column, y_column, rows_with_both) -> the traces of one panel
PanelDrawer = Callable[[ParamColumn, ParamColumn, np.ndarray], list[Any]]


def pair_grid(table: ObjectiveTable, title: str, draw: PanelDrawer,
              coloraxis: dict[str, Any]) -> "go.Figure":
    """Lays out the panels of every ordered pair of ``table.params`` with one shared colour
    scale (``coloraxis``), axes scaled per param (log, choices) and titled on the outer edge."""
    from plotly.subplots import make_subplots

    names = table.params
    n = len(names)
    if n == 2:
        pairs = [(0, 0, names[0], names[1])]
        size = 1
    else:
        pairs = [(i, j, names[j], names[i]) for i in range(n) for j in range(n) if i != j]
        size = n
    figure = make_subplots(rows=size, cols=size, horizontal_spacing=0.2 / size,
                           vertical_spacing=0.2 / size)
    side = 500 if size == 1 else max(600, 230 * size)
    style(figure, title, height=side, width=side + 120, coloraxis=coloraxis, showlegend=False)
    for row, col, x_name, y_name in pairs:
        x, y = table.columns[x_name], table.columns[y_name]
        both = x.present & y.present
        for trace in draw(x, y, both):
            figure.add_trace(trace, row=row + 1, col=col + 1)
        x_axis, y_axis = x.axis(), y.axis()
        if size > 1 and row != size - 1:
            x_axis.pop("title")
        if size > 1 and col != 0:
            y_axis.pop("title")
        figure.update_xaxes(x_axis, row=row + 1, col=col + 1)
        figure.update_yaxes(y_axis, row=row + 1, col=col + 1)
    for i in range(size if size > 1 else 0):  # blank diagonal: name the param instead
        figure.update_xaxes(visible=False, row=i + 1, col=i + 1)
        figure.update_yaxes(visible=False, row=i + 1, col=i + 1)
        cell = figure.get_subplot(i + 1, i + 1)
        figure.add_annotation(text=f"<b>{names[i]}</b>", showarrow=False, xref="paper",
                              yref="paper", x=sum(cell.xaxis.domain) / 2,
                              y=sum(cell.yaxis.domain) / 2)
    return figure
