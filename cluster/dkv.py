"""The distributed key-value store (DKV).

Keys are strings. Each key has one *home* node holding the master copy, chosen by rendezvous hashing
over the locked member set (so adding replicas on the next r nodes of the ranking is a parameter, not a
rewrite). A key may also name its home explicitly as ``"@<node>@<rest>"``: frames use that to put chunk i
of every column on the same node and to spread chunks evenly.

Values are typed: a type name, a msgpack-safe ``meta`` map and raw buffers (bytes or numpy arrays, sent
out of band). Immutable values (the default: chunks, frame headers) may be cached by readers; a delete
invalidates every cache. The first write locks the cloud (H2O's rule). ``atomic`` runs a *registered*
update function on the home node, so a message can never name arbitrary code.

Every node serves the ``dkv.*`` ops and forwards what it does not home, so a client only ever talks to its
gateway. Within a node, calls to itself skip the network.

>>> v = Value("text", {"hello": "world"})          # a value with no buffers
>>> home_of("@10.0.0.2:54321@frame1/c0/k3", ("10.0.0.1:54321", "10.0.0.2:54321"))
'10.0.0.2:54321'
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable

import msgpack
import numpy as np

from .errors import NodeLostError, ProtocolError, QuotaExceededError
from .protocol import register_op

log = logging.getLogger("aquifer.dkv")


@dataclass(frozen=True)
class Value:
    """A typed value: ``type`` names what it holds, ``meta`` is msgpack-safe, ``buffers`` raw data."""

    type: str
    meta: dict = field(default_factory=dict)
    buffers: tuple = ()
    immutable: bool = True

    @cached_property
    def nbytes(self) -> int:
        """Bytes the value holds: its buffers plus its meta as packed (what the DKV quota counts)."""
        n = 0
        for b in self.buffers:
            n += b.nbytes if isinstance(b, (np.ndarray, memoryview)) else len(b)
        return n + 64 + _meta_bytes(self.meta)

    def to_wire(self) -> dict:
        return {"type": self.type, "meta": self.meta, "bufs": list(self.buffers), "immutable": self.immutable}

    @classmethod
    def from_wire(cls, d: Any) -> "Value":
        if not (isinstance(d, dict) and set(d) == {"type", "meta", "bufs", "immutable"}
                and isinstance(d["type"], str) and isinstance(d["meta"], dict) and isinstance(d["bufs"], list)
                and isinstance(d["immutable"], bool)
                and all(isinstance(b, (bytes, memoryview, np.ndarray)) for b in d["bufs"])):
            raise ProtocolError("malformed DKV value")
        # big bytes arrive out of band as views of the message's frames: made bytes once here, so that readers
        # (the chunk codecs) never copy them again at every decode
        bufs = tuple(b.tobytes() if isinstance(b, memoryview) else b for b in d["bufs"])
        return cls(d["type"], d["meta"], bufs, d["immutable"])


def _meta_bytes(meta: dict) -> int:
    """The packed size of a meta map (arrays in it counted by their bytes): a stranger's value cannot pass a
    large meta off as small."""
    arrays: list[int] = []

    def default(obj):
        if isinstance(obj, np.ndarray):
            arrays.append(obj.nbytes)
            return None
        if isinstance(obj, np.generic):
            return obj.item()
        if isinstance(obj, (tuple, set, frozenset)):
            return list(obj)
        raise TypeError(type(obj).__name__)

    try:
        return len(msgpack.packb(meta, default=default, use_bin_type=True)) + sum(arrays)
    except (TypeError, ValueError):          # a value only this process can hold: a rough estimate
        return len(meta) * 16


def _rank(key: str, node: str) -> int:
    return int.from_bytes(hashlib.blake2b(f"{key}\0{node}".encode(), digest_size=8).digest(), "big")


def home_of(key: str, members: tuple[str, ...] | list[str]) -> str:
    """The home node of ``key``: explicit (``@node@...``) or the top of the rendezvous ranking."""
    if key.startswith("@"):
        end = key.find("@", 1)
        if end > 1:
            return key[1:end]
    return max(members, key=lambda m: _rank(key, m))


def homed_key(node: str, rest: str) -> str:
    """A key whose home is ``node``."""
    return f"@{node}@{rest}"


# atomic update functions, by name: fn(old: Value | None, **args) -> Value | None (None deletes)
ATOMICS: dict[str, Callable[..., Value | None]] = {}


def register_atomic(name: str, fn: Callable[..., Value | None]) -> None:
    ATOMICS[name] = fn


register_op("dkv.put", {"key": str, "value": dict}, idempotent=True)
register_op("dkv.put_many", {"items": list}, idempotent=True)
register_op("dkv.get", {"key": str}, idempotent=True)
register_op("dkv.get_many", {"keys": list}, idempotent=True)
register_op("dkv.delete", {"keys": list}, idempotent=True)
register_op("dkv.delete_prefix", {"prefixes": list}, idempotent=True)
register_op("dkv.local_delete", {"keys": list, "?prefixes": list}, idempotent=True)
register_op("dkv.bytes", {"prefixes": list}, idempotent=True)
register_op("dkv.local_bytes", {"prefixes": list}, idempotent=True)
register_op("dkv.keys", {"prefix": str}, idempotent=True)
register_op("dkv.local_keys", {"prefix": str}, idempotent=True)
register_op("dkv.atomic", {"key": str, "fn": str, "args": dict}, idempotent=False)
register_op("dkv.home", {"key": str}, idempotent=True)


class DKV:
    """The DKV shard of one node plus the routing to the others (a node service: it owns the store and the cache).

    The store holds the values this node homes; the cache, immutable values it read from other homes. Both
    count against ``NodeConfig.max_mem_size``: a write that would pass it drops cached values first and is
    then refused with :class:`QuotaExceededError` (a cached value is only dropped, never refused).
    Other services write through :meth:`put_local` and :meth:`fetch_local`, never into the dicts.
    Methods run on the node's loop, except :meth:`put_local` and :meth:`local_value` (any thread).
    """

    def __init__(self, node):
        self.node = node
        self.store: dict[str, Value] = {}            # read-only outside this class
        self.cache: dict[str, Value] = {}
        self.quota = node.config.max_mem_size
        self._stored = 0                             # bytes in the store
        self._cached = 0                             # bytes in the cache
        self._account = threading.Lock()             # maps on the compute pool write too (put_local)
        node.key_count = lambda: len(self.store)
        for op, fn in (("dkv.put", self._h_put), ("dkv.put_many", self._h_put_many), ("dkv.get", self._h_get),
                       ("dkv.get_many", self._h_get_many), ("dkv.delete", self._h_delete),
                       ("dkv.delete_prefix", self._h_delete_prefix), ("dkv.local_delete", self._h_local_delete),
                       ("dkv.bytes", self._h_bytes), ("dkv.local_bytes", self._h_local_bytes),
                       ("dkv.keys", self._h_keys), ("dkv.local_keys", self._h_local_keys),
                       ("dkv.atomic", self._h_atomic), ("dkv.home", self._h_home)):
            node.register(op, fn)

    # ------------------------------------------------------------------ public, async (any node or client)
    @property
    def _entry(self) -> str:
        """Where requests start: this node, or the gateway for a client."""
        return self.node.gateway if self.node.config.client else self.node.id

    async def put(self, key: str, value: Value) -> None:
        await self.node.call(self._entry, "dkv.put", {"key": key, "value": value.to_wire()})

    async def put_many(self, items: list[tuple[str, Value]]) -> None:
        await self.node.call(self._entry, "dkv.put_many", {"items": [[k, v.to_wire()] for k, v in items]})

    async def get(self, key: str) -> Value | None:
        local = self._local(key)
        if local is not None:
            return local
        raw = await self.node.call(self._entry, "dkv.get", {"key": key})
        return None if raw is None else Value.from_wire(raw)

    async def get_many(self, keys: list[str]) -> list[Value | None]:
        raws = await self.node.call(self._entry, "dkv.get_many", {"keys": list(keys)})
        return [None if r is None else Value.from_wire(r) for r in raws]

    async def delete(self, keys: list[str]) -> int:
        return await self.node.call(self._entry, "dkv.delete", {"keys": list(keys)})

    async def delete_prefix(self, prefix: str | list[str]) -> int:
        """Delete every key starting with ``prefix`` (or any of a list of prefixes) on every node."""
        prefixes = [prefix] if isinstance(prefix, str) else list(prefix)
        return await self.node.call(self._entry, "dkv.delete_prefix", {"prefixes": prefixes})

    async def bytes_of(self, prefixes: list[str]) -> int:
        """Bytes held in the DKV under the given key prefixes, over all nodes."""
        return await self.node.call(self._entry, "dkv.bytes", {"prefixes": list(prefixes)})

    async def keys(self, prefix: str = "") -> list[dict]:
        return await self.node.call(self._entry, "dkv.keys", {"prefix": prefix})

    async def atomic(self, key: str, fn: str, args: dict | None = None) -> Value | None:
        """Run the registered update ``fn(old_value, **args)`` on the key's home, atomically."""
        raw = await self.node.call(self._entry, "dkv.atomic", {"key": key, "fn": fn, "args": args or {}})
        return None if raw is None else Value.from_wire(raw)

    def home(self, key: str) -> str:
        return home_of(key, self.node.members)

    def local_value(self, key: str) -> Value | None:
        """The value if this node homes or caches it (no network): MRTask maps read chunks this way."""
        return self._local(key)

    def local_values(self, keys: list[str]) -> list[Value | None]:
        """Values of ``keys`` held here (stored, else cached), None where neither: the chunk reads of maps, which
        name keys homed here or fetched here, so no home is looked up. Safe from any thread."""
        values = list(map(self.store.get, keys))
        if None in values:
            cache = self.cache
            values = [v if v is not None else cache.get(k) for k, v in zip(keys, values)]
        return values

    def missing_locally(self, keys: list[str]) -> list[str]:
        """The keys of ``keys`` this node neither stores nor caches."""
        store, cache = self.store, self.cache
        return [k for k in keys if k not in store and k not in cache]

    def put_local(self, key: str, value: Value) -> None:
        """Store a value this node homes (an MRTask map writing a chunk next to its input), under the quota.
        Safe from any thread."""
        self._store_put(key, value)

    async def fetch_local(self, keys: list[str]) -> dict[str, Value]:
        """Values of keys homed elsewhere, fetched in batches and cached where the quota allows (a layout that
        replicates data maps them here). Raises KeyError naming a key the cloud does not have."""
        out: dict[str, Value] = {}
        batch_size = self.node.config.mr_fetch_batch
        for i in range(0, len(keys), batch_size):
            batch = keys[i:i + batch_size]
            for key, value in zip(batch, await self.get_many(batch)):
                if value is None:
                    raise KeyError(f"chunk {key} is missing in the cloud")
                out[key] = value
                self._cache_put(key, value)
        return out

    def drop_cache(self) -> None:
        """Forget every cached value (they are fetched again from their homes when read)."""
        with self._account:
            self.cache.clear()
            self._cached = 0

    def memory(self) -> dict:
        """Bytes held (store + cache), the quota and the key counts (served by ``node.stats``)."""
        return {"stored_bytes": self._stored, "cached_bytes": self._cached, "max_mem_size": self.quota,
                "keys": len(self.store), "cached_keys": len(self.cache)}

    # ------------------------------------------------------------------ store and cache, with the quota
    def _check_quota(self, key: str, size: int, replaced: int = 0) -> None:
        """Refuse a store of ``size`` bytes (replacing ``replaced``) that cached values cannot make room for."""
        if self._stored - replaced + size > self.quota:
            raise QuotaExceededError(
                f"node {self.node.id} cannot store {key} ({size:,} bytes): its DKV holds {self._stored:,} bytes "
                f"of its max_mem_size of {self.quota:,} (start the node with a larger --max-mem-size, or remove "
                f"frames and models it no longer needs)")

    def _store_put(self, key: str, value: Value) -> None:
        size = value.nbytes
        with self._account:
            old = self.store.get(key)
            replaced = old.nbytes if old is not None else 0
            self._check_quota(repr(key), size, replaced)
            self._cache_pop_locked(key)
            self._make_room(size - replaced)
            self.store[key] = value
            self._stored += size - replaced

    def _store_pop(self, key: str) -> Value | None:
        with self._account:
            old = self.store.pop(key, None)
            if old is not None:
                self._stored -= old.nbytes
            return old

    def _cache_put(self, key: str, value: Value) -> None:
        """Cache an immutable value if it fits (older cached values make room; stored ones never do)."""
        size = value.nbytes
        with self._account:
            self._cache_pop_locked(key)
            self._make_room(size)
            if self._stored + self._cached + size <= self.quota:
                self.cache[key] = value
                self._cached += size

    def _cache_pop(self, key: str) -> None:
        with self._account:
            self._cache_pop_locked(key)

    def _cache_pop_locked(self, key: str) -> None:
        old = self.cache.pop(key, None)
        if old is not None:
            self._cached -= old.nbytes

    def _make_room(self, need: int) -> None:
        """Drop the oldest cached values until ``need`` more bytes fit (caller holds the lock)."""
        while self.cache and self._stored + self._cached + need > self.quota:
            self._cached -= self.cache.pop(next(iter(self.cache))).nbytes

    # ------------------------------------------------------------------ internals
    def _local(self, key: str) -> Value | None:
        if self.node.config.client:
            return self.cache.get(key)
        return self.store.get(key) if self.home(key) == self.node.id else self.cache.get(key)

    def _check_home(self, home: str) -> None:
        if self.node.is_dead(home):
            raise NodeLostError(home, "it homes the key asked for")
        if home not in self.node.members:
            raise LookupError(f"the key names home {home!r:.100} (its @node@ part), which is not a member of this "
                              f"cloud")

    async def _h_put(self, key, value):
        await self.node.lock("first data write")
        home = self.home(key)
        if home == self.node.id:
            self._store_put(key, Value.from_wire(value))
            return True
        self._check_home(home)
        self._cache_pop(key)
        return await self.node.call(home, "dkv.put", {"key": key, "value": value})

    async def _h_put_many(self, items):
        await self.node.lock("first data write")
        by_home: dict[str, list] = {}
        for item in items:
            if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], str)):
                raise ProtocolError("dkv.put_many items must be [key, value] pairs")
            by_home.setdefault(self.home(item[0]), []).append(item)
        mine = by_home.pop(self.node.id, [])
        values = [(key, Value.from_wire(value)) for key, value in mine]     # all checked before any is stored
        self._check_quota(f"{len(values)} values", sum(v.nbytes for _, v in values),
                          sum(self.store[k].nbytes for k, _ in values if k in self.store))
        for key, value in values:
            self._store_put(key, value)
        remote = []
        for home, group in by_home.items():
            self._check_home(home)
            for key, _ in group:
                self._cache_pop(key)
            remote.append(self.node.call(home, "dkv.put_many", {"items": group}))
        await asyncio.gather(*remote)
        return len(items)

    async def _h_get(self, key):
        home = self.home(key) if self.node.members else self.node.id
        if home == self.node.id:
            v = self.store.get(key)
            return None if v is None else v.to_wire()
        cached = self.cache.get(key)
        if cached is not None:
            return cached.to_wire()
        self._check_home(home)
        raw = await self.node.call(home, "dkv.get", {"key": key})
        if raw is not None and raw["immutable"]:
            self._cache_put(key, Value.from_wire(raw))
        return raw

    async def _h_get_many(self, keys):
        by_home: dict[str, list[str]] = {}
        for key in keys:
            if not isinstance(key, str):
                raise ProtocolError("dkv.get_many keys must be strings")
            by_home.setdefault(self.home(key), []).append(key)
        found: dict[str, Any] = {}
        calls = []
        for home, group in by_home.items():
            if home == self.node.id:
                for k in group:
                    v = self.store.get(k)
                    found[k] = None if v is None else v.to_wire()
            else:
                self._check_home(home)
                calls.append((group, self.node.call(home, "dkv.get_many", {"keys": group})))
        results = await asyncio.gather(*(c for _, c in calls))
        for (group, _), raws in zip(calls, results):
            found.update(zip(group, raws))
        return [found[k] for k in keys]

    async def _h_delete(self, keys):
        for k in keys:
            if not isinstance(k, str):
                raise ProtocolError("dkv.delete keys must be strings")
        counts = await self._broadcast("dkv.local_delete", {"keys": list(keys)})
        return sum(counts)

    async def _h_delete_prefix(self, prefixes):
        _check_prefixes(prefixes)
        counts = await self._broadcast("dkv.local_delete", {"keys": [], "prefixes": prefixes})
        return sum(counts)

    async def _h_local_delete(self, keys, prefixes=()):
        for k in keys:
            if not isinstance(k, str):
                raise ProtocolError("dkv.local_delete keys must be strings")
        _check_prefixes(prefixes)
        n = 0
        for k in keys:
            n += self._store_pop(k) is not None
            self._cache_pop(k)
        if prefixes:
            match = _prefix_matcher(prefixes)
            for k in [k for k in self.store if match(k)]:
                self._store_pop(k)
                n += 1
            for k in [k for k in self.cache if match(k)]:
                self._cache_pop(k)
        return n

    async def _h_bytes(self, prefixes):
        _check_prefixes(prefixes)
        return sum(await self._broadcast("dkv.local_bytes", {"prefixes": prefixes}))

    async def _h_local_bytes(self, prefixes):
        _check_prefixes(prefixes)
        match = _prefix_matcher(prefixes)
        return sum(v.nbytes for k, v in self.store.items() if match(k))

    async def _h_keys(self, prefix):
        rows = await self._broadcast("dkv.local_keys", {"prefix": prefix})
        out = [r for part in rows for r in part]
        return sorted(out, key=lambda r: r["key"])

    async def _h_local_keys(self, prefix):
        return [{"key": k, "type": v.type, "bytes": v.nbytes, "home": self.node.id}
                for k, v in self.store.items() if k.startswith(prefix) or _unhomed(k).startswith(prefix)]

    async def _h_atomic(self, key, fn, args):
        home = self.home(key)
        if home != self.node.id:
            self._check_home(home)
            return await self.node.call(home, "dkv.atomic", {"key": key, "fn": fn, "args": args})
        update = ATOMICS.get(fn)
        if update is None:
            raise LookupError(f"no atomic update function named {fn!r} is registered")
        await self.node.lock("first data write")
        # runs on the loop thread with no await in between: read-modify-write is atomic on the home
        try:
            new = update(self.store.get(key), **args)
        except TypeError as exc:             # arguments the function does not take: the caller's mistake
            raise ValueError(f"atomic {fn!r} on {key!r}: {exc}") from None
        if new is None:
            self._store_pop(key)
            return None
        self._store_put(key, new)
        return new.to_wire()

    async def _h_home(self, key):
        return self.home(key)

    async def _broadcast(self, op: str, args: dict) -> list:
        """Call ``op`` on every live member (this node included); a dead member is skipped: its data is lost."""
        members = [m for m in self.node.members if not self.node.is_dead(m)]
        return await asyncio.gather(*(self.node.call(m, op, args) for m in members))


def _unhomed(key: str) -> str:
    """A key without its explicit-home prefix (prefix searches match the user-visible part)."""
    if key.startswith("@"):
        end = key.find("@", 1)
        if end > 1:
            return key[end + 1:]
    return key


def _check_prefixes(prefixes) -> None:
    if not all(isinstance(p, str) for p in prefixes):
        raise ProtocolError("prefixes must be strings")



def _prefix_matcher(prefixes) -> Callable[[str], bool]:
    """Matches keys by their user-visible part; a set lookup when prefixes end at a '#' or '$' boundary."""
    tup = tuple(prefixes)

    def match(key: str) -> bool:
        return _unhomed(key).startswith(tup) or key.startswith(tup)
    return match
