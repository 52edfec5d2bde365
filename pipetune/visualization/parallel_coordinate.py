"""``plot_parallel_coordinate``: every COMPLETE trial as a line across the chosen params."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from pipetune._trial_table import DEFAULT_TARGET_NAME, ParamColumn, Target
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


def _dimension(column: ParamColumn, label_width: float) -> dict[str, Any]:
    """One parcoords axis over the range the trials span, its name wrapped to ``label_width``
    pixels. Parcoords has no log axes, so log params are drawn as log10 with ticks labelled in
    the param's own units; choices are ticks at their index; every tick lies inside the range
    (one outside would stretch the axis past the plot). A trial lacking a conditional param
    sits just below the range, under a tick named "(absent)"."""
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
    return _axis(column.name, label_width, values, low, high, ticks, labels)


def _axis(name: str, label_width: float, values: np.ndarray, low: float, high: float,
          ticks: list[float], labels: list[str]) -> dict[str, Any]:
    """A parcoords dimension. Every one has ticks: on an axis without them plotly writes the
    ends of the range, which collide with the name under it."""
    return {"label": wrap(name, label_width, _LABEL_SIZE), "values": values,
            "range": [low, high if high > low else low + 1], "tickvals": ticks,
            "ticktext": labels}


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
    low, high = float(table.target.min()), float(table.target.max())
    ticks = linear_ticks(low, high)
    dimensions = [_axis(table.target_name, between, table.target, low, high, ticks,
                        [f"{t:.6g}" for t in ticks])]
    dimensions += [_dimension(table.columns[name], between) for name in table.params]
    figure = new_figure(**table.layout(title))
    figure.add_trace(go_module().Parcoords(
        dimensions=dimensions, labelside="bottom", labelfont={"size": _LABEL_SIZE},
        line={"color": table.target, "colorscale": "Blues", "reversescale": reverse,
              "showscale": True, "colorbar": {"title": {"text": table.target_name}}}))
    return figure
