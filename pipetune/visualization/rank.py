"""``plot_rank``: trials placed by their params and coloured by how they rank."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from pipetune._trial_table import DEFAULT_TARGET_NAME, ObjectiveTable, ParamColumn, Target
from pipetune.datatypes import StudyDirection
from pipetune.visualization._common import (
    empty_figure,
    new_figure,
    param_axis,
    plot_table,
    plot_width,
    scatter_class,
)
from pipetune.visualization._pairs import pair_grid

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from pipetune.study import Study


def rank_fraction(values: np.ndarray, best_low: bool) -> np.ndarray:
    """Each value's rank as a fraction in [0, 1], 0 the best: robust to outliers that squash a
    colour scale of raw values (one diverged trial no longer paints every other one alike)."""
    if len(values) < 2:
        return np.zeros(len(values))
    order = np.argsort(values if best_low else -values, kind="stable")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(len(values))
    return ranks / (len(values) - 1)


def _rank_panel(table: ObjectiveTable, ranks: np.ndarray) -> Any:
    def draw(x: ParamColumn, y: ParamColumn, both: np.ndarray) -> list[Any]:
        rows = np.flatnonzero(both)
        return [scatter_class(len(rows))(
            x=x.coords[rows], y=y.coords[rows], mode="markers",
            marker={"color": ranks[rows], "coloraxis": "coloraxis", "size": 7,
                    "line": {"width": 0.5, "color": "grey"}},
            customdata=np.column_stack([table.numbers[rows], table.target[rows]]),
            hovertemplate=f"trial %{{customdata[0]}}<br>{x.name}: %{{x}}<br>{y.name}: "
                          f"%{{y}}<br>{table.target_name}: %{{customdata[1]:.6g}}"
                          f"<br>rank: %{{marker.color:.0%}}<extra></extra>")]

    return draw


def plot_rank(study: Study, params: Sequence[str] | None = None, *,
              target: Target | None = None,
              target_name: str = DEFAULT_TARGET_NAME) -> go.Figure:
    """The COMPLETE trials placed by pairs of params (a grid for more than two; default: the
    ``DEFAULT_N_PARAMS`` most important, the title says which) and coloured by their rank on
    the target (dark = best), so where good trials cluster shows even when a few extreme values
    would flatten a raw colour scale. With one param, the target against it."""
    table = plot_table(study, "plot_rank", params, target, target_name)
    title = "Rank Plot"
    if not len(table):
        return empty_figure(title, "No COMPLETE trials yet.")
    if not table.params:
        return empty_figure(title, "The trials have no params.")
    best_low = target is not None or study.directions[0] == StudyDirection.MINIMIZE
    ranks = rank_fraction(table.target, best_low)
    coloraxis = {"colorscale": "Blues", "reversescale": True, "cmin": 0, "cmax": 1,
                 "colorbar": {"title": {"text": "Rank (0 = best)", "side": "right"},
                              "tickformat": ".0%"}}
    if len(table.params) >= 2:
        return pair_grid(table, title, _rank_panel(table, ranks), coloraxis)
    column = table.columns[table.params[0]]
    rows = np.flatnonzero(column.present)
    figure = new_figure(**table.layout(title), coloraxis=coloraxis,
                        xaxis=param_axis(column, plot_width()),
                        yaxis={"title": {"text": table.target_name}})
    figure.add_trace(scatter_class(len(rows))(
        x=column.coords[rows], y=table.target[rows], mode="markers",
        marker={"color": ranks[rows], "coloraxis": "coloraxis", "size": 7},
        customdata=table.numbers[rows],
        hovertemplate="trial %{customdata}<br>%{x}: %{y:.6g}<extra></extra>"))
    return figure
