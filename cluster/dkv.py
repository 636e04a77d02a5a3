"""The distributed key-value store (DKV): replicated, typed values on the members of the cloud.

Keys are strings. Each key is held by ``R`` members (``--replication R``, default 1), its *holders*, chosen by
rendezvous hashing over the member set (:mod:`cluster.placement`): the key's *primary* and the next R-1 of its
ranking. A key may name its home explicitly as ``"@<node>@<rest>"`` (the primary): frames use that to put chunk i
of every column on the same node and to spread chunks evenly; a chunk's copies go to the same holders for every
column.

**Writes** go to the key's primary (an immutable value, to its first live holder), which stamps a version,
stores the value and copies it to the other live holders before answering: a write completes when every live
holder has it. A mutable value whose primary is dead waits (up to the failure-detection window and the
removal that follows) for the cloud to remove it, then goes to the new primary, which held a copy; with R=1 it
fails at once. **Reads** are served from this node's own copy when it holds one, else from the holders in order
(primary first), each asked for its own copy: a holder that lacks the key (a member that restarted empty) sends
the reader on to the next. A key that no live holder has, while a holder of it is dead or was lost (removed, or
restarted empty), raises :class:`NodeLostError` naming the keys, for keys naming their home and for reads of
chunks; other missing keys read as None. Deletes reach every live member and leave tombstones. Writes, deletes and
tasks are refused on the minority side of a partition (``NoQuorumError``). The cloud restores R copies in the
background after a change of members (:mod:`cluster.replicas`).

Values are typed: a type name, a msgpack-safe ``meta`` map and raw buffers (bytes or numpy arrays, sent
out of band). Immutable values (the default: chunks, frame headers) may be cached by readers; a delete
invalidates every cache. The first write locks the cloud (H2O's rule). ``atomic`` runs a *registered*
update function on the primary, so a message can never name arbitrary code.

Every node serves the ``dkv.*`` ops and routes what it does not hold, so a client only ever talks to its
gateway. Within a node, calls to itself skip the network.

>>> v = Value("text", {"hello": "world"})          # a value with no buffers
>>> home_of("@10.0.0.2:54321@frame1/c0/k3", ("10.0.0.1:54321", "10.0.0.2:54321"))
'10.0.0.2:54321'
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable

import msgpack
import numpy as np

from .errors import NodeLostError, ProtocolError, RequestRefusedError
from .placement import explicit_home, holders, home_of, homed_key, unhomed
from .protocol import register_op
from .shard import Shard, prefix_matcher

__all__ = ["ATOMICS", "DKV", "Value", "home_of", "homed_key", "register_atomic"]

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


@dataclass
class _Losses:
    """Members lost (dead, removed, restarted empty) before the cloud had restored the copies of the previous losses:
    a key held only by them -- every one of its holders in ``members``, the member set before the first of them was
    lost -- may be gone. With fewer losses than the replication factor every key kept a copy (``covered``). A group
    closes when every member reports its copies restored (``DKV.settle_losses``); a later loss starts another."""

    members: set                                   # the member set before the group's first loss, and every lost one
    lost: dict = field(default_factory=dict)       # node -> why it was lost
    keys: dict = field(default_factory=dict)       # node -> keys it held at its last heartbeat (None: not known)
    closed: bool = False

    def covered(self, replication: int) -> bool:
        return len(self.lost) < replication

    def blamed(self, key: str, replication: int) -> list[str]:
        """The lost members that were ``key``'s holders, when all its holders were lost in this group, else []."""
        if self.covered(replication):
            return []
        hs = holders(key, tuple(sorted(self.members)), replication)
        return hs if hs and all(h in self.lost for h in hs) else []


