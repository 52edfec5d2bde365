"""The improvement evaluators of ``pipetune.terminator`` (Optuna's module path)."""

from __future__ import annotations

from pipetune.terminator.improvement.emmr import EMMREvaluator
from pipetune.terminator.improvement.evaluator import (
    BaseImprovementEvaluator,
    BestValueStagnationEvaluator,
    RegretBoundEvaluator,
)

__all__ = ["BaseImprovementEvaluator", "BestValueStagnationEvaluator", "EMMREvaluator",
           "RegretBoundEvaluator"]
