"""What a trial or a standalone run logs beside its params and values: named metric series
and artifacts (files, texts, figures).

Metric points are buffered per trial and written in batches (``BaseStorage.add_trial_metrics``):
a training loop may log thousands of points a second, and one storage round trip each would
cost more than the training step. A batch is written at the first of: ``MAX_BUFFERED`` points
waiting; the process's background writer, a moment after the first unwritten point (see
``pipetune._param_buffer``), so dashboards follow a training trial; the trial's result being
stored (``Study.tell``) or the run ending. Artifacts are written at once.
"""

from __future__ import annotations

import io
import numbers
import os
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipetune._numbers import real_number
from pipetune._param_buffer import cancel_flush, schedule_flush
from pipetune.datatypes import ArtifactInfo, MetricPoint
from pipetune.errors import InvalidArgumentError

if TYPE_CHECKING:
    from pipetune.storage.base import BaseStorage

__all__ = ["MAX_BUFFERED", "PLOTLY_MEDIA_TYPE", "Recorder"]

MAX_BUFFERED = 10_000  # points; written at once when reached
PLOTLY_MEDIA_TYPE = "application/vnd.plotly.v1+json"


def _metric_value(name: str, value: Any) -> float:
    number = real_number(value)
    if number is None:
        raise InvalidArgumentError(
            f"The value of metric {name!r} must be a number. Got {value!r} "
            f"({type(value).__name__}).")
    return number


def _metric_step(name: str, step: Any) -> int:
    if isinstance(step, bool) or not isinstance(step, numbers.Integral) or step < 0:
        raise InvalidArgumentError(
            f"The 'step' of metric {name!r} must be an int >= 0 or None. Got {step!r}.")
    return int(step)


class Recorder:
    """The metric buffer and artifact writer of one trial; safe to use from several threads."""

    def __init__(self, storage: BaseStorage, trial_id: int) -> None:
        self._storage = storage
        self._trial_id = trial_id
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._points: list[MetricPoint] = []
        self._next_step: dict[str, int] = {}

    # -- metrics -------------------------------------------------------------------------------

    def log_metric(self, name: str, value: Any, step: int | None = None) -> None:
        """Appends a point to the series ``name``; without ``step`` it takes the step after the
        last one this handle logged for that name (0 for the first)."""
        # The exact-type checks are the fast path of a hot loop; the helpers handle the rest.
        if type(name) is not str or not name:
            raise InvalidArgumentError(f"A metric name must be a non-empty string. Got {name!r}.")
        if type(value) is not float:
            value = _metric_value(name, value)
        if step is not None and (type(step) is not int or step < 0):
            step = _metric_step(name, step)
        now = time.time()
        with self._lock:
            next_step = self._next_step.get(name, 0)
            if step is None:
                step = next_step
            if step >= next_step:
                self._next_step[name] = step + 1
            self._points.append(MetricPoint(name, step, value, now))
            size = len(self._points)
        if size == 1:
            schedule_flush(self)
        elif size >= MAX_BUFFERED:
            self.flush()

    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        """Logs several metrics at one step (each at its own next step when ``step`` is None)."""
        if not isinstance(metrics, Mapping):
            raise InvalidArgumentError(
                f"log_metrics takes a dict of metric name -> number. Got {metrics!r}.")
        for name, value in metrics.items():
            self.log_metric(name, value, step)

    def flush(self) -> None:
        """Writes the buffered points; on failure they stay buffered and the error propagates.

        The buffer is swapped out under the short lock and written outside it, so logging
        never waits for the storage; ``_flush_lock`` keeps batches in logging order."""
        with self._flush_lock:
            cancel_flush(self)  # points logged from here on schedule a flush of their own
            with self._lock:
                points, self._points = self._points, []
            if not points:
                return
            try:
                self._storage.add_trial_metrics(self._trial_id, points)
            except BaseException:
                with self._lock:
                    self._points[:0] = points
                    pending = bool(self._points)
                if pending:
                    schedule_flush(self)
                raise

    # -- artifacts -----------------------------------------------------------------------------

    def log_artifact(self, path: str | os.PathLike[str], name: str | None = None) -> ArtifactInfo:
        """Stores a copy of the file at ``path`` as the artifact ``name`` (default: the file's
        name)."""
        if not isinstance(path, (str, os.PathLike)) or not os.path.isfile(path):
            raise InvalidArgumentError(
                f"log_artifact takes the path of an existing file. Got {path!r}"
                + (" (a directory: log its files one by one)." if isinstance(
                    path, (str, os.PathLike)) and os.path.isdir(path) else "."))
        return self._storage.put_artifact(self._trial_id, name or Path(path).name, path)

    def log_text(self, text: str, name: str) -> ArtifactInfo:
        """Stores a string (UTF-8) as the artifact ``name``."""
        if not isinstance(text, str):
            raise InvalidArgumentError(f"log_text takes a str. Got {type(text).__name__}.")
        media_type = None if Path(name).suffix else "text/plain"
        return self._storage.put_artifact(self._trial_id, name, text.encode(), media_type)

    def log_figure(self, figure: Any, name: str) -> ArtifactInfo:
        """Stores a figure: a plotly figure as its JSON (``name`` gets ``.json`` when it has
        no extension), a matplotlib figure as PNG (or the format its extension names)."""
        if hasattr(figure, "to_plotly_json") and hasattr(figure, "to_json"):
            if not Path(name).suffix:
                name += ".json"
            return self._storage.put_artifact(self._trial_id, name, figure.to_json().encode(),
                                              PLOTLY_MEDIA_TYPE)
        if hasattr(figure, "savefig"):
            suffix = Path(name).suffix.lower().lstrip(".")
            if not suffix:
                name, suffix = name + ".png", "png"
            buffer = io.BytesIO()
            figure.savefig(buffer, format=suffix)
            return self._storage.put_artifact(self._trial_id, name, buffer.getvalue())
        raise InvalidArgumentError(
            f"log_figure takes a plotly or matplotlib figure. Got {type(figure).__name__}.")

