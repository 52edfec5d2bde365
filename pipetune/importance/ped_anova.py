"""PED-ANOVA: which params it takes to reach the top trials, from two density estimates.

Watanabe, Bansal and Hutter (2023), "PED-ANOVA: Efficiently quantifying hyperparameter
importance in arbitrary subspaces" (IJCAI). Take the best ``target_quantile`` of the trials
(the top set) and the best ``region_quantile`` (the region; all trials by default). Per
param, estimate the density of the top set, p_top, and of the region, p_region, along that
param alone; the param matters as much as the two differ. The paper shows that the local
fANOVA variance of "being in the top set" within the region equals, per param,
``(n_top / n_region) ** 2`` times the Pearson chi-squared divergence
``sum p_region * (p_top / p_region - 1) ** 2``, so no surrogate model is fitted: it is fast
and needs no scikit-learn. With ``evaluate_on_local=False`` p_region is uniform over the
search space instead: how much each param matters over the whole space rather than where
the study searched.

Densities are Parzen estimators on a grid of ``_GRID`` points over each param's box (see
``_encoding``: log params on their log scale, each choice of a categorical param its own
cell, a conditional param's absence a cell of its own), Gaussian kernels of Scott's width plus
one uniform prior kernel, so that a param the top set never varied still has a density
everywhere.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from pipetune.datatypes import StudyDirection
from pipetune.errors import InvalidArgumentError
from pipetune.importance._base import BaseImportanceEvaluator
from pipetune.importance._encoding import ParamImportances, encode, summarize

if TYPE_CHECKING:
    from pipetune._trial_table import Target
    from pipetune.study import Study

_GRID = 50  # points per param's box
_PRIOR_WEIGHT = 1.0  # the uniform kernel's weight against one trial's


def _density(values: np.ndarray, grid: np.ndarray, low: float, high: float) -> np.ndarray:
    """A Parzen estimate from ``values`` as probabilities of the ``grid`` points: Gaussian
    kernels of Scott's width (1.06 sigma n^-1/5, at least one grid cell) and a uniform
    prior kernel."""
    n = len(values)
    cell = (high - low) / (len(grid) - 1)
    width = max(1.06 * float(np.std(values)) * n ** -0.2, cell)
    kernels = np.exp(-0.5 * ((grid[None, :] - values[:, None]) / width) ** 2)
    kernels /= kernels.sum(axis=1, keepdims=True)
    mass = kernels.sum(axis=0) + _PRIOR_WEIGHT / len(grid)
    return mass / mass.sum()


class PedAnovaImportanceEvaluator(BaseImportanceEvaluator):
    """PED-ANOVA (see the module docstring): how much each param decides whether a trial
    reaches the best ``target_quantile`` of the trials, within the best ``region_quantile``.

    Args:
        target_quantile: the share of trials that counts as top (0.1: the best 10%).
        region_quantile: the share of trials that delimits the region the importance is
            measured in (1.0: all of them); must exceed ``target_quantile``.
        evaluate_on_local: measure within the region the trials searched (True) or over the
            whole search space (False, which ignores ``region_quantile``).

    Lower values are better when a ``target`` function is given (negate a value to
    maximize); otherwise the study's direction decides (its first objective's, for several).
    """

    def __init__(self, *, target_quantile: float = 0.1, region_quantile: float = 1.0,
                 evaluate_on_local: bool = True) -> None:
        ok = all(isinstance(q, (int, float)) and not isinstance(q, bool)
                 for q in (target_quantile, region_quantile))
        if not ok or not 0.0 < target_quantile < region_quantile <= 1.0:
            raise InvalidArgumentError(
                "PedAnovaImportanceEvaluator needs 0 < target_quantile < region_quantile <= 1. "
                f"Got target_quantile={target_quantile!r}, region_quantile={region_quantile!r}.")
        if region_quantile != 1.0 and not evaluate_on_local:
            warnings.warn("PedAnovaImportanceEvaluator ignores region_quantile when "
                          "evaluate_on_local=False (the region is the whole space).",
                          stacklevel=2)
        self.target_quantile = float(target_quantile)
        self.region_quantile = float(region_quantile)
        self.evaluate_on_local = bool(evaluate_on_local)

    def evaluate(self, study: Study, params: Sequence[str] | None = None, *,
                 target: Target | None = None, normalize: bool = True) -> ParamImportances:
        encoded = encode(study, params, target, "PedAnovaImportanceEvaluator")
        if not encoded.comparable:
            return summarize(encoded, None, normalize)
        maximize = target is None and study.directions[0] == StudyDirection.MAXIMIZE
        order = np.argsort(-encoded.y if maximize else encoded.y, kind="stable")
        n = len(order)
        n_top = math.ceil(self.target_quantile * n)
        n_region = math.ceil(self.region_quantile * n)
        if n_top >= n_region:
            warnings.warn(
                f"PedAnovaImportanceEvaluator: with {n} COMPLETE trials the top "
                f"{self.target_quantile:.0%} and the region ({self.region_quantile:.0%}) are the "
                "same trials, so no param makes a difference: run more trials.", stacklevel=2)
        top, region = order[:n_top], order[:n_region]
        importances = np.empty(len(encoded.names))
        for j in range(len(encoded.names)):
            low, high = float(encoded.low[j]), float(encoded.high[j])
            grid = np.linspace(low, high, _GRID)
            p_top = _density(encoded.x[top, j], grid, low, high)
            p_region = _density(encoded.x[region, j], grid, low, high) \
                if self.evaluate_on_local else np.full(_GRID, 1.0 / _GRID)
            importances[j] = float(p_region @ (p_top / p_region - 1.0) ** 2)
        importances *= (n_top / n_region) ** 2
        return summarize(encoded, importances[None, :], normalize)
