"""The records of experiment tracking: metric points, stored artifacts, experiments."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import NamedTuple

__all__ = ["ArtifactInfo", "ExperimentSummary", "MetricPoint"]


class MetricPoint(NamedTuple):
    """One value of a named metric series of a trial, at a step (an epoch, a batch count).

    ``timestamp`` is seconds since the epoch (``time.time()``) when it was logged; ``value``
    may be NaN or infinite. A named tuple rather than a frozen dataclass: training loops log
    points by the hundred thousand, and a tuple is built several times faster.
    """

    name: str
    step: int
    value: float
    timestamp: float


@dataclass(frozen=True)
class ArtifactInfo:
    """A file stored with a trial: its name (``/`` separates sub-folders), size in bytes and
    media type (``text/plain``, ``image/png``, ...)."""

    trial_id: int
    name: str
    size: int
    media_type: str
    created_at: dt.datetime


@dataclass(frozen=True)
class ExperimentSummary:
    """One line of ``list_experiments``: a named group of studies and standalone runs."""

    name: str
    n_studies: int
    n_runs: int
    study_names: tuple[str, ...]
