"""``plot_contour``: the target over pairs of params, interpolated between the trials."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from pipetune._trial_table import DEFAULT_TARGET_NAME, ObjectiveTable, ParamColumn, Target
from pipetune.datatypes import StudyDirection
from pipetune.visualization._common import (
    FEASIBLE_NAME,
    INFEASIBLE_COLOR,
    INFEASIBLE_NAME,
    NO_COMPLETE,
    WEBGL_ABOVE,
    empty_figure,
    go_module,
    plot_table,
    scatter_class,
)
from pipetune.visualization._pairs import pair_grid

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from pipetune.study import Study

_GRID = 100  # interpolation points per axis of a single panel
_PANEL_GRID = 50  # ... and of each panel of a grid: a quarter of the points to send and draw
_MAX_SURFACE_POINTS = 1000  # above: average the trials in _BINS x _BINS cells first
_BINS = 30
# the trials as black dots over the surface (infeasible ones grey); faint when so many that
# they would hide it
_DOTS = {"size": 4, "opacity": 0.6}
_FAINT_DOTS = {"size": 2, "opacity": 0.2}


def _grid_axis(column: ParamColumn, scaled: np.ndarray, size: int
               ) -> tuple[np.ndarray, np.ndarray]:
    """``size`` grid positions along one param, evenly spaced on its own scale (log10 for log
    params): in that scale for interpolating, and as the axis shows them for drawing."""
    low, high = float(scaled.min()), float(scaled.max())
    if high == low:
        low, high = low - 0.5, high + 0.5
    positions = np.linspace(low, high, size)
    return positions, (10 ** positions if column.is_log else positions)


def interpolate(x: ParamColumn, y: ParamColumn, values: np.ndarray, rows: np.ndarray,
                size: int = _GRID) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The target linearly interpolated on a Delaunay triangulation, on a ``size`` x ``size``
    grid over the trials holding both params; None when they do not span an area (fewer than
    three distinct points, or all on a line), where only the points are drawn.

    Trials at the same point (repeated choices) are averaged first. Above
    ``_MAX_SURFACE_POINTS`` distinct points the trials are averaged within a ``_BINS`` x
    ``_BINS`` grid of cells (each at the mean position of its trials), so the surface follows
    the trend of all trials instead of the noise between neighbours, and stays quick."""
    from scipy.spatial import Delaunay, QhullError

    trials = np.column_stack([x.scaled()[rows], y.scaled()[rows]])
    points, means = _average(trials, values[rows])
    if len(points) > _MAX_SURFACE_POINTS:
        points, means = _average(trials, values[rows], _BINS)
    if len(points) < 3:
        return None
    grid_x, axis_x = _grid_axis(x, trials[:, 0], size)
    grid_y, axis_y = _grid_axis(y, trials[:, 1], size)
    # Triangulate on the unit square (params differ in scale by orders of magnitude), and let
    # Qhull joggle the input (QJ): integer and categorical params put points on lines.
    low, span = points.min(axis=0), np.ptp(points, axis=0)
    span[span == 0] = 1.0
    try:
        triangles = Delaunay((points - low) / span, qhull_options="QJ").simplices
    except QhullError:
        return None
    z = rasterize(points[triangles], means[triangles], grid_x, grid_y)
    return axis_x, axis_y, z


def _average(points: np.ndarray, values: np.ndarray, bins: int | None = None
             ) -> tuple[np.ndarray, np.ndarray]:
    """Mean value and mean position of the points sharing a position, or with ``bins``, of the
    points in each cell of a bins x bins grid over their range."""
    if bins is None:
        keys = points
    else:
        low, span = points.min(axis=0), np.ptp(points, axis=0)
        span[span == 0] = 1.0
        keys = np.minimum(((points - low) / span * bins).astype(int), bins - 1)
    _, group = np.unique(keys, axis=0, return_inverse=True)
    group = group.ravel()
    counts = np.bincount(group)
    centers = np.column_stack([np.bincount(group, points[:, k]) / counts for k in range(2)])
    return centers, np.bincount(group, values) / counts


