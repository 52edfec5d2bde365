"""Optuna's exception names over pipetune's errors (``pipetune.errors``), so that code written
for Optuna (``except optuna.exceptions.DuplicatedStudyError``) catches what pipetune raises.

Each name is one of pipetune's classes, not a copy: ``except
pipetune.exceptions.DuplicatedStudyError`` and ``except pipetune.errors.DuplicateStudyError``
catch the same errors. ``OptunaError`` is ``PipetuneError``, the base of every error pipetune
raises on purpose; ``TrialPruned`` is not under it (it is control flow, not a failure).
``ExperimentalWarning`` exists for the warning filters that name it: pipetune marks nothing
experimental, so it never issues one.
"""

from __future__ import annotations

from pipetune.errors import (
    DuplicateStudyError,
    InvalidArgumentError,
    PipetuneError,
    StorageError,
    TrialPruned,
    UpdateFinishedTrialError,
)

OptunaError = PipetuneError
DuplicatedStudyError = DuplicateStudyError
StorageInternalError = StorageError
CLIUsageError = InvalidArgumentError  # what the command raises for arguments it cannot use


class ExperimentalWarning(Warning):
    """The category Optuna gives warnings about experimental features."""


__all__ = ["CLIUsageError", "DuplicatedStudyError", "ExperimentalWarning", "OptunaError",
           "StorageInternalError", "TrialPruned", "UpdateFinishedTrialError"]
