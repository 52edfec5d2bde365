"""Which hyperparameters matter: importance evaluators over a study's COMPLETE trials.

``get_param_importances(study)`` answers with fANOVA on a random-forest surrogate (Hutter et
al. 2014) by default; ``MeanDecreaseImpurityImportanceEvaluator`` is the fast alternative.
Both need scikit-learn (``pip install 'pipetune[importance]'``).
``PedAnovaImportanceEvaluator`` (Watanabe et al. 2023) needs no model: it asks which params
it takes to reach the best trials.

Add a ``seed`` param drawn at random (e.g. ``trial.suggest_int("seed", 0, 2**31 - 1)``) to
a study and it becomes the yardstick of noise: a param ranked at or below it does not matter
measurably. The result's ``std`` and ``warning`` say how far to trust the order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from pipetune.errors import InvalidArgumentError
from pipetune.importance._base import BaseImportanceEvaluator
from pipetune.importance._encoding import ParamImportances
from pipetune.importance.fanova import FanovaImportanceEvaluator
from pipetune.importance.mean_decrease_impurity import MeanDecreaseImpurityImportanceEvaluator
from pipetune.importance.ped_anova import PedAnovaImportanceEvaluator

if TYPE_CHECKING:
    from pipetune._trial_table import Target
    from pipetune.study import Study

__all__ = [
    "BaseImportanceEvaluator",
    "FanovaImportanceEvaluator",
    "MeanDecreaseImpurityImportanceEvaluator",
    "ParamImportances",
    "PedAnovaImportanceEvaluator",
    "get_param_importances",
]


def get_param_importances(study: Study, *, evaluator: BaseImportanceEvaluator | None = None,
                          params: Sequence[str] | None = None,
                          target: Target | None = None,
                          normalize: bool = True) -> ParamImportances:
    """How much each param (all of them, or ``params``) matters to the objective (or
    ``target``, a function of a FrozenTrial; a multi-objective study defaults to its first
    objective), as a dict name -> importance summing to 1, most important first, computed
    from the COMPLETE trials by ``evaluator`` (default: ``FanovaImportanceEvaluator()``).
    Conditional params count their absence as a value; categorical params each choice. The
    result's ``std`` (spread across trees) and ``warning`` (few trials) say how sure it is.
    ``normalize=False`` keeps the evaluator's unit (fANOVA: fraction of variance explained
    alone, so 1 minus their sum is what interactions explain)."""
    if evaluator is None:
        evaluator = FanovaImportanceEvaluator()
    elif not isinstance(evaluator, BaseImportanceEvaluator):
        raise InvalidArgumentError(
            "evaluator must be a pipetune importance evaluator, e.g. "
            f"pipetune.importance.MeanDecreaseImpurityImportanceEvaluator(). Got {evaluator!r}.")
    return evaluator.evaluate(study, params, target=target, normalize=normalize)
