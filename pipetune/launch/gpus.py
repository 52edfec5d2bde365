"""GPUs for launched trials: which ids this process may use, and who holds which now.

``gpus_per_trial: N`` gives each running trial N ids of its own through
``CUDA_VISIBLE_DEVICES``; a trial that ends gives its ids back to the end of the queue, so
they rotate. One pool serves the whole process, whatever number of studies or threads.
"""

from __future__ import annotations

import collections
import os
import shutil
import subprocess
import threading
from collections.abc import Sequence

from pipetune.errors import InvalidArgumentError


def detect_gpus() -> tuple[str, ...]:
    """The GPU ids this process may hand out: its ``CUDA_VISIBLE_DEVICES`` when set, else one
    per line of ``nvidia-smi -L``, else none."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        ids = []
        for item in (part.strip() for part in visible.split(",")):
            if not item or item == "-1":  # CUDA stops at the first invalid id
                break
            ids.append(item)
        return tuple(ids)
    if shutil.which("nvidia-smi") is None:
        return ()
    try:
        listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20,
                                 check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return ()
    return tuple(str(i) for i, _ in enumerate(
        line for line in listing.splitlines() if line.startswith("GPU ")))


class GpuPool:
    """GPU ids shared by the trials of this process: each running trial holds its own, and
    ids come back to the end of the queue when a trial ends, so they rotate."""

    def __init__(self, ids: Sequence[str]) -> None:
        self.ids = tuple(ids)
        self._free = collections.deque(self.ids)
        self._changed = threading.Condition()

    def check(self, count: int) -> None:
        if count > 0 and not self.ids:
            raise InvalidArgumentError(
                f"gpus_per_trial: {count} but no GPU found; set it to 0. (GPUs are the ids in "
                "CUDA_VISIBLE_DEVICES when set, else those nvidia-smi -L lists.)")
        if count > len(self.ids):
            raise InvalidArgumentError(
                f"gpus_per_trial: {count} but only {len(self.ids)} GPU(s) found "
                f"({', '.join(self.ids)}); set it to at most {len(self.ids)}.")

    def acquire(self, count: int) -> tuple[str, ...]:
        """Takes ``count`` ids, waiting for running trials to give some back."""
        self.check(count)
        with self._changed:
            self._changed.wait_for(lambda: len(self._free) >= count)
            return tuple(self._free.popleft() for _ in range(count))

    def release(self, ids: Sequence[str]) -> None:
        with self._changed:
            self._free.extend(ids)
            self._changed.notify_all()


_pool: GpuPool | None = None
_pool_lock = threading.Lock()


def gpu_pool() -> GpuPool:
    """The process-wide pool, detected on first use."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = GpuPool(detect_gpus())
        return _pool


__all__ = ["GpuPool", "detect_gpus", "gpu_pool"]
