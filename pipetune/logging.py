"""What pipetune says while it works: the ``pipetune`` logger, and how loud it is.

By default pipetune prints INFO and above to stderr through a handler of its own: a line per
finished trial ("Trial 3 finished with value 0.25 and params {...}. Best is trial 1 with value
0.1."), why a run stopped, and warnings such as a failed trial with its reason. Its records do
not also go up to the root logger, so an application's own logging set-up never prints them
twice.

- ``set_verbosity(WARNING)`` keeps only warnings and errors (``get_verbosity()`` reads it);
- ``disable_default_handler()`` hands the records to the application's logging configuration
  instead: they then propagate to the root logger like any library's
  (``enable_default_handler()`` undoes it);
- ``enable_propagation()`` / ``disable_propagation()`` switch only whether the records also
  reach the root logger, as Optuna's functions of those names do.

The handler writes each record whole with ``tqdm.write``, which lifts a progress bar
(``optimize(show_progress_bar=True)``) out of the way and redraws it below, so a message never
overwrites the bar nor is cut by it. It looks ``sys.stderr`` up at each record, so a redirected
(or captured) stderr receives it.

This module is ``pipetune.logging``; the standard library's ``logging`` is unaffected (it is
not in ``from pipetune import *``).
"""

from __future__ import annotations

import logging as _logging
import sys
import threading

from pipetune.errors import InvalidArgumentError

CRITICAL = _logging.CRITICAL
FATAL = _logging.FATAL
ERROR = _logging.ERROR
WARNING = _logging.WARNING
WARN = _logging.WARN
INFO = _logging.INFO
DEBUG = _logging.DEBUG

LOGGER_NAME = "pipetune"
_FORMAT = "[%(asctime)s] %(levelname)s %(message)s"
_DATE_FORMAT = "%Y-%m-%d %H:%M:%S"

_logger = _logging.getLogger(LOGGER_NAME)
_lock = threading.Lock()
_default_handler: _logging.Handler | None = None


class _BarSafeHandler(_logging.Handler):
    """Writes each record to the current stderr with ``tqdm.write`` (see the module docstring)."""

    def emit(self, record: _logging.LogRecord) -> None:
        try:
            message = self.format(record)
            from tqdm import tqdm  # imported at the first record: most processes log nothing

            tqdm.write(message, file=sys.stderr)
        except Exception:  # noqa: BLE001 - logging must never raise into the caller
            self.handleError(record)


def set_verbosity(level: int) -> None:
    """Sets the lowest level pipetune reports, e.g. ``set_verbosity(WARNING)`` to silence the
    per-trial lines; any level of the standard ``logging`` module works."""
    if isinstance(level, bool) or not isinstance(level, int):
        raise InvalidArgumentError(
            "set_verbosity takes a logging level such as pipetune.logging.WARNING. "
            f"Got {level!r}.")
    _logger.setLevel(level)


def get_verbosity() -> int:
    """The lowest level pipetune reports now (``INFO`` by default)."""
    return _logger.getEffectiveLevel()


def enable_default_handler() -> None:
    """Prints pipetune's records with its own handler (the default) and stops them from also
    reaching the root logger."""
    global _default_handler
    with _lock:
        if _default_handler is None:
            _default_handler = _BarSafeHandler()
            _default_handler.setFormatter(_logging.Formatter(_FORMAT, _DATE_FORMAT))
            _logger.addHandler(_default_handler)
        _logger.propagate = False


def disable_default_handler() -> None:
    """Removes pipetune's own handler: its records propagate to the root logger, to be handled
    by the application's logging configuration (``logging.basicConfig`` ...)."""
    global _default_handler
    with _lock:
        if _default_handler is not None:
            _logger.removeHandler(_default_handler)
            _default_handler = None
        _logger.propagate = True


def enable_propagation() -> None:
    """Lets pipetune's records also reach the root logger (and the handlers an application
    set up there) while pipetune's own handler keeps printing them: disable that handler too
    to avoid seeing each line twice."""
    _logger.propagate = True


def disable_propagation() -> None:
    """Keeps pipetune's records from reaching the root logger (the default while pipetune's own
    handler prints them)."""
    _logger.propagate = False


def get_logger(name: str) -> _logging.Logger:
    """The logger ``name`` of the standard ``logging`` module; under ``pipetune.`` (e.g.
    ``get_logger("pipetune.my_plugin")``) its records follow pipetune's verbosity, handler and
    propagation."""
    return _logging.getLogger(name)


if _logger.level == _logging.NOTSET:  # a level the application set first is kept
    _logger.setLevel(INFO)
enable_default_handler()

__all__ = ["CRITICAL", "DEBUG", "ERROR", "FATAL", "INFO", "LOGGER_NAME", "WARN", "WARNING",
           "disable_default_handler", "disable_propagation", "enable_default_handler",
           "enable_propagation", "get_logger", "get_verbosity", "set_verbosity"]
