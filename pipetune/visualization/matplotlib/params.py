"""The figures of params, drawn with matplotlib: slice, contour, rank, parallel coordinates
and importances. The data are the plotly figures' (the ``ObjectiveTable`` of
``pipetune._trial_table``, the contour's interpolation, the rank fractions, the parallel axes
and the importance series of ``pipetune.visualization``)."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from pipetune._trial_table import DEFAULT_TARGET_NAME, ObjectiveTable, ParamColumn, Target
from pipetune.datatypes import StudyDirection
from pipetune.visualization._common import (
    FEASIBLE_NAME,
    INFEASIBLE_COLOR,
    INFEASIBLE_NAME,
    NO_COMPLETE,
    grid_size,
    plot_table,
)
from pipetune.visualization.contour import interpolate, why_empty
from pipetune.visualization.matplotlib._axes import (
    GOOD_HIGH_CMAP,
    GOOD_LOW_CMAP,
    empty_axes,
    grid_of_axes,
    new_axes,
    pyplot,
    scale_param_axis,
    table_title,
)
from pipetune.visualization.parallel_coordinate import parallel_axes
from pipetune.visualization.param_importances import COLORS, importance_series
from pipetune.visualization.rank import rank_fraction

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from pipetune.importance import BaseImportanceEvaluator
    from pipetune.study import Study

NO_PARAMS = "The trials have no params."
_GRID = 100  # interpolation points per axis of a contour panel

# draw(axes, x_column, y_column, rows_with_both) -> what the colour bar shows
PanelDrawer = Callable[["Axes", ParamColumn, ParamColumn, np.ndarray], Any]


def _pair_panels(table: ObjectiveTable, title: str, draw: PanelDrawer,
                 colorbar_label: str) -> Axes | np.ndarray:
    """One axes for two params; for more, an n x n array of axes with a panel per ordered pair
    (x: the column's param, y: the row's), the diagonal left blank, as plotly's pair grid."""
    names = table.params
    if len(names) == 2:
        axes = new_axes(table_title(table, title))
        mappable = draw(axes, table.columns[names[0]], table.columns[names[1]],
                        table.columns[names[0]].present & table.columns[names[1]].present)
        axes.figure.colorbar(mappable, ax=axes, label=colorbar_label)
        return axes
    grid = grid_of_axes(len(names), len(names), table_title(table, title))
    mappable = None
    for row, y_name in enumerate(names):
        for col, x_name in enumerate(names):
            panel = grid[row, col]
            if row == col:
                panel.set_axis_off()
                continue
            x, y = table.columns[x_name], table.columns[y_name]
            mappable = draw(panel, x, y, x.present & y.present)
            scale_param_axis(panel, x, "x", label=row == len(names) - 1)
            scale_param_axis(panel, y, "y", label=col == 0)
    grid[0, 0].figure.colorbar(mappable, ax=grid.ravel().tolist(), label=colorbar_label)
    return grid


def plot_slice(study: Study, params: Sequence[str] | None = None, *,
               target: Target | None = None,
               target_name: str = DEFAULT_TARGET_NAME) -> Axes | np.ndarray:
    """``pipetune.visualization.plot_slice`` as matplotlib axes: the target against each param
    on its own, coloured by trial number (grey: breaks a constraint); one axes for one param,
    else an array of them."""
    table = plot_table(study, "plot_slice", params, target, target_name)
    title = "Slice Plot"
    if not len(table):
        return empty_axes(title, NO_COMPLETE)
    if not table.params:
        return empty_axes(title, NO_PARAMS)
    rows, cols = grid_size(len(table.params))
    grid = grid_of_axes(rows, cols, table_title(table, title), sharey=True)
    panels = grid.ravel()[:len(table.params)]
    for panel in grid.ravel()[len(table.params):]:
        panel.set_axis_off()
    points = None
    for panel, name in zip(panels, table.params):
        column = table.columns[name]
        present = column.present
        feasible = present & table.feasible
        points = panel.scatter(column.coords[feasible], table.target[feasible],
                               c=table.numbers[feasible], cmap="Blues", s=20,
                               edgecolors="grey", linewidths=0.5, label=name)
        infeasible = present & ~table.feasible
        if infeasible.any():
            panel.scatter(column.coords[infeasible], table.target[infeasible],
                          color=INFEASIBLE_COLOR, s=20, edgecolors="grey", linewidths=0.5,
                          label=f"{name} (infeasible)")
        scale_param_axis(panel, column, "x")
    for panel in grid[:, 0]:
        panel.set_ylabel(table.target_name)
    grid[0, 0].figure.colorbar(points, ax=grid.ravel().tolist(), label="Trial")
    return panels[0] if len(panels) == 1 else panels


