"""One node's share of the DKV: its copies, cached reads, their versions, tombstones, and the memory quota.

The *store* holds the copies this node keeps (as a key's primary or as one of its other holders: a copy is a
copy); the *cache*, immutable values it read from elsewhere. Both count against the quota
(``NodeConfig.max_mem_size``): a store that would pass it drops cached values first and is then refused with
:class:`QuotaExceededError` (a cached value is only dropped, never refused).

Every stored copy has a *version*: a number from this node's clock (nanoseconds, and never below a version it
has seen, so a later write gets a larger one). Holders keep the copy with the largest version; the
re-replication compares versions to find stale copies. A delete leaves a *tombstone* (the delete's version) for
``tombstone_seconds``, so a copy older than the delete (on a member that missed it) is not copied back.
Safe from any thread (maps on the compute pool write chunks here).

>>> from types import SimpleNamespace as V
>>> shard = Shard("n1", quota=1 << 20)
>>> v1 = shard.put("a", V(nbytes=10)); shard.put_if_newer("a", V(nbytes=20), v1 - 1)
False
>>> shard.delete(["a"], (), shard.next_version()); shard.put_if_newer("a", V(nbytes=20), v1)
['a']
False
"""
from __future__ import annotations

import bisect
import threading
import time
from collections import OrderedDict, deque
from typing import Callable

from .errors import QuotaExceededError
from .placement import unhomed

_MAX_TOMBSTONES = 200_000
_MAX_PREFIX_TOMBSTONES = 10_000


def prefix_matcher(prefixes) -> Callable[[str], bool]:
    """Matches keys by their user-visible part or as they are, in O(log n) for n prefixes.

    A frame's delete or size names one prefix per column, and the node runs it against every key it holds (on
    its event loop) and each later put against every prefix delete it remembers: testing each prefix in turn
    took ~0.2 s for a 785-column frame's keys. Prefixes that extend another are dropped, so at most one of those
    left can start a key, and in sorted order it is the last one not after the key.

    >>> m = prefix_matcher(["b#", "a", "ab#"])
    >>> [m(k) for k in ("ab#0", "b#1", "@n1@b#2", "b", "c")]
    [True, True, True, False, False]
    """
    minimal: list[str] = []
    for p in sorted(set(prefixes)):
        if not minimal or not p.startswith(minimal[-1]):
            minimal.append(p)

    def starts(s: str) -> bool:
        i = bisect.bisect_right(minimal, s) - 1
        return i >= 0 and s.startswith(minimal[i])

    def match(key: str) -> bool:
        return starts(unhomed(key)) or starts(key)
    return match