def stuck_text(reports: dict) -> str | None:
    """One line saying where re-replication is stuck, from what members report of their own passes:
    ``{member: {"quota": {holder: {"keys": n, "copies": c}}, "failing": error or None}}`` (the keys a member could
    not copy to a holder whose ``--max-mem-size`` is full, and how many copies they have; a pass that keeps failing).

    >>> stuck_text({"a:1": {"quota": {"c:1": {"keys": 2000, "copies": 1}}}, "b:1": {"quota": {"c:1": {"keys": 5,
    ...             "copies": 1}}, "failing": None}})
    'quota on node c:1: 2,005 key(s) at 1 copy'
    >>> stuck_text({"a:1": {"quota": {}, "failing": None}}) is None
    True
    """
    quota: dict[str, list[int]] = {}
    failing = []
    for member, rep in sorted(reports.items()):
        for holder, q in (rep.get("quota") or {}).items():
            t = quota.setdefault(holder, [0, int(q["copies"])])
            t[0] += int(q["keys"])
            t[1] = min(t[1], int(q["copies"]))
        if rep.get("failing"):
            failing.append(f"re-replication passes on node {member} fail ({rep['failing']})")
    parts = [f"quota on node {h}: {n:,} key(s) at {c} cop{'y' if c == 1 else 'ies'}"
             for h, (n, c) in sorted(quota.items())]
    return "; ".join(parts + failing) or None


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
register_op("dkv.local_delete", {"keys": list, "?prefixes": list, "?version": int}, idempotent=True)
register_op("dkv.bytes", {"prefixes": list}, idempotent=True)
register_op("dkv.local_bytes", {"prefixes": list}, idempotent=True)
register_op("dkv.keys", {"prefix": str}, idempotent=True)
register_op("dkv.local_keys", {"prefix": str}, idempotent=True)
register_op("dkv.atomic", {"key": str, "fn": str, "args": dict}, idempotent=False)
register_op("dkv.home", {"key": str}, idempotent=True)
# between members: store on a holder and copy to the others; a copy with its version; a holder's own copies
register_op("dkv.write", {"items": list}, idempotent=True)
register_op("dkv.replica_put", {"items": list}, idempotent=True)
register_op("dkv.local_get_many", {"keys": list}, idempotent=True)
register_op("dkv.lost_hint", {"key": str}, idempotent=True)
register_op("dkv.local_state", {"keys": list}, idempotent=True)
register_op("dkv.census", {}, idempotent=True)
register_op("dkv.local_census", {}, idempotent=True)


