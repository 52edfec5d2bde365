"""``plot_slice``: the objective against each param on its own, one panel per param."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pipetune._trial_table import DEFAULT_TARGET_NAME, Target
from pipetune.visualization._common import (
    INFEASIBLE_COLOR,
    empty_figure,
    grid_size,
    param_axis,
    plot_table,
    plot_width,
    scatter_class,
    style,
    subplots,
)

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from pipetune.study import Study


def plot_slice(study: Study, params: Sequence[str] | None = None, *,
               target: Target | None = None,
               target_name: str = DEFAULT_TARGET_NAME) -> go.Figure:
    """One scatter per param (default: the ``DEFAULT_N_PARAMS`` most important, the title says
    which) of the target value against that param's value, coloured by trial number (late
    trials dark): where the good values of each param lie and whether the sampler has narrowed
    in on them. Log params get a log axis, categorical ones their choices; a trial lacking a
    conditional param is left out of that param's panel only. Each panel's trace is named after
    its param; trials that break a constraint are grey, in a trace "<param> (infeasible)"."""
    table = plot_table(study, "plot_slice", params, target, target_name)
    title = "Slice Plot"
    if not len(table):
        return empty_figure(title, "No COMPLETE trials yet.")
    if not table.params:
        return empty_figure(title, "The trials have no params.")
    rows, cols = grid_size(len(table.params))
    figure = subplots(rows=rows, cols=cols, shared_yaxes=True,
                           horizontal_spacing=0.04, vertical_spacing=0.18 / rows)
    style(figure, **table.layout(title), height=max(400, 320 * rows), showlegend=False)
    domain = figure.get_subplot(1, 1).xaxis.domain
    panel_width = plot_width() * (domain[1] - domain[0])
    for i, name in enumerate(table.params):
        column = table.columns[name]
        row, col = divmod(i, cols)
        present = column.present
        scatter = scatter_class(int(present.sum()))
        for rows, grey, note in ((present & table.feasible, False, ""),
                                 (present & ~table.feasible, True, " (infeasible)")):
            if grey and not rows.any():
                continue
            figure.add_trace(scatter(
                x=column.coords[rows], y=table.target[rows], mode="markers", name=name + note,
                marker={"color": INFEASIBLE_COLOR if grey else table.numbers[rows],
                        "colorscale": "Blues", "size": 6, "line": {"width": 0.5, "color": "grey"},
                        "showscale": i == 0 and not grey,
                        "colorbar": {"title": {"text": "Trial"}}},
                customdata=table.numbers[rows], text=column.display()[rows],
                hovertemplate=f"trial %{{customdata}}{note}<br>{name}: %{{text}}<br>"
                              f"{table.target_name}: %{{y:.6g}}<extra></extra>"),
                row=row + 1, col=col + 1)
        figure.update_xaxes(param_axis(column, panel_width), row=row + 1, col=col + 1)
        if col == 0:
            figure.update_yaxes(title={"text": table.target_name}, row=row + 1, col=1)
    return figure