class Shard:
    """The values one node holds (see the module docstring). Read ``store``/``cache``; change them through
    the methods."""

    def __init__(self, node_id: str, quota: int, tombstone_seconds: float = 600.0):
        self.node_id = node_id
        self.quota = quota
        self.tombstone_seconds = tombstone_seconds
        self.store: dict = {}
        self.cache: dict = {}
        self.versions: dict[str, int] = {}
        self._stored = 0
        self._cached = 0
        self._lock = threading.Lock()
        self._clock = 0
        self._tombs: OrderedDict[str, tuple[int, float]] = OrderedDict()
        self._prefix_tombs: deque = deque()          # (prefix_matcher of a delete, version, time)

    # ---------------------------------------------------------------- versions
    def next_version(self) -> int:
        with self._lock:
            return self._next_locked()

    def _next_locked(self) -> int:
        self._clock = max(time.time_ns(), self._clock + 1)
        return self._clock

    def seen(self, version: int) -> None:
        with self._lock:
            self._clock = max(self._clock, version)

    # ---------------------------------------------------------------- store
    def check_quota(self, what: str, size: int, replaced: int = 0) -> None:
        """Refuse a store of ``size`` bytes (replacing ``replaced``) that cached values cannot make room for."""
        if self._stored - replaced + size > self.quota:
            raise QuotaExceededError(
                f"node {self.node_id} cannot store {what} ({size:,} bytes): its DKV holds {self._stored:,} bytes "
                f"of its max_mem_size of {self.quota:,} (start the node with a larger --max-mem-size, or remove "
                f"frames and models it no longer needs)")

    def put(self, key: str, value, version: int | None = None) -> int:
        """Store a copy (a new version from this node's clock unless given); returns its version."""
        with self._lock:
            if version is None:
                version = self._next_locked()
            else:
                self._clock = max(self._clock, version)
            self._put_locked(key, value, version)
            return version

    def put_if_newer(self, key: str, value, version: int) -> bool:
        """Store a copy unless this node holds one as new or newer, or deleted the key later."""
        with self._lock:
            self._clock = max(self._clock, version)
            if self.versions.get(key, -1) >= version or self._deleted_locked(key, version):
                return False
            self._put_locked(key, value, version)
            return True

    def _put_locked(self, key: str, value, version: int) -> None:
        size = value.nbytes
        old = self.store.get(key)
        replaced = old.nbytes if old is not None else 0
        self.check_quota(repr(key), size, replaced)
        self._cache_pop_locked(key)
        self._make_room(size - replaced)
        self.store[key] = value
        self.versions[key] = version
        self._stored += size - replaced

    def pop(self, key: str):
        with self._lock:
            old = self.store.pop(key, None)
            self.versions.pop(key, None)
            if old is not None:
                self._stored -= old.nbytes
            return old

    def get(self, key: str):
        """This node's copy, else its cached value, else None."""
        value = self.store.get(key)
        return value if value is not None else self.cache.get(key)

    def values(self, keys: list[str]) -> list:
        """Values of ``keys`` held here (stored, else cached), None where neither."""
        values = list(map(self.store.get, keys))
        if None in values:
            cache = self.cache
            values = [v if v is not None else cache.get(k) for k, v in zip(keys, values)]
        return values

    def missing(self, keys: list[str]) -> list[str]:
        store, cache = self.store, self.cache
        return [k for k in keys if k not in store and k not in cache]

    # ---------------------------------------------------------------- cache
    def cache_put(self, key: str, value) -> None:
        """Cache an immutable value if it fits (older cached values make room; stored ones never do)."""
        size = value.nbytes
        with self._lock:
            if key in self.store:
                return
            self._cache_pop_locked(key)
            self._make_room(size)
            if self._stored + self._cached + size <= self.quota:
                self.cache[key] = value
                self._cached += size

    def cache_pop(self, key: str) -> None:
        with self._lock:
            self._cache_pop_locked(key)

    def drop_cache(self) -> None:
        with self._lock:
            self.cache.clear()
            self._cached = 0

    def _cache_pop_locked(self, key: str) -> None:
        old = self.cache.pop(key, None)
        if old is not None:
            self._cached -= old.nbytes

    def _make_room(self, need: int) -> None:
        """Drop the oldest cached values until ``need`` more bytes fit (caller holds the lock)."""
        while self.cache and self._stored + self._cached + need > self.quota:
            self._cached -= self.cache.pop(next(iter(self.cache))).nbytes

    # ---------------------------------------------------------------- deletes
    def delete(self, keys, prefixes=(), version: int = 0) -> list[str]:
        """Remove ``keys`` and every key matching ``prefixes`` (copies and cached values) and remember the delete
        (with ``version``) for ``tombstone_seconds``; returns the copies removed."""
        now = time.monotonic()
        gone = []
        match = prefix_matcher(prefixes) if prefixes else None      # built outside the lock, once
        with self._lock:
            if version:
                self._clock = max(self._clock, version)
                for k in keys:
                    self._tombs[k] = (version, now)
                    self._tombs.move_to_end(k)
                if match is not None:
                    self._prefix_tombs.append((match, version, now))
                self._prune(now)
            doomed = [k for k in keys if k in self.store or k in self.cache]
            if match is not None:
                doomed += [k for k in self.store if match(k)] + [k for k in self.cache if match(k)]
            for k in dict.fromkeys(doomed):
                old = self.store.pop(k, None)
                self.versions.pop(k, None)
                if old is not None:
                    self._stored -= old.nbytes
                    gone.append(k)
                self._cache_pop_locked(k)
        return gone

    def deleted_after(self, key: str, version: int) -> int:
        """The version of a delete of ``key`` at or after ``version`` that this node remembers, else 0."""
        with self._lock:
            return self._deleted_locked(key, version)

    def _deleted_locked(self, key: str, version: int) -> int:
        tomb = self._tombs.get(key)
        if tomb is not None and tomb[0] >= version:
            return tomb[0]
        for match, v, _ in self._prefix_tombs:
            if v >= version and match(key):
                return v
        return 0

    def _prune(self, now: float) -> None:
        limit = now - self.tombstone_seconds
        while self._tombs and (len(self._tombs) > _MAX_TOMBSTONES or next(iter(self._tombs.values()))[1] < limit):
            self._tombs.popitem(last=False)
        while self._prefix_tombs and (len(self._prefix_tombs) > _MAX_PREFIX_TOMBSTONES
                                      or self._prefix_tombs[0][2] < limit):
            self._prefix_tombs.popleft()

    def memory(self) -> dict:
        return {"stored_bytes": self._stored, "cached_bytes": self._cached, "max_mem_size": self.quota,
                "keys": len(self.store), "cached_keys": len(self.cache)}