class DKV:
    """The DKV shard of one node plus the routing to the others (a node service: it owns the shard).

    Other services write through :meth:`put_local` (then :meth:`replicate`) and read through :meth:`local_values`
    and :meth:`fetch_local`, never into the shard. Methods run on the node's loop, except :meth:`put_local`,
    :meth:`local_value` and :meth:`local_values` (any thread).
    """

    def __init__(self, node):
        self.node = node
        cfg = node.config
        self.shard = Shard(node.id, cfg.max_mem_size, cfg.tombstone_seconds)
        self.quota = cfg.max_mem_size
        self.replication = cfg.replication
        self.lost: dict[str, str] = {}               # members whose copies are gone (dead, removed, restarted)
        self._losses: list[_Losses] = []             # members lost since the lock, in groups (see _Losses)
        # what this node's re-replication reports about itself in the census (set by the replicas service)
        self.local_report: Callable[[], dict] = lambda: {}
        self._atomic_locks: dict[str, list] = {}     # key -> [lock, updates waiting or running]
        node.key_count = lambda: len(self.shard.store)
        node.on_members(self._on_members)
        for op, fn in (("dkv.put", self._h_put), ("dkv.put_many", self._h_put_many), ("dkv.get", self._h_get),
                       ("dkv.get_many", self._h_get_many), ("dkv.delete", self._h_delete),
                       ("dkv.delete_prefix", self._h_delete_prefix), ("dkv.local_delete", self._h_local_delete),
                       ("dkv.bytes", self._h_bytes), ("dkv.local_bytes", self._h_local_bytes),
                       ("dkv.keys", self._h_keys), ("dkv.local_keys", self._h_local_keys),
                       ("dkv.atomic", self._h_atomic), ("dkv.home", self._h_home), ("dkv.write", self._h_write),
                       ("dkv.replica_put", self._h_replica_put), ("dkv.local_get_many", self._h_local_get_many),
                       ("dkv.census", self._h_census), ("dkv.local_census", self._h_local_census),
                       ("dkv.lost_hint", self._h_lost_hint), ("dkv.local_state", self._h_local_state)):
            node.register(op, fn)

    @property
    def store(self) -> dict:
        """This node's copies (read-only)."""
        return self.shard.store

    @property
    def cache(self) -> dict:
        return self.shard.cache

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
        """Bytes held in the DKV under the given key prefixes (one copy of each key)."""
        return await self.node.call(self._entry, "dkv.bytes", {"prefixes": list(prefixes)})

    async def keys(self, prefix: str = "") -> list[dict]:
        return await self.node.call(self._entry, "dkv.keys", {"prefix": prefix})

    async def atomic(self, key: str, fn: str, args: dict | None = None) -> Value | None:
        """Run the registered update ``fn(old_value, **args)`` on the key's primary, atomically."""
        raw = await self.node.call(self._entry, "dkv.atomic", {"key": key, "fn": fn, "args": args or {}})
        return None if raw is None else Value.from_wire(raw)

    async def census(self) -> dict:
        """How many copies the cloud holds of its keys: ``{"replication", "target", "keys", "under", "stray",
        "stuck", "lost", "lost_keys"}``: ``under`` counts keys with fewer than ``target`` = min(R, live members)
        copies on their holders, ``stray`` copies on members that no longer hold their key (the re-replication drops
        them); ``stuck`` says where re-replication cannot go on (``stuck_text``), else None; ``lost`` lists the
        members lost since the lock (:meth:`losses`); ``lost_keys`` counts the keys gone with them (a key is in no
        listing once gone): 0 while the copies cover every loss, with replication 1 the keys the lost members held at
        their last heartbeats, None when not known (members lost before the copies were restored, with R > 1: only
        the keys they alone held are gone)."""
        return await self.node.call(self._entry, "dkv.census", {})

    def home(self, key: str) -> str:
        """The key's primary."""
        return self.holders(key)[0]

    def holders(self, key: str) -> list[str]:
        """The members holding ``key``, primary first (dead ones included: they are members until removed)."""
        return holders(key, self.node.members, self.replication)

    def local_value(self, key: str) -> Value | None:
        """The value if this node holds or caches it (no network): MRTask maps read chunks this way."""
        return self._local(key)

    def local_values(self, keys: list[str]) -> list[Value | None]:
        """Values of ``keys`` held here (stored, else cached), None where neither. Safe from any thread."""
        return self.shard.values(keys)

    def missing_locally(self, keys: list[str]) -> list[str]:
        """The keys of ``keys`` this node neither stores nor caches."""
        return self.shard.missing(keys)

    def put_local(self, key: str, value: Value, deleted_since: int | None = None) -> tuple[str, Value, int] | None:
        """Store a value this node holds (an MRTask map writing a chunk next to its input), under the quota.
        Safe from any thread. Returns what :meth:`replicate` takes to copy it to the key's other holders, or None
        when ``deleted_since`` (a :meth:`clock` reading) is given and the key was deleted since then: the value is
        dropped (a map still running when its task failed must not bring back outputs the task deleted)."""
        version = self.shard.put(key, value)
        if deleted_since is not None and self.shard.deleted_after(key, deleted_since):
            # checked after the store: a delete before it is seen here, one after it removed the value itself
            if self.shard.versions.get(key) == version:
                self.shard.pop(key)
            return None
        return key, value, version

    def clock(self) -> int:
        """This node's DKV clock now (the versions of its writes and deletes are later)."""
        return self.shard.next_version()

    async def replicate(self, stamped: list[tuple[str, Value, int]]) -> None:
        """Copy values this node stored (``put_local``) to their other live holders, and wait for them. A holder
        lost meanwhile is skipped (the re-replication restores the count) if this node still hears a majority:
        on the minority side the write fails with NoQuorumError (it may not count as done)."""
        if self.replication > 1 and stamped:
            lost = await self._copy_to_holders(stamped)
            if lost:
                await self._settle(lost)
                # the missed holders get their copies from a re-replication pass (it retries until they hear us)
                replicas = self.node.services.get("replicas")
                if replicas is not None:
                    replicas.schedule()

    async def _settle(self, lost: list[str]) -> None:
        """A write that missed holders lost on the way counts only once this node knows it is not on the minority
        side: the lost holders were removed (a majority agreed), or came back, or a few heartbeats passed with this
        node still hearing a majority (a link cut between two members removes neither). Losing the majority
        meanwhile fails the write with NoQuorumError: an isolated node never acknowledges a write alone."""
        cfg = self.node.config
        deadline = time.monotonic() + 3 * cfg.heartbeat_interval
        while True:
            self.node.check_quorum()
            if time.monotonic() > deadline or all(h not in self.node.members or not self.node.is_dead(h)
                                                  for h in lost):
                return
            await asyncio.sleep(cfg.heartbeat_interval / 4)

    async def fetch_local(self, keys: list[str]) -> dict[str, Value]:
        """Values of keys held elsewhere, fetched in batches and cached where the quota allows (a layout that
        replicates data maps them here). Raises NodeLostError for keys lost with a member, KeyError naming a
        key the cloud does not have."""
        out: dict[str, Value] = {}
        batch_size = self.node.config.mr_fetch_batch
        for i in range(0, len(keys), batch_size):
            batch = keys[i:i + batch_size]
            for key, value in zip(batch, await self.get_many(batch)):
                if value is None:
                    # what this node saw, so that a chunk missing on a live cloud can be traced (it showed a
                    # re-admitted member reading under its old member set: Node._catch_up)
                    m, hs = self.node.membership, self.holders(key)
                    log.warning("chunk %s not found: holders %s (states %s); members %s, epoch %s", key, hs,
                                [m.state_of(h) for h in hs], list(m.members), m.epoch)
                    raise KeyError(f"chunk {key} is missing in the cloud")
                out[key] = value
                self.shard.cache_put(key, value)
        return out

    def drop_cache(self) -> None:
        """Forget every cached value (they are fetched again from their holders when read)."""
        self.shard.drop_cache()

    def memory(self) -> dict:
        """Bytes held (store + cache), the quota and the key counts (served by ``node.stats``)."""
        return self.shard.memory()

    async def lost_hint(self, key: str) -> list[str]:
        """The lost members that may have taken a missing ``key`` with them (what ``Frame(key)`` names when a frame is
        not found): every holder the key had before they were lost is lost (R of them for replication R, or all of
        its holders are dead now) and no member left holds a copy of it or remembers its delete. Empty otherwise:
        a key that was never written, or was deleted, is simply not there."""
        return await self.node.call(self._entry, "dkv.lost_hint", {"key": key})

    async def _h_lost_hint(self, key):
        blamed = self.lost_holders(key)
        if not blamed:
            return []
        # a copy on a member that is left (a holder that moved, a stray), or a delete it remembers: not lost
        others = [m for m in self._live(self.node.members) if m != self.node.id]
        answers = await asyncio.gather(*(self.node.call(m, "dkv.local_state", {"keys": [key]},
                                                        timeout=self.node.config.control_timeout, retries=0)
                                         for m in others), return_exceptions=True)
        for got in answers:
            if isinstance(got, list) and got and isinstance(got[0], list) and (got[0][0] >= 0 or got[0][1]):
                return []
        return blamed

    async def _h_local_state(self, keys):
        """``[version or -1, version of a delete this node remembers or 0]`` of each key (its own copies only)."""
        _check_keys(keys, "dkv.local_state")
        return [[self.shard.versions.get(k, -1), self.shard.deleted_after(k, 0)] for k in keys]

    def lost_holders(self, key: str) -> list[str]:
        """The members a missing ``key`` may have been lost with: its holders when every one of them is dead now, or,
        for members lost since the lock, its holders then when all of them were lost before the cloud restored their
        copies (with replication R, R of them; with replication 1 the one that held it). Empty when this node saw the
        key deleted, and for keys whose holders' copies cover the losses (a key that was never written among
        them)."""
        if self.shard.deleted_after(key, 0):
            return []
        hs = self.holders(key)
        if hs and all(self.node.is_dead(h) for h in hs):
            return hs
        blamed: list[str] = []
        for group in self._losses:
            blamed += [h for h in group.blamed(key, self.replication) if h not in blamed]
        return blamed

    def losses(self) -> list[dict]:
        """The members lost since the lock (and not back with their data), oldest first: ``{"node", "reason",
        "covered", "keys", "settled"}``: ``covered`` when the copies kept every key it held (fewer members were lost
        before the copies were restored than the replication factor), ``keys`` the keys it held at its last
        heartbeat (None when not known: it restarted), ``settled`` once every member reported the copies restored
        since (a later loss is then judged on its own)."""
        return [{"node": n, "reason": why, "covered": g.covered(self.replication), "keys": g.keys.get(n),
                 "settled": g.closed} for g in self._losses for n, why in g.lost.items()]

    def settle_losses(self) -> None:
        """Every member reports its copies restored (the re-replication found nothing left to copy under the
        present member set): a later loss is judged against this member set alone."""
        for g in self._losses:
            g.closed = True

    # ------------------------------------------------------------------ membership
    def _on_members(self, event) -> None:
        name = type(event).__name__
        if name in ("Lost", "Restarted"):
            reason = event.reason if name == "Lost" else "it restarted empty"
            self.lost[event.node] = reason
            if self.node.locked:            # before the lock there is no data to lose
                self._note_loss(event.node, reason)
        elif name == "Back":
            self.lost.pop(event.node, None)
            for g in self._losses:          # it answers with the same process: it kept its copies
                g.lost.pop(event.node, None)
                g.keys.pop(event.node, None)
            self._losses = [g for g in self._losses if g.lost]

    def _note_loss(self, node: str, reason: str) -> None:
        group = self._losses[-1] if self._losses and not self._losses[-1].closed else None
        if group is None:
            group = _Losses(set(self.node.members))
            self._losses.append(group)
        group.members.add(node)
        if node in group.lost:
            if reason == "it restarted empty":
                was = group.lost[node]
                group.lost[node] = reason if "restarted" in was else f"{was}; then it restarted empty"
            return
        group.lost[node] = reason
        # its last heartbeat's key count (a restart's first heartbeat already counts the new, empty process)
        peer = self.node.membership.peer(node)
        keys = peer.info.get("keys") if peer is not None and "restarted" not in reason else None
        group.keys[node] = int(keys) if isinstance(keys, int) else None
        if group.covered(self.replication):
            return
        # no data is lost silently: say so once, when the copies stop covering the losses
        if self.replication == 1:
            held = "the keys it held" if group.keys[node] is None else f"the {group.keys[node]:,} key(s) it held"
            log.error("member %s was lost (%s) with replication 1: %s are gone%s", node, reason, held,
                      "" if "restarted" in reason else " unless it answers again with the same process")
        else:
            log.error("members %s were lost before the copies of the first were restored (replication %d): keys "
                      "only they held are gone", ", ".join(group.lost), self.replication)

    # ------------------------------------------------------------------ internals
    def _local(self, key: str) -> Value | None:
        if self.node.config.client:
            return self.shard.cache.get(key)
        return self.shard.get(key)

    def _live(self, nodes) -> list[str]:
        return [n for n in nodes if not self.node.is_dead(n)]

    async def _writer(self, key: str, immutable: bool, needs_old: bool = False) -> str:
        """The holder a write of ``key`` goes to: its primary (an immutable value: its first live holder). A dead
        primary is waited out until the cloud removes it, then the write goes to the key's next holder; an update
        that needs the old value (``needs_old``) of a key no live member holds a copy of fails at once."""
        hs = self.holders(key)
        if immutable:
            live = self._live(hs)
            if live:
                return live[0]
        elif not self.node.is_dead(hs[0]):
            return hs[0]
        if needs_old and not self._live(hs):
            raise NodeLostError(hs[0], f"it holds {key!r}, which cannot be updated now", keys=[key])
        dead = hs[0]
        cfg = self.node.config
        deadline = time.monotonic() + cfg.dead_after + 6 * cfg.heartbeat_interval
        while self.node.is_dead(dead) and dead in self.node.members:
            self.node.check_quorum()            # the minority never removes anyone: do not wait for it
            if time.monotonic() > deadline:
                raise NodeLostError(dead, f"it is the primary of {key!r} and the cloud has not removed it yet",
                                    keys=[key])
            await asyncio.sleep(cfg.heartbeat_interval / 4)
        return await self._writer(key, immutable, needs_old)

    async def _h_put(self, key, value):
        await self._h_put_many([[key, value]])
        return True

    async def _h_put_many(self, items):
        self.node.check_quorum()
        await self.node.lock("first data write")
        for item in items:
            if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], str)
                    and isinstance(item[1], dict)):
                raise ProtocolError("dkv.put_many items must be [key, value] pairs")
            self.shard.cache_pop(item[0])
        todo = items
        for attempt in range(3):          # a writer lost on the way: its items go to the next (a put is idempotent)
            by_writer: dict[str, list] = {}
            for item in todo:
                by_writer.setdefault(await self._writer(item[0], item[1].get("immutable") is True), []).append(item)
            groups = list(by_writer.items())
            results = await asyncio.gather(*(self.node.call(w, "dkv.write", {"items": group}) for w, group in groups),
                                           return_exceptions=True)
            todo = []
            for (writer, group), res in zip(groups, results):
                if isinstance(res, NodeLostError) and attempt < 2:
                    todo += group
                elif isinstance(res, BaseException):
                    raise res
            if not todo:
                break
        return len(items)

    async def _h_write(self, items):
        """On a holder: store the values (all checked and under the quota before any is), copy to the others."""
        values = []
        for item in items:
            if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], str)):
                raise ProtocolError("dkv.write items must be [key, value] pairs")
            values.append((item[0], Value.from_wire(item[1])))
        store = self.shard.store
        self.shard.check_quota(f"{len(values)} values", sum(v.nbytes for _, v in values),
                               sum(store[k].nbytes for k, _ in values if k in store))
        stamped = [(key, value, self.shard.put(key, value)) for key, value in values]
        await self.replicate(stamped)
        return len(stamped)

    async def _copy_to_holders(self, stamped: list[tuple[str, Value, int]]) -> list[str]:
        """Send each value to its other live holders (batched per holder by bytes); returns the holders lost
        meanwhile (skipped); any other failure is raised."""
        by_holder: dict[str, list] = {}
        for key, value, version in stamped:
            for h in self.holders(key):
                if h != self.node.id and not self.node.is_dead(h):
                    by_holder.setdefault(h, []).append((key, value, version))
        sent = await asyncio.gather(*(self.send_copies(h, group) for h, group in by_holder.items()))
        return [h for h, n in zip(by_holder, sent) if n is None]

    async def send_copies(self, holder: str, stamped: list) -> int | None:
        """Send copies to one holder in messages of at most ``rebalance_batch_bytes``; returns the copies it took,
        None when it was lost on the way."""
        limit = min(self.node.config.rebalance_batch_bytes, self.node.config.max_message_bytes // 2)
        batch, size, taken = [], 0, 0
        for i, (key, value, version) in enumerate(stamped):
            batch.append([key, value.to_wire(), version])
            size += value.nbytes
            if size >= limit or i == len(stamped) - 1:
                try:
                    taken += await self.node.call(holder, "dkv.replica_put", {"items": batch})
                except (NodeLostError, RequestRefusedError) as exc:
                    if isinstance(exc, RequestRefusedError) and exc.kind != "removed":
                        raise
                    # lost, or it holds this node dead (a link cut one way): as unreachable. The copy was stored
                    # here already, so failing the write would report "not done" for a value that stays
                    log.info("holder %s was lost (or does not hear this node) while copies were sent to it", holder)
                    return None
                batch, size = [], 0
        return taken

    async def _h_replica_put(self, items):
        taken = 0
        for item in items:
            if not (isinstance(item, list) and len(item) == 3 and isinstance(item[0], str)
                    and isinstance(item[2], int)):
                raise ProtocolError("dkv.replica_put items must be [key, value, version]")
            taken += self.shard.put_if_newer(item[0], Value.from_wire(item[1]), item[2])
        return taken

    async def _h_local_get_many(self, keys):
        """This node's own copies (no routing): [value, version] per key, None where it has none."""
        _check_keys(keys, "dkv.local_get_many")
        values = [self.shard.store.get(k) for k in keys]
        return [None if v is None else [v.to_wire(), self.shard.versions.get(k, 0)] for k, v in zip(keys, values)]

    async def _h_get(self, key):
        return (await self._read([key]))[0]

    async def _h_get_many(self, keys):
        _check_keys(keys, "dkv.get_many")
        return await self._read(list(keys))

    async def _read(self, keys: list[str]) -> list:
        """Wire values of ``keys``: this node's copy, else the holders' in order (a holder without the key sends
        the reader on). Keys no live holder has while a holder is dead or lost raise NodeLostError."""
        found: dict[str, Any] = {}
        tried: dict[str, set] = {}
        pending = []
        for k in keys:
            v = self.shard.get(k)
            if v is not None:
                found[k] = v.to_wire()
            elif k not in tried:
                tried[k] = {self.node.id}
                pending.append(k)
        missing = []
        while pending:
            by_holder: dict[str, list[str]] = {}
            for k in pending:
                target = next((h for h in self.holders(k) if h not in tried[k] and not self.node.is_dead(h)), None)
                if target is None:
                    missing.append(k)
                else:
                    tried[k].add(target)
                    by_holder.setdefault(target, []).append(k)
            pending = []
            calls = list(by_holder.items())
            results = await asyncio.gather(*(self.node.call(h, "dkv.local_get_many", {"keys": ks})
                                             for h, ks in calls), return_exceptions=True)
            for (holder, ks), res in zip(calls, results):
                if isinstance(res, NodeLostError):      # lost meanwhile: ask the next holder
                    pending += ks
                    continue
                if isinstance(res, BaseException):
                    raise res
                for k, got in zip(ks, res):
                    if got is None:
                        pending.append(k)
                        continue
                    raw = got[0]
                    found[k] = raw
                    if raw.get("immutable"):
                        self.shard.cache_put(k, Value.from_wire(raw))
        lost: dict[str, list[str]] = {}
        for k in missing:
            # every holder dead, or (a key naming its home) every holder it had lost before the copies were
            # restored: the key is not in reach; otherwise live holders simply do not have it
            blamed = self.lost_holders(k)
            if blamed and (explicit_home(k) is not None or not self._live(self.holders(k))):
                lost.setdefault(blamed[0], []).append(k)
            found[k] = None
        if lost:
            node, ks = next(iter(lost.items()))
            everything = [k for group in lost.values() for k in group]
            raise NodeLostError(node, f"{len(everything)} key(s) were held only by members that are dead or lost "
                                      f"their copies ({', '.join(lost)})", keys=everything)
        return [found[k] for k in keys]

    async def _h_delete(self, keys):
        _check_keys(keys, "dkv.delete")
        self.node.check_quorum()
        return await self._delete({"keys": list(keys)})

    async def _h_delete_prefix(self, prefixes):
        _check_prefixes(prefixes)
        self.node.check_quorum()
        return await self._delete({"keys": [], "prefixes": prefixes})

    async def _delete(self, args: dict) -> int:
        args["version"] = self.shard.next_version()
        counts = await self._broadcast("dkv.local_delete", args)
        return sum(counts)

    async def _h_local_delete(self, keys, prefixes=(), version=0):
        _check_keys(keys, "dkv.local_delete")
        _check_prefixes(prefixes)
        gone = self.shard.delete(keys, prefixes, version)
        return sum(1 for k in gone if self._counts_here(k))

    def _counts_here(self, key: str) -> bool:
        """Whether this node answers for ``key`` in cloud-wide counts (its first live holder), so that a key
        held R times counts once."""
        live = self._live(self.holders(key))
        return (live[0] if live else self.node.id) == self.node.id

    async def _h_bytes(self, prefixes):
        _check_prefixes(prefixes)
        return sum(await self._broadcast("dkv.local_bytes", {"prefixes": prefixes}))

    async def _h_local_bytes(self, prefixes):
        _check_prefixes(prefixes)
        match = prefix_matcher(prefixes)
        return sum(v.nbytes for k, v in list(self.shard.store.items()) if match(k) and self._counts_here(k))

    async def _h_keys(self, prefix):
        rows = await self._broadcast("dkv.local_keys", {"prefix": prefix})
        merged: dict[str, dict] = {}
        for part in rows:
            for r in part:
                row = merged.get(r["key"])
                if row is None:
                    merged[r["key"]] = {**r, "home": self.home(r["key"]), "copies": 1}
                else:
                    row["copies"] += 1
        return sorted(merged.values(), key=lambda r: r["key"])

    async def _h_local_keys(self, prefix):
        return [{"key": k, "type": v.type, "bytes": v.nbytes}
                for k, v in list(self.shard.store.items()) if k.startswith(prefix) or unhomed(k).startswith(prefix)]

    async def _h_census(self):
        members = self._live(self.node.members)
        parts = await asyncio.gather(*(self.node.call(m, "dkv.local_census", {}) for m in members))
        copies: dict[str, int] = {}
        stray = 0
        reports = {}
        for member, (held, others, report) in zip(members, parts):
            for k in held:
                copies[k] = copies.get(k, 0) + 1
            for k in others:
                copies.setdefault(k, 0)
            stray += len(others)
            reports[member] = report
        target = min(self.replication, len(members))
        lost = self.losses()
        gone = [x["keys"] for x in lost if not x["covered"]]
        lost_keys = 0 if not gone else sum(gone) if self.replication == 1 and None not in gone else None
        return {"replication": self.replication, "target": target, "keys": len(copies),
                "under": sum(1 for c in copies.values() if c < target), "stray": stray,
                "stuck": stuck_text(reports), "lost": lost, "lost_keys": lost_keys}

    async def _h_local_census(self):
        """This node's copies: of keys it holds, and of keys it is no holder of (waiting to be dropped); what its
        re-replication reports (where it is stuck)."""
        held, others = [], []
        for k in list(self.shard.store):
            (held if self.node.id in self.holders(k) else others).append(k)
        return [held, others, self.local_report()]

    async def _h_atomic(self, key, fn, args):
        self.node.check_quorum()
        primary = await self._writer(key, immutable=False, needs_old=True)
        if primary != self.node.id:
            return await self.node.call(primary, "dkv.atomic", {"key": key, "fn": fn, "args": args})
        update = ATOMICS.get(fn)
        if update is None:
            raise LookupError(f"no atomic update function named {fn!r} is registered")
        await self.node.lock("first data write")
        entry = self._atomic_locks.setdefault(key, [asyncio.Lock(), 0])
        entry[1] += 1
        try:
            async with entry[0]:           # one update of a key at a time, even across the awaits below
                old = self.shard.store.get(key)
                if old is None and self.replication > 1:
                    old = await self._pull(key)        # a primary that restarted empty: the others' newest copy
                try:
                    new = update(old, **args)
                except TypeError as exc:             # arguments the function does not take: the caller's mistake
                    raise ValueError(f"atomic {fn!r} on {key!r}: {exc}") from None
                except KeyError:
                    blamed = self.lost_holders(key) if old is None else []
                    if blamed:
                        raise NodeLostError(blamed[0], f"{key!r} was held by it", keys=[key]) from None
                    raise
                if new is None:
                    await self._delete({"keys": [key]})
                    return None
                version = self.shard.put(key, new)
                await self.replicate([(key, new, version)])
                return new.to_wire()
        finally:
            entry[1] -= 1
            if entry[1] == 0:
                self._atomic_locks.pop(key, None)

    async def _pull(self, key: str) -> Value | None:
        """The newest copy of ``key`` its other live holders have (stored here too), or None."""
        others = [h for h in self._live(self.holders(key)) if h != self.node.id]
        results = await asyncio.gather(*(self.node.call(h, "dkv.local_get_many", {"keys": [key]}) for h in others),
                                       return_exceptions=True)
        best = max((r[0] for r in results if isinstance(r, list) and r and r[0] is not None),
                   key=lambda got: got[1], default=None)
        if best is None:
            return None
        value = Value.from_wire(best[0])
        self.shard.put_if_newer(key, value, best[1])
        return value

    async def _h_home(self, key):
        return self.home(key)

    async def _broadcast(self, op: str, args: dict) -> list:
        """Call ``op`` on every live member (this node included); a dead member is skipped."""
        members = self._live(self.node.members)
        return await asyncio.gather(*(self.node.call(m, op, args) for m in members))


def _check_keys(keys, op: str) -> None:
    """Keys from the network are strings, or the request is refused (ProtocolError naming the op)."""
    if not all(isinstance(k, str) for k in keys):
        raise ProtocolError(f"{op} keys must be strings")


def _check_prefixes(prefixes) -> None:
    if not all(isinstance(p, str) for p in prefixes):
        raise ProtocolError("prefixes must be strings")
