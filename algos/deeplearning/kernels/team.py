"""Kernel teams: threads that train each sample together, each owning a slice of every layer's neurons.

The barrier is a spinning one on two int64 slots (arrivals, generation) with LLVM atomics; waiting threads give
their core away after a while (a node may run more threads than cores).
"""
from __future__ import annotations

from frame.llvm_intrinsics import atomic_add, atomic_load, sched_yield
from numba import njit

from .jit import JIT

@njit(**JIT)
def team_barrier(bar, nteam, gen):
    """Wait until all ``nteam`` threads arrive; returns the next generation. ``bar[0]`` counts arrivals,
    ``bar[8]`` is the generation (another cache line); ``gen`` is the caller's view of it."""
    if nteam == 1:
        return gen
    if atomic_add(bar, 0, -1) == 1:            # last to arrive: re-arm, then release the others
        atomic_add(bar, 0, nteam)
        atomic_add(bar, 8, 1)
    else:
        spins = 0
        while atomic_load(bar, 8) == gen:
            spins += 1
            if spins > 2000:
                sched_yield()
    return gen + 1


@njit(**JIT)
def share(n, tid, nteam):
    """Thread ``tid``'s slice [lo, hi) of ``n`` units."""
    return n * tid // nteam, n * (tid + 1) // nteam



class KernelTeam:
    """Threads that train each sample together (``train_rows(..., team=team)``): every layer's neurons are
    split between them, so the run is the one-thread run (up to float summation order), not Hogwild!'s
    race (measured 1.4-1.7x one thread on 2 cores, docs/benchmarks.md).

    The caller's thread is member 0; ``size - 1`` helper threads (started on first use) wait in a pool.
    Members spin (then yield) at the per-layer barriers, so a team should not be larger than the free
    cores. One team serves one training run at a time: ``train_rows`` calls on it must not overlap.

    >>> with KernelTeam(2) as team:
    ...     team.size
    2
    """

    def __init__(self, size: int):
        from concurrent.futures import ThreadPoolExecutor

        from cluster.blas import single_threaded_blas
        if size < 1:
            raise ValueError(f"team size must be >= 1, got {size}")
        self.size = int(size)
        # helpers run numpy BLAS in mini-batch replicas: one BLAS thread each, as on the compute pool
        self.pool = ThreadPoolExecutor(max_workers=max(1, self.size - 1), thread_name_prefix="aquifer-team",
                                       initializer=single_threaded_blas)

    def close(self) -> None:
        self.pool.shutdown(wait=True)

    def __enter__(self) -> "KernelTeam":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
