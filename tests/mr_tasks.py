"""MRTask classes used by the tests; every test node imports this module (via aquifer_test_plugin)."""
import os
import time

import numpy as np

from cluster import MRTask


class ColSum(MRTask):
    sums: np.ndarray = None
    n: int = 0

    def map(self, cs):
        self.sums = np.array([np.nansum(cs[i]) for i in range(len(cs))])
        self.n = cs.nrows

    def reduce(self, other):
        self.sums = other.sums if self.sums is None else (self.sums if other.sums is None else self.sums + other.sums)
        self.n += other.n


class MeanVar(MRTask):
    """Mean and variance of column 0 with Chan's parallel merge (NaN skipped)."""
    n: float = 0.0
    mean: float = 0.0
    m2: float = 0.0

    def map(self, cs):
        x = cs[0][~np.isnan(cs[0])]
        self.n = float(x.size)
        if x.size:
            self.mean = float(x.mean())
            self.m2 = float(((x - self.mean) ** 2).sum())

    def reduce(self, o):
        n = self.n + o.n
        if n == 0:
            return
        d = o.mean - self.mean
        self.mean += d * o.n / n
        self.m2 += o.m2 + d * d * self.n * o.n / n
        self.n = n


class Histogram(MRTask):
    lo: float = 0.0
    hi: float = 1.0
    bins: int = 10
    counts: np.ndarray = None

    def map(self, cs):
        x = cs[0][~np.isnan(cs[0])]
        self.counts = np.histogram(x, bins=self.bins, range=(self.lo, self.hi))[0].astype(np.int64)

    def reduce(self, o):
        self.counts = o.counts if self.counts is None else (self.counts if o.counts is None else self.counts + o.counts)


class CatCount(MRTask):
    nlevels: int = 0
    counts: np.ndarray = None
    nas: int = 0

    def map(self, cs):
        x = cs[0]
        na = np.isnan(x)
        self.nas = int(na.sum())
        self.counts = np.bincount(x[~na].astype(np.int64), minlength=self.nlevels)

    def reduce(self, o):
        self.counts = o.counts if self.counts is None else (self.counts if o.counts is None else self.counts + o.counts)
        self.nas += o.nas


class XTimes2PlusY(MRTask):
    homes: list = None          # [[cidx, node]] where each map ran

    def map(self, cs):
        cs.outputs[0][:] = cs[0] * 2 + cs[1]
        self.homes = [[cs.cidx, cs.home]]

    def reduce(self, o):
        self.homes = (self.homes or []) + (o.homes or [])


class FailOnNode(MRTask):
    victim: str = ""

    def map(self, cs):
        if cs.home == self.victim:
            raise ValueError(f"map failed on purpose at chunk {cs.cidx}")


class SlowMap(MRTask):
    """A CPU-bound map: Python work holding the GIL most of the time, for ``seconds`` per chunk."""
    seconds: float = 1.0
    chunks_done: int = 0
    pid_nodes: list = None

    def map(self, cs):
        end = time.monotonic() + self.seconds
        x = 0
        while time.monotonic() < end:
            for i in range(1000):
                x += i * i
        self.chunks_done = 1
        self.pid_nodes = [[cs.home, os.getpid()]]

    def reduce(self, o):
        self.chunks_done += o.chunks_done
        self.pid_nodes = (self.pid_nodes or []) + (o.pid_nodes or [])


class Empty(MRTask):
    def map(self, cs):
        pass


class OutputsThenFail(MRTask):
    """Writes its output column on every chunk; the chunk ``fail_at`` waits ``seconds`` (the others have written by
    then) and fails."""
    fail_at: int = 0
    seconds: float = 1.0

    def map(self, cs):
        cs.outputs[0][:] = cs[0] + 1
        if cs.cidx == self.fail_at:
            time.sleep(self.seconds)
            raise ValueError(f"map failed on purpose at chunk {cs.cidx}")


class SlowOutputs(MRTask):
    """Writes its output column after ``seconds`` of sleep per chunk (a predict a member dies in the middle of)."""
    seconds: float = 1.0

    def map(self, cs):
        time.sleep(self.seconds)
        cs.outputs[0][:] = cs[0] * 3
