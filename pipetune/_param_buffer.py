"""Buffered param writes: a trial's suggestions reach storage in one write instead of one each.

An objective suggests its params in a burst, then trains. Storing each suggestion as it is made
costs one storage round trip per param: on PostgreSQL six params were 45% of a trivial trial's
time (benchmarks/storage.py). Suggestions are instead kept per trial and written together at
the first of:

- anything else the trial stores (an intermediate value, an attribute, its result), so storage
  never holds a trial's later records without the params that led to them;
- a claim in this process (``flush_all``), so samplers in other threads see the params of
  running trials (the constant liar);
- ``FLUSH_DELAY`` seconds after the first unwritten suggestion, by one background thread per
  process, so other processes and dashboards see a training trial's params.

A process that dies within that delay loses those suggestions; its trial fails by heartbeat
either way. A study that retries failed trials (``retry_failed``) needs the params of a trial
whose process died, to enqueue them again: its trials write each suggestion as it is made.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Protocol

from pipetune.distributions import Distribution
from pipetune.errors import StorageUnavailableError

if TYPE_CHECKING:
    from pipetune.storage.base import BaseStorage

logger = logging.getLogger(__name__)

FLUSH_DELAY = 0.05  # seconds


class ParamBuffer:
    """The unwritten suggestions of one trial."""

    def __init__(self, storage: BaseStorage, trial_id: int, *, write_through: bool) -> None:
        self._storage = storage
        self._trial_id = trial_id
        self._write_through = write_through
        self._lock = threading.Lock()
        self._params: dict[str, tuple[float, Distribution]] = {}

    def add(self, name: str, internal_value: float, distribution: Distribution) -> None:
        if self._write_through:
            self._storage.set_trial_params(self._trial_id, {name: (internal_value, distribution)})
            return
        with self._lock:
            self._params[name] = (internal_value, distribution)
            first = len(self._params) == 1
        if first:
            _flusher.schedule(self)

    def flush(self) -> None:
        """Writes what is buffered; on failure it stays buffered and the error propagates."""
        with self._lock:
            if not self._params:
                return
            self._storage.set_trial_params(self._trial_id, self._params)
            self._params = {}
        _flusher.discard(self)


class _Buffer(Protocol):
    """What the background writer flushes: a trial's params, or its metric points
    (``pipetune._recorder``)."""

    def flush(self) -> None: ...


class _Flusher:
    """The process's background writer of buffers older than ``FLUSH_DELAY``."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._due: dict[_Buffer, float] = {}
        self._thread: threading.Thread | None = None

    def schedule(self, buffer: _Buffer) -> None:
        with self._condition:
            self._due.setdefault(buffer, time.monotonic() + FLUSH_DELAY)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, daemon=True,
                                                name="pipetune-param-writer")
                self._thread.start()
            self._condition.notify()

    def discard(self, buffer: _Buffer) -> None:
        with self._condition:
            self._due.pop(buffer, None)

    def flush_all(self) -> None:
        with self._condition:
            buffers = list(self._due)
        for buffer in buffers:
            # Other trials' writes only show their params to a sampler here: a failure must
            # not fail the trial that asked. What failed stays buffered and scheduled (the
            # background writer tries again); its own trial's next write raises it.
            try:
                buffer.flush()
            except Exception as error:  # noqa: BLE001 - the trial's own thread sees it too
                logger.debug("Leaving the params of another trial unwritten for now: %s",
                             error)

    def _run(self) -> None:
        while True:
            with self._condition:
                now = time.monotonic()
                ready = [buffer for buffer, due in self._due.items() if due <= now]
                if not ready:
                    wait = min(self._due.values(), default=now + 3600) - now
                    self._condition.wait(wait)
                    continue
            for buffer in ready:
                try:
                    buffer.flush()
                except StorageUnavailableError as error:  # e.g. a restart: try again later
                    logger.warning("Storing suggested params failed, will retry: %s", error)
                    with self._condition:
                        self._due[buffer] = time.monotonic() + FLUSH_DELAY
                except Exception as error:  # noqa: BLE001 - the trial's own thread sees it too
                    # The trial was finished meanwhile (a heartbeat check failed it): its own
                    # thread gets the same error at its next write.
                    logger.debug("Dropping the background write of params: %s", error)
                    self.discard(buffer)


_flusher = _Flusher()
flush_all = _flusher.flush_all
schedule_flush = _flusher.schedule  # for other per-trial buffers (metric points)
cancel_flush = _flusher.discard
