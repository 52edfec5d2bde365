"""Paired comparison with the best trial: stop a trial that is significantly worse on the
same problem instances (folds, questions, datasets)."""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING

import numpy as np

from pipetune.datatypes import FrozenTrial
from pipetune.pruners._rungs import (
    check_int,
    check_real,
    loss_signs,
    single_objective_only,
    to_losses,
)
from pipetune.pruners.base import BasePruner

if TYPE_CHECKING:
    from pipetune.view import StudyView


def _losses(trial: FrozenTrial, sign: float) -> dict[int, float]:
    return {step: (to_losses(value, (sign,)) or (math.nan,))[0]
            for step, value in trial.intermediate_values.items()}


class WilcoxonPruner(BasePruner):
    """Prunes a trial when the Wilcoxon signed-rank test (Wilcoxon 1945, "Individual
    comparisons by ranking methods") says, at level ``p_threshold``, that it is worse than
    the study's best trial, paired step by step.

    For objectives that are a mean over instances (cross-validation folds, benchmark
    problems, questions to a language model): report each instance's score with the
    instance's id as the step (in any order; shuffling the order per trial is best), and the
    trial is compared with the best COMPLETE trial on the instances both have reported. The
    one-sided test asks whether the differences lean towards this trial being worse; a tie
    counts half each way (Pratt-style splitting of zeros). A trial whose mean so far is no
    worse than the best trial's mean over all its instances is kept whatever the test says.

    Nothing is pruned with fewer than ``max(2, n_startup_steps)`` paired instances. Values
    that are NaN or infinite in this trial or the best one turn pruning off for this trial,
    with a warning (a signed-rank test cannot rank them). One objective only.
    """

    def __init__(self, *, p_threshold: float = 0.1, n_startup_steps: int = 2) -> None:
        self._p_threshold = check_real("WilcoxonPruner", "p_threshold", p_threshold, 0.0, 1.0)
        self._n_startup_steps = check_int("WilcoxonPruner", "n_startup_steps",
                                          n_startup_steps, 0)

    def __repr__(self) -> str:
        return (f"WilcoxonPruner(p_threshold={self._p_threshold}, "
                f"n_startup_steps={self._n_startup_steps})")

    def prune(self, view: StudyView, trial: FrozenTrial) -> bool:
        single_objective_only("WilcoxonPruner", view)
        if not trial.intermediate_values or trial.state.is_finished():
            return False
        sign = loss_signs(view.directions)[0]
        mine = _losses(trial, sign)
        if not all(math.isfinite(v) for v in mine.values()):
            warnings.warn(f"Trial {trial.number} reported a NaN or infinite value: "
                          "WilcoxonPruner does not prune it.", stacklevel=4)
            return False
        best = view.best_trial
        if best is None:
            return False
        theirs = _losses(best, sign)
        if not theirs:
            warnings.warn(
                f"The best trial ({best.number}) reported no intermediate values, so "
                "WilcoxonPruner has nothing to compare with: report one value per instance "
                "in every trial (and give trials added by hand their intermediate_values).",
                stacklevel=4)
            return False
        if not all(math.isfinite(v) for v in theirs.values()):
            warnings.warn(f"The best trial ({best.number}) reported a NaN or infinite value: "
                          f"WilcoxonPruner does not prune trial {trial.number}.", stacklevel=4)
            return False
        paired = sorted(set(mine) & set(theirs))
        if len(paired) < len(mine):
            warnings.warn(
                f"Trial {trial.number} reported steps the best trial ({best.number}) did not; "
                "WilcoxonPruner compares the steps both reported only.", stacklevel=4)
        if len(paired) < max(2, self._n_startup_steps):
            return False
        if np.mean(list(mine.values())) <= np.mean(list(theirs.values())):
            return False  # as good as the best on average so far: keep it
        from scipy.stats import wilcoxon  # imported here: scipy.stats takes ~1 s to import

        differences = [mine[step] - theirs[step] for step in paired]
        p_value = wilcoxon(differences, alternative="greater", zero_method="zsplit").pvalue
        return bool(p_value < self._p_threshold)
