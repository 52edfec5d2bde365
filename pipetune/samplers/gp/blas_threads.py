"""One BLAS thread while the GP works.

The GP's linear algebra is many small products and factorizations (hundreds of rows), and
L-BFGS-B calls BLAS on vectors at every step. Multithreaded BLAS (OpenBLAS's default: one
thread per core) spends more on waking and joining its threads than on such work: on a 2-core
machine a GP trial at 300 trials took 720 ms with two BLAS threads and 140 ms with one
(``benchmarks/gp_speed.py`` with and without ``OMP_NUM_THREADS=1``). So the sampler limits
numpy's and scipy's BLAS to one thread while it fits and searches, through threadpoolctl when
it is installed (it comes with scikit-learn, and with the ``gp`` extra); without it nothing
changes.

The limit is process-wide: the first thread to enter sets it, for every thread inside the GP
meanwhile, and gives it back as it leaves; a thread entering while the limit is set runs under
it, and one still inside when it is given back runs as before (slower, never wrong). Only the
thread that set the limit can give it back: OpenBLAS ignores a raised thread count from another
thread (seen with threadpoolctl 3.8 and OpenBLAS 0.3.30 and 0.3.31, those of the scipy and
numpy wheels), so waiting for the last thread to leave is not an option. With 4 threads
suggesting at once this way was as fast as the owner waiting for the others to leave.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_lock = threading.Lock()
_limiter: Any = None  # the active limit, given back by the thread that set it
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
    global _limiter
    with _lock:
        controller = _blas_controller()
        owner = bool(controller) and _limiter is None
        if owner:
            _limiter = controller.limit(limits=1, user_api="blas")
    try:
        yield
    finally:
        if owner:
            with _lock:
                _limiter.restore_original_limits()
                _limiter = None
