"""``plot_parallel_coordinate``: every COMPLETE trial as a line across the chosen params."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from pipetune.datatypes import StudyDirection
from pipetune.visualization._common import (
    DEFAULT_TARGET_NAME,
    ParamColumn,
    Target,
    empty_figure,
    go_module,
    new_figure,
    objective_table,
)

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from pipetune.study import Study


def _dimension(column: ParamColumn) -> dict[str, Any]:
    """One parcoords axis. Parcoords has no log axes, so log params are drawn as log10 with
    ticks at the powers of ten labelled in the param's own units; choices are ticks at their
    index. A trial lacking a conditional param sits just below the axis range, under a tick
    named "(absent)"."""
    values = column.scaled()
    present = ~np.isnan(values)
    if column.is_categorical:
        ticks = list(range(len(column.labels)))
        labels = list(column.labels)
        low, high = 0.0, float(max(len(labels) - 1, 1))
    else:
        low = float(np.min(values[present])) if present.any() else 0.0
        high = float(np.max(values[present])) if present.any() else 1.0
        ticks, labels = None, None
        if column.is_log:
            powers = np.arange(np.floor(low), np.ceil(high) + 1)
            ticks = powers.tolist()
            labels = [f"{10 ** p:g}" for p in powers]
    span = (high - low) or 1.0
    dimension: dict[str, Any] = {"label": column.name}
    if not present.all():
        absent = low - 0.1 * span
        values = np.where(present, values, absent)
        low = absent
        ticks = (ticks or np.linspace(low + 0.1 * span, high, 5).tolist()) + [absent]
        labels = (labels or [f"{t:.3g}" for t in ticks[:-1]]) + ["(absent)"]
    dimension.update(values=values, range=[low, high if high > low else low + 1])
    if ticks is not None:
        dimension.update(tickvals=ticks, ticktext=labels)
    return dimension


def plot_parallel_coordinate(study: "Study", params: Sequence[str] | None = None, *,
                             target: Target | None = None,
                             target_name: str = DEFAULT_TARGET_NAME) -> "go.Figure":
    """One line per COMPLETE trial through the target value and the chosen params (all by
    default), coloured by the target, so the combinations behind good values stand out; drag
    along an axis in the browser to keep only the trials in a range. Log params are on a log
    scale, categorical params show their choices."""
    table = objective_table(study, "plot_parallel_coordinate", params, target, target_name)
    title = "Parallel Coordinate Plot"
    if not len(table):
        return empty_figure(title, "No COMPLETE trials yet.")
    reverse = (target is None and study.directions[0] == StudyDirection.MINIMIZE)
    dimensions = [{"label": table.target_name, "values": table.target,
                   "range": [float(table.target.min()), float(table.target.max())]}]
    dimensions += [_dimension(table.columns[name]) for name in table.params]
    figure = new_figure(title)
    figure.add_trace(go_module().Parcoords(
        dimensions=dimensions,
        line={"color": table.target, "colorscale": "Blues", "reversescale": reverse,
              "showscale": True, "colorbar": {"title": {"text": table.target_name}}}))
    return figure
