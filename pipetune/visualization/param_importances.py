"""``plot_param_importances``: the params ranked by importance, with how sure the ranking is."""

from __future__ import annotations

import functools
import textwrap
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pipetune._trial_table import DEFAULT_TARGET_NAME, Target, check_study, completed
from pipetune.visualization._common import empty_figure, go_module, new_figure

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from pipetune.datatypes import FrozenTrial
    from pipetune.importance import BaseImportanceEvaluator, ParamImportances
    from pipetune.study import Study

COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd")


def plot_param_importances(study: Study, evaluator: BaseImportanceEvaluator | None = None,
                           params: Sequence[str] | None = None, *,
                           target: Target | None = None,
                           target_name: str = DEFAULT_TARGET_NAME) -> go.Figure:
    """Horizontal bars of ``pipetune.importance.get_param_importances``, most important on top,
    each with an error bar of its spread across the forest's trees; a warning under the title
    when the trials are too few to trust the order. A multi-objective study without ``target``
    gets one bar per objective. Include a random ``seed`` param to see where noise ranks."""
    title = "Hyperparameter Importances"
    series = importance_series(study, evaluator, params, target, target_name)
    if isinstance(series, str):
        return empty_figure(title, series)
    return _figure(title, series)


def importance_series(study: Study, evaluator: BaseImportanceEvaluator | None = None,
                      params: Sequence[str] | None = None, target: Target | None = None,
                      target_name: str = DEFAULT_TARGET_NAME
                      ) -> list[tuple[str, ParamImportances]] | str:
    """What ``plot_param_importances`` draws: a name and the importances of each series (one
    per objective of a multi-objective study without ``target``), or why there is nothing
    to draw."""
    from pipetune.importance import get_param_importances

    check_study(study, "plot_param_importances")
    trials = completed(study)
    if len(trials) < 2:
        return "Importances need at least 2 COMPLETE trials."
    if not any(t.params for t in trials):
        return "The trials have no params."
    if params is not None and not len(params):
        return "No params to rank: params=[] names none."
    if target is None and len(study.directions) > 1:
        return [(f"Objective {i}", get_param_importances(
            study, evaluator=evaluator, params=params, target=functools.partial(_objective, i)))
            for i in range(len(study.directions))]
    return [(target_name, get_param_importances(study, evaluator=evaluator, params=params,
                                                target=target))]


def _objective(index: int, trial: FrozenTrial) -> float:
    """Objective ``index`` of a COMPLETE trial: the target of its share of the plot."""
    assert trial.values is not None  # COMPLETE
    return trial.values[index]


def _figure(title: str, series: list[tuple[str, ParamImportances]]) -> go.Figure:
    go = go_module()
    order = list(series[0][1])[::-1]  # plotly draws the first category at the bottom
    warnings = sorted({imp.warning for _, imp in series if imp.warning})
    subtitle = "".join(f"<br><sup>{line}</sup>" for warning in warnings
                       for line in textwrap.wrap(warning, 110))
    figure = new_figure(title + subtitle,
                        xaxis={"title": {"text": "Importance (error bar: spread across trees)"},
                               "rangemode": "tozero"},
                        yaxis={"title": {"text": "Hyperparameter"}},
                        height=max(300, 140 + 26 * len(order) * len(series)),
                        margin={"t": 80 + 16 * subtitle.count("<br>")},
                        barmode="group")
    for i, (name, importances) in enumerate(series):
        figure.add_trace(go.Bar(
            x=[importances[p] for p in order], y=order, orientation="h", name=name,
            marker={"color": COLORS[i % len(COLORS)]},
            error_x={"type": "data", "array": [importances.std[p] for p in order],
                     "thickness": 1},
            hovertemplate="%{y}: %{x:.3f}<extra>" + f"{name}, {importances.n_trials} trials"
                          "</extra>"))
    figure.update_layout(showlegend=len(series) > 1)
    return figure
