"""``pipetune.report``: how a launched script hands metrics to the launcher without printing.

The script objective (``pipetune.launch.objective``) gives each trial's process the path of a
report file in ``PIPETUNE_REPORT_FILE``; ``report`` appends one JSON line per call to it::

    {"step": 5, "metrics": {"val_rmse": 2.3}}

and the launcher tails the file while the script runs, so intermediate values reach the pruner
live. Outside a launched trial the variable is unset and ``report`` does nothing, so a script
runs the same by hand. The script never touches the storage.
"""

from __future__ import annotations

import json
import numbers
import os
from typing import Any

from pipetune._numbers import real_number
from pipetune.errors import InvalidArgumentError

REPORT_FILE_ENV = "PIPETUNE_REPORT_FILE"


def _number(name: str, value: Any) -> float:
    number = real_number(value)
    if number is None:
        raise InvalidArgumentError(
            f"pipetune.report takes numbers as metrics. Got {name}={value!r} "
            f"({type(value).__name__}).")
    return number


def report(step: int | None = None, **metrics: float) -> None:
    """Reports metrics of the running trial, e.g. ``report(val_rmse=2.3, step=5)``.

    With a ``step`` the values are intermediate (the launcher passes the one its study prunes
    on to ``trial.report``); the last value of the objective's metric is the trial's result
    unless the launcher is told to take the min or max. NaN and inf are passed on as they are.
    """
    if step is not None and (isinstance(step, bool) or not isinstance(step, numbers.Integral)
                             or step < 0):
        raise InvalidArgumentError(
            f"The 'step' argument of pipetune.report must be an int >= 0 or None. Got {step!r}.")
    if not metrics:
        raise InvalidArgumentError(
            "pipetune.report needs at least one metric, e.g. report(val_rmse=2.3, step=5).")
    values = {name: _number(name, value) for name, value in metrics.items()}
    path = os.environ.get(REPORT_FILE_ENV)
    if not path:
        return
    # JSON has no NaN / Infinity; Python's json reads its own spelling of them back.
    line = json.dumps({"step": None if step is None else int(step), "metrics": values},
                      allow_nan=True) + "\n"
    # One write() on an O_APPEND descriptor: the launcher never sees two reports interleaved.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


__all__ = ["REPORT_FILE_ENV", "report"]
