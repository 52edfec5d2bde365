"""fANOVA: how much of the objective's variance each param explains on its own.

Hutter, Hoos and Leyton-Brown (2014), "An efficient approach for assessing hyperparameter
importance" (ICML). A random forest is fitted to the trials as a surrogate of the objective
over the search space. Each tree is a piecewise-constant function: its leaves partition the
box of the encoded space (see ``_encoding``) into sub-boxes. Under the uniform measure on the
box, the tree's total variance and the variance of its marginal in one param (the tree
averaged over all other params) are exact sums over the leaves, so no sampling is needed. The
importance of a param in one tree is that marginal variance over the total (its "main effect");
the forest's importance is the mean over trees and their spread says how sure it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from pipetune._imports import require
from pipetune.importance._base import ForestImportanceEvaluator
from pipetune.importance._encoding import EncodedTrials, ParamImportances, encode, summarize

if TYPE_CHECKING:
    from pipetune._trial_table import Target
    from pipetune.study import Study


def leaf_boxes(tree: Any, low: np.ndarray, high: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The leaves of a fitted sklearn tree as boxes ``[lo, hi)`` inside ``[low, high]`` with
    their predictions. Walks the tree one depth level at a time with array operations."""
    left, right = tree.children_left, tree.children_right
    feature, threshold = tree.feature, tree.threshold
    lo = np.empty((tree.node_count, len(low)))
    hi = np.empty_like(lo)
    lo[0], hi[0] = low, high
    level = np.array([0])
    while level.size:
        parents = level[left[level] != -1]
        if not parents.size:
            break
        dims = feature[parents]
        cut = np.clip(threshold[parents], lo[parents, dims], hi[parents, dims])
        lefts, rights = left[parents], right[parents]
        lo[lefts], hi[lefts] = lo[parents], hi[parents]
        lo[rights], hi[rights] = lo[parents], hi[parents]
        hi[lefts, dims] = cut
        lo[rights, dims] = cut
        level = np.concatenate([lefts, rights])
    leaves = np.flatnonzero(left == -1)
    return lo[leaves], hi[leaves], tree.value[leaves, 0, 0]


def main_effects(lo: np.ndarray, hi: np.ndarray, prediction: np.ndarray, low: np.ndarray,
                 high: np.ndarray) -> np.ndarray:
    """Each param's main-effect variance over the total variance of one tree (zeros for a
    constant tree), the tree given as leaf boxes and leaf predictions."""
    widths = (hi - lo) / (high - low)  # each leaf's share of every param's range
    volume = widths.prod(axis=1)
    mean = volume @ prediction
    total = volume @ (prediction - mean) ** 2
    effects = np.zeros(len(low))
    if total <= 1e-14 * max(1.0, mean * mean):
        return effects
    for j in range(len(low)):
        # The marginal in param j is constant between consecutive leaf edges along j; on each
        # such interval it is the sum over the leaves covering it of prediction * the volume
        # of the leaf in the other params. Add each leaf at its lower edge and remove it at
        # its upper edge, then take running sums.
        edges = np.unique(np.concatenate([lo[:, j], hi[:, j]]))
        with np.errstate(invalid="ignore", divide="ignore"):
            other = np.where(widths[:, j] > 0, volume / widths[:, j], 0.0)
        weight = prediction * other
        change = np.zeros(len(edges))
        np.add.at(change, np.searchsorted(edges, lo[:, j]), weight)
        np.add.at(change, np.searchsorted(edges, hi[:, j]), -weight)
        marginal = np.cumsum(change)[:-1]
        share = np.diff(edges) / (high[j] - low[j])
        effects[j] = share @ (marginal - mean) ** 2
    return effects / total


class FanovaImportanceEvaluator(ForestImportanceEvaluator):
    """fANOVA importances (Hutter et al. 2014) from a random forest of ``n_trees`` trees,
    deterministic for a given ``seed``. The default evaluator: it measures what each param
    does to the objective across the whole space, so a param that only fits noise (a random
    ``seed``) comes out near zero. ``max_depth`` and ``min_samples_leaf`` bound the trees."""

    def __init__(self, *, n_trees: int = 32, max_depth: int = 32, min_samples_leaf: int = 1,
                 seed: int | None = 0) -> None:
        super().__init__(n_trees=n_trees, max_depth=max_depth,
                         min_samples_leaf=min_samples_leaf, seed=seed)

    def per_tree(self, encoded: EncodedTrials) -> np.ndarray:
        """Main-effect shares of every param in every tree (rows: trees)."""
        ensemble = require("sklearn.ensemble", "importance")
        forest = ensemble.RandomForestRegressor(
            n_estimators=self.n_trees, max_depth=self.max_depth, max_features=1.0,
            min_samples_leaf=self.min_samples_leaf, random_state=self.seed, n_jobs=1)
        forest.fit(encoded.x, encoded.y)
        rows = []
        for estimator in forest.estimators_:
            lo, hi, prediction = leaf_boxes(estimator.tree_, encoded.low, encoded.high)
            rows.append(main_effects(lo, hi, prediction, encoded.low, encoded.high))
        return np.array(rows)

    def evaluate(self, study: Study, params: Sequence[str] | None = None, *,
                 target: Target | None = None, normalize: bool = True) -> ParamImportances:
        encoded = encode(study, params, target, "FanovaImportanceEvaluator")
        return summarize(encoded, self.per_tree(encoded) if encoded.comparable else None,
                         normalize)
