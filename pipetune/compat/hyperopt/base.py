"""Hyperopt's ``hyperopt.base`` names: ``Trials`` and the status and job-state constants."""

from __future__ import annotations

from pipetune.compat.hyperopt._trials import (
    JOB_STATE_CANCEL,
    JOB_STATE_DONE,
    JOB_STATE_ERROR,
    JOB_STATE_NEW,
    JOB_STATE_RUNNING,
    JOB_STATES,
    STATUS_FAIL,
    STATUS_NEW,
    STATUS_OK,
    STATUS_RUNNING,
    STATUS_STRINGS,
    STATUS_SUSPENDED,
)
from pipetune.compat.hyperopt.fmin import Trials

__all__ = ["JOB_STATES", "JOB_STATE_CANCEL", "JOB_STATE_DONE", "JOB_STATE_ERROR", "JOB_STATE_NEW",
           "JOB_STATE_RUNNING", "STATUS_FAIL", "STATUS_NEW", "STATUS_OK", "STATUS_RUNNING",
           "STATUS_STRINGS", "STATUS_SUSPENDED", "Trials"]
