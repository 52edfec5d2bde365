"""Reading a launched script's output while it runs: metric values and pruning decisions.

One ``AttemptOutput`` per attempt receives the merged stdout+stderr as it arrives (it is the
``Sink`` of ``process_group.run_process``): every byte goes to the trial's log file, every
line through the metric regexes of the launch spec, and every line the script appended to
its report file (``pipetune.report``) is read as it is written. Intermediate values go to
``trial.report`` and, unless told not to, the pruner, so a bad trial stops while it runs.
Lines end at ``\n``, ``\r\n`` or a lone ``\r`` (progress bars redraw a line with it).
"""

from __future__ import annotations

import collections
import json
import logging
import os
import re
from typing import TYPE_CHECKING, Any

from pipetune.launch.specs import LaunchSpec

if TYPE_CHECKING:
    from pipetune.trial import Trial

__all__ = ["AttemptOutput", "take"]

logger = logging.getLogger("pipetune")

_TAIL_LINES = 20
_READ_SIZE = 1 << 16
_MAX_LINE = 1 << 20  # a "line" without a newline is parsed once it is this long
_LINE_BREAK = re.compile(rb"\r\n|\r|\n")  # \r too: progress bars redraw a line with it


class AttemptOutput:
    """What one run of the command produced: log lines, metric values, pruning decisions."""

    def __init__(self, trial: Trial, launch: LaunchSpec, log_fd: int, report_path: str,
                 prune: bool) -> None:
        self.trial = trial
        self.launch = launch
        self.log_fd = log_fd
        self.prune = prune
        self.pruned = False
        self.tail: collections.deque[str] = collections.deque(maxlen=_TAIL_LINES)
        self.values: dict[str, list[float]] = {m.name: [] for m in launch.objectives}
        self.steps = set(trial.intermediate_values)  # a retry does not re-report a step
        self._pending = b""
        self._report_path = report_path
        self._report_fd: int | None = None
        self._report_pending = b""

    # output lines
    def feed(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.log_fd, view):]
        parts = _LINE_BREAK.split(self._pending + data)
        self._pending = parts.pop()
        if len(self._pending) > _MAX_LINE:
            parts.append(self._pending)
            self._pending = b""
        for part in parts:
            self._line(part.decode("utf-8", "replace"))

    def end_output(self) -> None:
        if self._pending:
            self._line(self._pending.decode("utf-8", "replace"))
            self._pending = b""

    def _line(self, line: str) -> None:
        self.tail.append(line)
        for metric in self.launch.objectives:
            if metric.regex is not None:
                value = metric.find(line)
                if value is not None:
                    self.values[metric.name].append(value)
        intermediate = self.launch.intermediate
        if intermediate is not None and intermediate.regex is not None:
            found = intermediate.find(line)
            if found is not None:
                self._intermediate(*found)

    # pipetune.report lines
    def read_reports(self) -> None:
        if self._report_fd is None:
            try:
                self._report_fd = os.open(self._report_path, os.O_RDONLY)
            except FileNotFoundError:
                return
        chunks = []
        while chunk := os.read(self._report_fd, _READ_SIZE):
            chunks.append(chunk)
        if not chunks:
            return
        lines = (self._report_pending + b"".join(chunks)).split(b"\n")
        self._report_pending = lines.pop()
        for raw in lines:
            try:
                record = json.loads(raw)
                step, metrics = record.get("step"), record["metrics"]
            except (ValueError, KeyError, TypeError, AttributeError):
                logger.warning("Trial %d: skipped a malformed line of %s: %r", self.trial.number,
                               self._report_path, raw[:200])
                continue
            self._report(step, metrics)

    def _report(self, step: Any, metrics: dict) -> None:
        for metric in self.launch.objectives:
            if metric.regex is None and isinstance(metrics.get(metric.name), (int, float)):
                self.values[metric.name].append(float(metrics[metric.name]))
        intermediate = self.launch.intermediate
        if intermediate is not None and intermediate.regex is None and isinstance(step, int) \
                and isinstance(metrics.get(intermediate.name), (int, float)):
            self._intermediate(step, float(metrics[intermediate.name]))

    def close(self) -> None:
        if self._report_fd is not None:
            os.close(self._report_fd)
            self._report_fd = None

    def _intermediate(self, step: int, value: float) -> None:
        if self.pruned or step in self.steps:
            return
        self.steps.add(step)
        self.trial.report(value, step)
        if self.prune and self.trial.should_prune():
            self.pruned = True

    def has_every_value(self) -> bool:
        """Whether every objective metric was read at least once."""
        return all(self.values.values())

    def log_tail(self, log_path: str) -> str:
        if not self.tail:
            return f"The command printed nothing (log: {log_path})."
        return f"Last {len(self.tail)} lines of {log_path}:\n" + "\n".join(self.tail)


def take(values: list[float], how: str) -> float:
    """The value a metric read several times takes: the ``last``, or the ``min`` / ``max``
    of those that are numbers."""
    if how == "last":
        return values[-1]
    numbers = [v for v in values if v == v] or values  # NaN never wins a min or max
    return min(numbers) if how == "min" else max(numbers)
