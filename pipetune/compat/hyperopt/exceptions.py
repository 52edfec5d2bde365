"""Hyperopt's exception names, each one of pipetune's errors, so ``except`` clauses written for
Hyperopt catch what pipetune raises in the same situation."""

from __future__ import annotations

from pipetune.compat.hyperopt._space import DuplicateLabelError, InvalidAnnotatedParameterError
from pipetune.compat.hyperopt._trials import AllTrialsFailedError
from pipetune.compat.hyperopt.fmin import InvalidLossError, InvalidResultStatusError
from pipetune.errors import InvalidArgumentError, InvalidDistributionError


class InvalidTrialError(InvalidArgumentError):
    """A trial record handed to ``Trials`` is not one ``Trials`` can hold."""


AllTrialsFailed = AllTrialsFailedError
BadSearchSpace = InvalidDistributionError
DuplicateLabel = DuplicateLabelError
InvalidAnnotatedParameter = InvalidAnnotatedParameterError
InvalidLoss = InvalidLossError
InvalidResultStatus = InvalidResultStatusError
InvalidTrial = InvalidTrialError

__all__ = ["AllTrialsFailed", "BadSearchSpace", "DuplicateLabel", "InvalidAnnotatedParameter",
           "InvalidLoss", "InvalidResultStatus", "InvalidTrial", "InvalidTrialError"]
