"""The interface every importance evaluator implements."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pipetune.errors import InvalidArgumentError

if TYPE_CHECKING:
    from pipetune._trial_table import Target
    from pipetune.importance._encoding import ParamImportances
    from pipetune.study import Study


class BaseImportanceEvaluator(abc.ABC):
    """Ranks the params of a study by how much they matter to its objective.

    ``evaluate`` reads the study's COMPLETE trials (pruned and failed ones have no final value
    and are left out), restricted to ``params`` when given, and returns a ParamImportances:
    importances summing to 1 (unless none explains anything, or ``normalize=False``), most
    important first, with their spread and a warning when the trials are too few to trust the
    order. With fewer than two such trials every param gets 0 (none at all: an empty result);
    a param that kept one value in every trial gets 0."""

    @abc.abstractmethod
    def evaluate(self, study: Study, params: Sequence[str] | None = None, *,
                 target: Target | None = None, normalize: bool = True
                 ) -> ParamImportances:
        """The importances of ``params`` (default: every param) for ``target`` (default: the
        objective value; the first objective of a multi-objective study); with
        ``normalize=False`` in the evaluator's own unit (for fANOVA: the fraction of the
        objective's variance each param explains alone; what the sum leaves to 1 is
        explained by interactions)."""


class ForestImportanceEvaluator(BaseImportanceEvaluator):
    """An evaluator built on a random forest of ``n_trees`` trees, at most ``max_depth`` deep,
    with leaves of at least ``min_samples_leaf`` trials, grown from ``seed``."""

    def __init__(self, *, n_trees: int, max_depth: int, min_samples_leaf: int,
                 seed: int | None) -> None:
        for name, value in (("n_trees", n_trees), ("max_depth", max_depth),
                            ("min_samples_leaf", min_samples_leaf)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidArgumentError(
                    f"The {name!r} argument of {type(self).__name__} must be a positive int. "
                    f"Got {value!r}.")
        self.n_trees = n_trees
        self.max_depth = max_depth
        self.min_samples_leaf = min_samples_leaf
        self.seed = seed
