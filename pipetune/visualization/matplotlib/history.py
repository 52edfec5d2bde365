"""How a study progressed, drawn with matplotlib: the optimization history, the empirical
distribution of the values and the hypervolume history. The data are the plotly figures'
(``pipetune.visualization.history`` and ``.hypervolume_history``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from pipetune._trial_table import DEFAULT_TARGET_NAME, Target
from pipetune.visualization._common import NO_COMPLETE
from pipetune.visualization.history import PALETTE, edf_curves, histories_of, mean_best
from pipetune.visualization.hypervolume_history import hypervolume_history
from pipetune.visualization.matplotlib._axes import empty_axes, new_axes

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from pipetune.study import Study


def plot_optimization_history(study: Study | Sequence[Study], *, target: Target | None = None,
                              target_name: str = DEFAULT_TARGET_NAME,
                              error_bar: bool = False) -> Axes:
    """``pipetune.visualization.plot_optimization_history`` as matplotlib axes: each COMPLETE
    trial's value against its number and the best so far as a step line, several studies
    overlaid (or, with ``error_bar=True``, the mean and standard deviation of their best-so-far
    curves)."""
    histories, name = histories_of(study, target, target_name)
    title = "Optimization History"
    if not any(len(h.numbers) for h in histories):
        return empty_axes(title, NO_COMPLETE)
    axes = new_axes(title, "Trial", name)
    if error_bar and len(histories) > 1 and all(h.best is not None for h in histories):
        x, mean, std = mean_best(histories)
        axes.fill_between(x, mean - std, mean + std, color=PALETTE[0], alpha=0.2,
                          label="+/- 1 std")
        axes.plot(x, mean, color=PALETTE[0], label="Mean best value")
    else:
        for i, history in enumerate(histories):
            color = PALETTE[i % len(PALETTE)]
            several = len(histories) > 1
            axes.scatter(history.numbers, history.values, s=15, color=color,
                         label=history.study_name if several else name)
            if history.best is not None:
                axes.step(history.numbers, history.best, where="post", color=color,
                          label=f"{history.study_name} (best)" if several else "Best Value")
    axes.legend()
    return axes


def plot_edf(study: Study | Sequence[Study], *, target: Target | None = None,
             target_name: str = DEFAULT_TARGET_NAME) -> Axes:
    """``pipetune.visualization.plot_edf`` as matplotlib axes: per study, the fraction of its
    COMPLETE trials at or below each value."""
    curves, name = edf_curves(study, target, target_name)
    title = "Empirical Distribution Function"
    if not any(len(values) for _, values in curves):
        return empty_axes(title, NO_COMPLETE)
    axes = new_axes(title, name, "Cumulative Probability")
    axes.set_ylim(0, 1.02)
    for i, (study_name, values) in enumerate(curves):
        if len(values):
            axes.step(values, np.arange(1, len(values) + 1) / len(values), where="post",
                      color=PALETTE[i % len(PALETTE)], label=study_name)
    axes.legend()
    return axes


def plot_hypervolume_history(study: Study, reference_point: Sequence[float]) -> Axes:
    """``pipetune.visualization.plot_hypervolume_history`` as matplotlib axes: the hypervolume
    of the Pareto front, bounded by ``reference_point``, after each trial."""
    history = hypervolume_history(study, reference_point)
    title = "Hypervolume History Plot"
    if not len(history.numbers):
        return empty_axes(title, NO_COMPLETE)
    axes = new_axes(title, "Trial", "Hypervolume")
    axes.plot(history.numbers, history.values, marker="o", markersize=3, color=PALETTE[0])
    return axes
