"""The one table from pipetune's error types to HTTP statuses, used by every server route.

A response for an error is ``{"error": <type name>, "message": <the error's text>}``, so the
remote storage raises the same type with the same message on the client side.
"""

from __future__ import annotations

import pipetune.errors as errors

__all__ = ["ERROR_STATUS", "status_of"]

# Checked in order: the first class the error is an instance of gives the status.
ERROR_STATUS: tuple[tuple[type[BaseException], int], ...] = (
    (errors.StudyNotFoundError, 404),
    (errors.TrialNotFoundError, 404),
    (errors.ArtifactNotFoundError, 404),
    (errors.DuplicateStudyError, 409),
    (errors.UpdateFinishedTrialError, 409),
    (errors.InvalidArgumentError, 400),
    (errors.ParamConflictError, 400),
    (errors.InvalidDistributionError, 400),
    (errors.StorageURLError, 400),
    (errors.StorageUnavailableError, 503),
    (errors.StorageError, 500),
    (NotImplementedError, 501),
    (errors.PipetuneError, 400),
    (OverflowError, 400),  # a number in the request too large for a float or a database column
)

# Authentication failures (not pipetune errors: they never reach the storage).
UNAUTHENTICATED = 401  # no token, or an unknown one
FORBIDDEN = 403  # a read-only token asked to write


def status_of(error: BaseException) -> int:
    """The HTTP status for ``error`` (500 for anything not in the table)."""
    for cls, status in ERROR_STATUS:
        if isinstance(error, cls):
            return status
    return 500