def plot_contour(study: Study, params: Sequence[str] | None = None, *,
                 target: Target | None = None,
                 target_name: str = DEFAULT_TARGET_NAME) -> Axes | np.ndarray:
    """``pipetune.visualization.plot_contour`` as matplotlib axes: the target interpolated
    over two params, the trials as dots (grey: breaks a constraint); for more params, an n x n
    array of axes, one per pair; with fewer than two, empty axes say why."""
    from matplotlib.colors import Normalize

    table = plot_table(study, "plot_contour", params, target, target_name)
    title = "Contour Plot"
    reason = why_empty(table, params)
    if reason is not None:
        return empty_axes(title, reason)
    good_low = target is None and study.directions[0] == StudyDirection.MINIMIZE
    cmap = GOOD_LOW_CMAP if good_low else GOOD_HIGH_CMAP
    norm = Normalize(float(table.target.min()), float(table.target.max()))

    def draw(axes: Axes, x: ParamColumn, y: ParamColumn, both: np.ndarray) -> Any:
        rows = np.flatnonzero(both)
        surface = interpolate(x, y, table.target, rows, _GRID)
        if surface is not None:
            axis_x, axis_y, z = surface
            axes.contourf(axis_x, axis_y, np.ma.masked_invalid(z), levels=15, cmap=cmap,
                          norm=norm)
        feasible = table.feasible[rows]
        axes.scatter(x.coords[rows[feasible]], y.coords[rows[feasible]], color="black", s=8,
                     alpha=0.6, label=FEASIBLE_NAME)
        if not feasible.all():
            axes.scatter(x.coords[rows[~feasible]], y.coords[rows[~feasible]],
                         color=INFEASIBLE_COLOR, s=10, edgecolors="black", linewidths=0.5,
                         label=INFEASIBLE_NAME)
        scale_param_axis(axes, x, "x")
        scale_param_axis(axes, y, "y")
        return pyplot().cm.ScalarMappable(norm=norm, cmap=cmap)

    return _pair_panels(table, title, draw, table.target_name)


def plot_rank(study: Study, params: Sequence[str] | None = None, *,
              target: Target | None = None,
              target_name: str = DEFAULT_TARGET_NAME) -> Axes | np.ndarray:
    """``pipetune.visualization.plot_rank`` as matplotlib axes: the trials placed by pairs of
    params and coloured by their rank on the target (dark: best); with one param, the target
    against it."""
    table = plot_table(study, "plot_rank", params, target, target_name)
    title = "Rank Plot"
    if not len(table):
        return empty_axes(title, NO_COMPLETE)
    if not table.params:
        return empty_axes(title, NO_PARAMS)
    best_low = target is not None or study.directions[0] == StudyDirection.MINIMIZE
    ranks = rank_fraction(table.target, best_low)
    label = "Rank (0 = best)"

    def draw(axes: Axes, x: ParamColumn, y: ParamColumn, both: np.ndarray) -> Any:
        return axes.scatter(x.coords[both], y.coords[both], c=ranks[both], cmap=GOOD_LOW_CMAP,
                            vmin=0, vmax=1, s=25, edgecolors="grey", linewidths=0.5)

    if len(table.params) >= 2:
        return _pair_panels(table, title, draw, label)
    column = table.columns[table.params[0]]
    axes = new_axes(table_title(table, title), ylabel=table.target_name)
    present = column.present
    points = axes.scatter(column.coords[present], table.target[present], c=ranks[present],
                          cmap=GOOD_LOW_CMAP, vmin=0, vmax=1, s=25)
    scale_param_axis(axes, column, "x")
    axes.figure.colorbar(points, ax=axes, label=label)
    return axes


