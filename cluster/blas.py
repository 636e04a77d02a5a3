"""One BLAS thread per compute thread.

The node's compute pool already runs one map per core; if each map's numpy matmul also starts OpenBLAS's
own thread team, 2 pool threads x 2 BLAS threads fight over 2 cores (measured: mini-batch Deep Learning
35,700 samples/s with BLAS threading, 82,100 without, on this project's 2-core machine). OpenBLAS (>= 0.3.27,
the one numpy's wheels ship) has a per-thread setting, so only the pool's threads change: numpy calls made
by the user's own threads keep their BLAS threads.
"""
from __future__ import annotations

import ctypes
import logging

__all__ = ["single_threaded_blas"]

log = logging.getLogger(__name__)
_SETTERS: list | None = None


def _local_setters() -> list:
    """``openblas_set_num_threads_local`` of every OpenBLAS loaded in this process (found in /proc/self/maps)."""
    global _SETTERS
    if _SETTERS is None:
        found = []
        try:
            with open("/proc/self/maps") as fh:
                paths = {line.split()[-1] for line in fh if "blas" in line.lower() and ".so" in line}
        except OSError:
            paths = set()
        for path in sorted(paths):
            try:
                fn = ctypes.CDLL(path).openblas_set_num_threads_local
            except (OSError, AttributeError):
                continue
            fn.argtypes, fn.restype = [ctypes.c_int], ctypes.c_int
            found.append(fn)
        if not found:
            log.debug("no OpenBLAS with a per-thread setting loaded: BLAS threads left as they are")
        _SETTERS = found
    return _SETTERS


def single_threaded_blas() -> None:
    """Make BLAS calls from the calling thread single-threaded (a compute pool's thread initializer).

    >>> single_threaded_blas()       # no-op where no OpenBLAS is loaded
    """
    import numpy  # noqa: F401  (loads numpy's OpenBLAS, so it is found)
    for fn in _local_setters():
        fn(1)