def rasterize(corners: np.ndarray, corner_values: np.ndarray, grid_x: np.ndarray,
              grid_y: np.ndarray) -> np.ndarray:
    """Linear interpolation inside each triangle (``corners``: triangles x 3 x 2) at the points
    of the grid ``grid_x`` x ``grid_y`` (ascending), NaN outside every triangle; ``z[j, i]``
    is the value at ``(grid_x[i], grid_y[j])``.

    Each triangle visits only the grid points in its bounding box and weighs its corners by
    barycentric coordinates, all in array operations. (scipy's point location computes a
    LAPACK solve per triangle, which crawls when BLAS threads compete for a busy machine.)"""
    first_x = np.searchsorted(grid_x, np.min(corners[:, :, 0], axis=1))
    stop_x = np.searchsorted(grid_x, np.max(corners[:, :, 0], axis=1), side="right")
    first_y = np.searchsorted(grid_y, np.min(corners[:, :, 1], axis=1))
    stop_y = np.searchsorted(grid_y, np.max(corners[:, :, 1], axis=1), side="right")
    width, height = np.maximum(stop_x - first_x, 0), np.maximum(stop_y - first_y, 0)
    counts = width * height
    triangle = np.repeat(np.arange(len(corners)), counts)
    offset = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    i = first_x[triangle] + offset % np.maximum(width[triangle], 1)
    j = first_y[triangle] + offset // np.maximum(width[triangle], 1)
    px, py = grid_x[i], grid_y[j]
    a, b, c = corners[triangle, 0], corners[triangle, 1], corners[triangle, 2]
    denominator = ((b[:, 1] - c[:, 1]) * (a[:, 0] - c[:, 0])
                   + (c[:, 0] - b[:, 0]) * (a[:, 1] - c[:, 1]))
    with np.errstate(divide="ignore", invalid="ignore"):  # flat triangles: weights not finite
        weight_a = ((b[:, 1] - c[:, 1]) * (px - c[:, 0]) + (c[:, 0] - b[:, 0]) * (py - c[:, 1])
                    ) / denominator
        weight_b = ((c[:, 1] - a[:, 1]) * (px - c[:, 0]) + (a[:, 0] - c[:, 0]) * (py - c[:, 1])
                    ) / denominator
        weight_c = 1.0 - weight_a - weight_b
    tolerance = -1e-9
    inside = (weight_a >= tolerance) & (weight_b >= tolerance) & (weight_c >= tolerance)
    values = corner_values[triangle[inside]]
    z = np.full((len(grid_y), len(grid_x)), np.nan)
    z[j[inside], i[inside]] = (weight_a[inside] * values[:, 0] + weight_b[inside] * values[:, 1]
                               + weight_c[inside] * values[:, 2])
    return z


def _contour_panel(table: ObjectiveTable) -> Any:
    go = go_module()
    surfaces: dict[tuple[str, str], Any] = {}
    size = _GRID if len(table.params) == 2 else _PANEL_GRID

    def draw(x: ParamColumn, y: ParamColumn, both: np.ndarray) -> list[Any]:
        rows = np.flatnonzero(both)
        traces = []
        mirror = surfaces.get((y.name, x.name))  # the grid shows each pair twice, transposed
        if mirror is not None:
            surface = (mirror[1], mirror[0], mirror[2].T)
        elif (y.name, x.name) in surfaces:
            surface = None
        else:
            surface = interpolate(x, y, table.target, rows, size)
        surfaces[(x.name, y.name)] = surface
        if surface is not None:
            axis_x, axis_y, z = surface
            traces.append(go.Contour(x=axis_x, y=axis_y, z=z, coloraxis="coloraxis",
                                     connectgaps=False, contours={"coloring": "heatmap"},
                                     line={"width": 0.5}, hoverinfo="skip"))
        marker = _DOTS if len(rows) <= WEBGL_ABOVE else _FAINT_DOTS

        def dots(chosen: np.ndarray, name: str, color: str, note: str) -> Any:
            return scatter_class(len(rows))(
                x=x.coords[chosen], y=y.coords[chosen], mode="markers", name=name,
                marker={**marker, "color": color, "line": {"width": 0.5, "color": "black"}},
                customdata=np.column_stack([table.numbers[chosen], table.target[chosen]]),
                hovertemplate=f"trial %{{customdata[0]}}{note}<br>{x.name}: %{{x}}<br>"
                              f"{y.name}: %{{y}}<br>{table.target_name}: "
                              "%{customdata[1]:.6g}<extra></extra>")

        feasible = table.feasible[rows]
        traces.append(dots(rows[feasible], FEASIBLE_NAME, "black", ""))
        if not feasible.all():
            traces.append(dots(rows[~feasible], INFEASIBLE_NAME, INFEASIBLE_COLOR,
                               " (infeasible)"))
        return traces

    return draw


def why_empty(table: ObjectiveTable, params: Sequence[str] | None) -> str | None:
    """Why a contour plot of ``table`` has nothing to draw (no COMPLETE trial, fewer than two
    params to pair), or None when it has something."""
    if not len(table):
        return NO_COMPLETE
    if len(table.params) >= 2:
        return None
    if params is None:
        return "A contour plot needs trials with two or more params."
    return (f"A contour plot pairs two or more params; params={list(table.params)} gives "
            f"{len(table.params)}: add another, e.g. params=['lr', 'n_layers'].")


def plot_contour(study: Study, params: Sequence[str] | None = None, *,
                 target: Target | None = None,
                 target_name: str = DEFAULT_TARGET_NAME) -> go.Figure:
    """The target over two params as a contour map interpolated between the COMPLETE trials
    (drawn as dots), to see how two params interact; with more than two params (default: the
    ``DEFAULT_N_PARAMS`` most important, the title says which), a grid of every pair. Log
    params are interpolated and drawn on a log scale; categorical params at their choices.
    Trials that break a constraint are grey dots. With fewer than two params, an empty figure
    says why."""
    table = plot_table(study, "plot_contour", params, target, target_name)
    title = "Contour Plot"
    reason = why_empty(table, params)
    if reason is not None:
        return empty_figure(title, reason)
    good_low = target is None and study.directions[0] == StudyDirection.MINIMIZE
    coloraxis = {"colorscale": "Blues", "reversescale": good_low,
                 "colorbar": {"title": {"text": table.target_name}}}
    return pair_grid(table, title, _contour_panel(table), coloraxis)