def plot_parallel_coordinate(study: Study, params: Sequence[str] | None = None, *,
                             target: Target | None = None,
                             target_name: str = DEFAULT_TARGET_NAME) -> Axes:
    """``pipetune.visualization.plot_parallel_coordinate`` as matplotlib axes: one line per
    COMPLETE trial through the target and the params, each axis scaled to the range the trials
    span (log params in log10, choices at their index), coloured by the target."""
    from matplotlib.collections import LineCollection

    table = plot_table(study, "plot_parallel_coordinate", params, target, target_name)
    title = "Parallel Coordinate Plot"
    if not len(table):
        return empty_axes(title, NO_COMPLETE)
    good_low = target is None and study.directions[0] == StudyDirection.MINIMIZE
    lanes = parallel_axes(table)
    axes = new_axes(table_title(table, title))
    axes.grid(False)
    heights = np.column_stack([(lane.values - lane.low) / (lane.high - lane.low)
                               for lane in lanes])
    positions = np.arange(len(lanes))
    lines = LineCollection([np.column_stack([positions, row]) for row in heights],
                           array=table.target, cmap=GOOD_LOW_CMAP if good_low else GOOD_HIGH_CMAP,
                           linewidths=1, alpha=0.8)
    axes.add_collection(lines)
    for position, lane in zip(positions, lanes):
        axes.axvline(float(position), color="black", linewidth=0.8)
        for tick, label in zip(lane.ticks, lane.labels):
            axes.text(position - 0.03, (tick - lane.low) / (lane.high - lane.low), label,
                      ha="right", va="center", fontsize=7)
    axes.set_xticks(positions, [lane.name for lane in lanes])
    axes.set_yticks([])
    axes.set_xlim(-0.4, len(lanes) - 0.8)
    axes.set_ylim(-0.05, 1.05)
    axes.figure.colorbar(lines, ax=axes, label=table.target_name)
    return axes


def plot_param_importances(study: Study, evaluator: BaseImportanceEvaluator | None = None,
                           params: Sequence[str] | None = None, *,
                           target: Target | None = None,
                           target_name: str = DEFAULT_TARGET_NAME) -> Axes:
    """``pipetune.visualization.plot_param_importances`` as matplotlib axes: horizontal bars,
    most important on top, each with its spread across the forest's trees; one bar per
    objective of a multi-objective study without ``target``."""
    title = "Hyperparameter Importances"
    series = importance_series(study, evaluator, params, target, target_name)
    if isinstance(series, str):
        return empty_axes(title, series)
    warnings = sorted({importances.warning for _, importances in series if importances.warning})
    axes = new_axes("\n".join([title, *(line for warning in warnings
                                        for line in textwrap.wrap(warning, 80))]),
                    "Importance (error bar: spread across trees)", "Hyperparameter")
    order = list(series[0][1])[::-1]  # barh draws the first at the bottom
    height = 0.8 / len(series)
    for i, (name, importances) in enumerate(series):
        offsets = np.arange(len(order)) + (i - (len(series) - 1) / 2) * height
        axes.barh(offsets, [importances[p] for p in order], height=height,
                  xerr=[importances.std[p] for p in order], color=COLORS[i % len(COLORS)],
                  label=name, capsize=2)
    axes.set_yticks(range(len(order)), order)
    axes.set_xlim(left=0)
    if len(series) > 1:
        axes.legend()
    return axes
