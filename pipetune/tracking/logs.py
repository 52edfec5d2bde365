"""The log of a launched trial as stored with it: the ``output.log`` artifact.

A trial run by ``pipetune tune`` (a ``ScriptObjective``) keeps the output of its script as the
artifact ``LOG_ARTIFACT`` when it ends; the dashboard and ``pipetune logs`` show it from
there, through the storage, never from a path an attribute names. A tail is read from the end
of the artifact (a bounded read), so a log of any size costs the lines asked for.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from pipetune.datatypes import FrozenTrial
from pipetune.errors import ArtifactNotFoundError

if TYPE_CHECKING:
    from pipetune.study import Study

__all__ = ["LOG_ARTIFACT", "LOG_TAIL_BYTES", "last_lines", "stored_log"]

LOG_ARTIFACT = "output.log"  # the artifact holding a launched trial's log
LOG_TAIL_BYTES = 4 << 20  # the most of a log's end read to show its last lines


def stored_log(study: Study, trial: FrozenTrial, tail: int | None = None) -> str:
    """The output of the script ``trial`` ran, as stored with it when it ended (the
    ``output.log`` artifact); with ``tail``, its last ``tail`` lines, read from at most the last
    ``LOG_TAIL_BYTES`` of it. This is what the dashboard serves."""
    try:
        data = study.read_artifact(trial, LOG_ARTIFACT,
                                   last_bytes=None if tail is None else LOG_TAIL_BYTES + 1)
    except ArtifactNotFoundError:
        raise ArtifactNotFoundError(
            f"Trial {trial.number} of study {study.study_name!r} has no stored log: only trials "
            "run by `pipetune tune` (or a ScriptObjective) keep one, stored when they end.") \
            from None
    return last_lines(data, tail)


def last_lines(data: bytes, tail: int | None) -> str:
    """The last ``tail`` lines (all with None) of a log's bytes. A tail is read as the last
    ``LOG_TAIL_BYTES + 1`` bytes: when that many came, the log is longer, and what comes
    before the first newline is the end of a line the read cut."""
    if tail is not None and len(data) > LOG_TAIL_BYTES:
        data = data[data.find(b"\n") + 1:]
    lines = io.BytesIO(data).readlines()
    return b"".join(lines if tail is None else lines[-tail:]).decode("utf-8", errors="replace")
