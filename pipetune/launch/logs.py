"""A launched trial's log: kept with the trial when it ends, and read back for ``pipetune logs``.

While it runs, a trial's script writes to ``output.log`` in its folder on the machine running
it (the trial's system attr ``log_file``); when it ends, the file is stored with the trial as
the artifact ``output.log`` (``pipetune.tracking.logs``), which is what the dashboard and the
MLflow export show. ``read_log`` reads the stored log, else, for a trial still running, the
file on this machine.
"""

from __future__ import annotations

import logging
import os
import stat
from typing import TYPE_CHECKING

from pipetune._attrs import LOG_FILE_ATTR
from pipetune.datatypes import FrozenTrial
from pipetune.errors import ArtifactNotFoundError, InvalidArgumentError, PipetuneError
from pipetune.storage.artifacts import read_tail
from pipetune.tracking.logs import LOG_ARTIFACT, LOG_TAIL_BYTES, last_lines, stored_log

if TYPE_CHECKING:
    from pipetune.study import Study
    from pipetune.trial import Trial

__all__ = ["read_log", "store_log"]

logger = logging.getLogger("pipetune")


def store_log(trial: Trial, path: str) -> None:
    """Keeps the trial's log with its artifacts (``LOG_ARTIFACT``), where the dashboard and the
    MLflow export find it; the file stays in the log folder too."""
    try:
        trial.log_artifact(path, name=LOG_ARTIFACT)
    except (PipetuneError, OSError) as error:
        logger.warning("Trial %d: could not store its log as an artifact: %s", trial.number,
                       error)


def read_log(study: Study, trial: FrozenTrial, tail: int | None = None) -> str:
    """``pipetune logs``: the trial's stored log (``stored_log``), else, for a trial still
    running, its log file on this machine (a regular file only, the tail read with a seek)."""
    try:
        return stored_log(study, trial, tail)
    except ArtifactNotFoundError:
        pass
    path = trial.system_attrs.get(LOG_FILE_ATTR)
    if not isinstance(path, str) or not path:
        raise InvalidArgumentError(
            f"Trial {trial.number} of study {study.study_name!r} has no log file: only trials "
            "run by `pipetune tune` (or a ScriptObjective) keep one.")
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused just below.
        handle = open(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb")  # noqa: SIM115 - `with` below
    except FileNotFoundError:
        raise InvalidArgumentError(
            f"The log file of trial {trial.number} of study {study.study_name!r} is gone: "
            f"{path!r} no longer exists (moved or deleted).") from None
    except OSError as error:
        raise InvalidArgumentError(
            f"Cannot read the log file {path!r} of trial {trial.number}: {error.strerror}.") \
            from None
    with handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
            raise InvalidArgumentError(
                f"The log file {path!r} of trial {trial.number} is not a regular file: it is "
                "not read.")
        data = handle.read() if tail is None else read_tail(handle, LOG_TAIL_BYTES + 1)
    return last_lines(data, tail)
