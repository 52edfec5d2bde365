"""Stopping a whole study once more trials are not worth running, under Optuna's names:
``Terminator`` weighs how much the study may still improve (``RegretBoundEvaluator``, a
Gaussian-process bound after Makarova et al. 2022; ``EMMREvaluator``, the change in expected
minimum simple regret after Ishibashi et al. 2023; or ``BestValueStagnationEvaluator``)
against how precisely the objective is known (``CrossValidationErrorEvaluator`` with
``report_cross_validation_scores``, ``StaticErrorEvaluator``, ``MedianErrorEvaluator``), and
``TerminatorCallback`` stops ``optimize`` when it says so.
"""

from __future__ import annotations

from pipetune.terminator.erroreval import (
    BaseErrorEvaluator,
    CrossValidationErrorEvaluator,
    MedianErrorEvaluator,
    StaticErrorEvaluator,
    report_cross_validation_scores,
)
from pipetune.terminator.improvement.emmr import EMMREvaluator
from pipetune.terminator.improvement.evaluator import (
    BaseImprovementEvaluator,
    BestValueStagnationEvaluator,
    RegretBoundEvaluator,
)
from pipetune.terminator.terminator import BaseTerminator, Terminator, TerminatorCallback

__all__ = ["BaseErrorEvaluator", "BaseImprovementEvaluator", "BaseTerminator",
           "BestValueStagnationEvaluator", "CrossValidationErrorEvaluator", "EMMREvaluator",
           "MedianErrorEvaluator", "RegretBoundEvaluator", "StaticErrorEvaluator", "Terminator",
           "TerminatorCallback", "report_cross_validation_scores"]
