"""One BLAS thread while the GP works.

The GP's linear algebra is many small products and factorizations (hundreds of rows), and
L-BFGS-B calls BLAS on vectors at every step. Multithreaded BLAS (OpenBLAS's default: one
thread per core) spends more on waking and joining its threads than on such work: on a 2-core
machine a GP trial at 300 trials took 720 ms with two BLAS threads and 140 ms with one
(``benchmarks/gp_speed.py`` with and without ``OMP_NUM_THREADS=1``). So the sampler limits
numpy's and scipy's BLAS to one thread while it fits and searches, through threadpoolctl when
it is installed (it comes with scikit-learn, and with the ``gp`` extra); without it nothing
changes.

The limit is process-wide: the first thread to enter sets it for all threads inside the GP at
the same time, and gives it back when it leaves, after waiting (at most a second) for the
others to leave. It must be that thread: OpenBLAS ignores a raised thread count from a thread
other than the one that lowered it (seen with threadpoolctl 3.8 and OpenBLAS 0.3.30 and
0.3.31, those of the scipy and numpy wheels).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_OWNER_WAIT = 1.0  # seconds the thread that set the limit waits for the others to leave
_condition = threading.Condition()
_inside = 0  # threads inside one_blas_thread()
_limiter: Any = None  # the active limit
_controller: Any = None  # threadpoolctl's view of the loaded BLAS libraries; False: none


def _blas_controller() -> Any:
    global _controller
    if _controller is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            _controller = False
        else:
            _controller = ThreadpoolController()
    return _controller


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """Runs the block with BLAS limited to one thread (see the module docstring)."""
    global _inside, _limiter
    with _condition:
        controller = _blas_controller()
        owner = bool(controller) and _limiter is None
        if owner:
            _limiter = controller.limit(limits=1, user_api="blas")
        _inside += 1
    try:
        yield
    finally:
        with _condition:
            _inside -= 1
            _condition.notify_all()
            if owner:
                _condition.wait_for(lambda: _inside == 0, timeout=_OWNER_WAIT)
                _limiter.restore_original_limits()
                _limiter = None
