"""The COMPLETE trials of a study as a numeric matrix inside a bounded box, the input of every
importance evaluator, and the result type they all return."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipetune._trial_table import (
    DEFAULT_TARGET_NAME,
    ParamColumn,
    Target,
    check_study,
    objective_table,
)
from pipetune.distributions import CategoricalDistribution

# Below this many COMPLETE trials per param an importance ranking is rough: a random forest
# cannot separate a weak effect from noise with so few points.
TRIALS_PER_PARAM = 10
MIN_CONFIDENT_TRIALS = 30


@dataclass(frozen=True)
class EncodedTrials:
    """Trials as rows of ``x`` (one column per param) with objective ``y``, and the box
    ``[low, high]`` per column that stands for the whole search space.

    Log params are encoded as log10 (the scale they are sampled on), a param on a grid (ints,
    stepped floats) owns half a step beyond its ends; a categorical param with
    k choices as the middle ``i + 0.5`` of cell ``[i, i + 1)`` of ``[0, k)``, so each choice
    gets an equal share of the box. A conditional param absent from some trials gets an extra
    cell below its range, sized so that its share of the box equals the fraction of trials
    lacking it; absent trials sit in its middle. Variance over the box is then variance over
    the space as the trials sampled it, "inactive" included."""

    names: list[str]
    x: np.ndarray
    y: np.ndarray
    low: np.ndarray
    high: np.ndarray

    @property
    def comparable(self) -> bool:
        """Whether there is anything to rank: two trials or more, and a param."""
        return len(self.y) >= 2 and bool(self.names)


def _encode_column(column: ParamColumn) -> tuple[np.ndarray, float, float]:
    present = column.present
    if column.labels is not None:
        values = column.coords + 0.5
        low, high = 0.0, float(len(column.labels))
    else:
        values = column.scaled()
        domain = column.distribution
        assert not isinstance(domain, CategoricalDistribution)  # categorical ones have labels
        # a grid (ints, stepped floats) owns the cells around its points: equal measure each
        half_step = (domain.step or 0.0) / 2
        bounds = np.array([domain.low - half_step, domain.high + half_step], dtype=float)
        if column.is_log:
            bounds = np.log10(bounds)
        low = float(min(bounds[0], np.min(values[present])))
        high = float(max(bounds[1], np.max(values[present])))
        if high == low:  # a fixed value: give it a unit cell so the box has volume
            high = low + 1.0
    absent_share = 1.0 - present.mean()
    if absent_share > 0:
        width = (high - low) * absent_share / (1.0 - absent_share)
        values = np.where(present, values, low - width / 2)
        low -= width
    return values, low, high


def encode(study: Any, params: Sequence[str] | None, target: Target | None,
           function: str) -> EncodedTrials:
    """The COMPLETE trials with a finite target, encoded (no params while there is no such
    trial); raises with the fix when ``params`` names a param the trials do not have."""
    check_study(study, function)
    table = objective_table(study, function, params, target, DEFAULT_TARGET_NAME)
    names = table.params if len(table) else []
    columns = [_encode_column(table.columns[name]) for name in names]
    x = np.column_stack([values for values, _, _ in columns]) if columns \
        else np.empty((len(table), 0))
    low = np.array([lo for _, lo, _ in columns])
    high = np.array([hi for _, _, hi in columns])
    return EncodedTrials(list(names), x, table.target, low, high)


class ParamImportances(dict):
    """Param name -> importance (non-negative; normalized to sum to 1 unless every importance
    is 0), most important first: a plain dict for code written for Optuna, plus how far to
    trust it.

    Attributes:
        std: per param, the standard deviation of its importance across the forest's trees
            (on the same scale): a param whose bar overlaps the next one's within ``std`` is
            not reliably ranked above it.
        n_trials: the COMPLETE trials the importances were computed from.
        warning: None, or why the ranking is rough (too few trials for the number of params,
            an objective that never varied); plots show it.
    """

    def __init__(self, importances: dict[str, float], std: dict[str, float], n_trials: int,
                 warning: str | None = None) -> None:
        order = sorted(importances, key=lambda name: -importances[name])
        super().__init__((name, importances[name]) for name in order)
        self.std = {name: std[name] for name in order}
        self.n_trials = n_trials
        self.warning = warning


def summarize(encoded: EncodedTrials, per_tree: np.ndarray | None,
              normalize: bool = True) -> ParamImportances:
    """Averages per-tree importances (rows: trees, columns: params; None when the trials are
    not ``comparable``: all 0), normalizes the mean to sum to 1 if asked (scaling the spread
    alike) and attaches the warning saying how far to trust it. A param that kept one value
    in every trial explains nothing: its importance is 0 whatever the model made of it."""
    names, n_trials = encoded.names, len(encoded.y)
    if per_tree is None or not len(per_tree):
        per_tree = np.zeros((1, len(names)))
    varies = np.ptp(encoded.x, axis=0) > 0 if n_trials else np.zeros(len(names), dtype=bool)
    per_tree = np.where(varies, per_tree, 0.0)
    mean, std = per_tree.mean(axis=0), per_tree.std(axis=0)
    total = mean.sum()
    if total > 0 and normalize:
        mean, std = mean / total, std / total
    return ParamImportances(dict(zip(names, mean.tolist())), dict(zip(names, std.tolist())),
                            n_trials, _warning(encoded, total))


def _warning(encoded: EncodedTrials, total: float) -> str | None:
    """Why the importances are not to be trusted, or None."""
    names, n_trials = encoded.names, len(encoded.y)
    if n_trials < 2:
        return (f"{n_trials} COMPLETE trial(s) with a finite value: ranking params needs two or "
                "more, so every param gets 0.")
    if not names:
        return None
    if total == 0:
        if np.ptp(encoded.y) == 0:
            return "The objective did not vary across these trials: no param explains anything."
        return ("No param explains the objective's variation: too few trials for the model, or "
                "params that never changed.")
    needed = max(MIN_CONFIDENT_TRIALS, TRIALS_PER_PARAM * len(names))
    if n_trials < needed:
        return (f"Only {n_trials} COMPLETE trials for {len(names)} params (about {needed} make "
                "a stable ranking): treat the order of params whose spreads overlap as unknown.")
    return None
