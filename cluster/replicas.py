"""Re-replication: restoring R copies of every key after the member set changes (a node service, ``replicas``).

When a member is removed, restarts empty, or answers again after it was declared dead, the holders of many keys
change (:mod:`cluster.placement`) or miss copies. Every node then runs *passes* over the copies it holds, in the
background: it asks each key's other live holders for their versions (op ``dkv.versions``), and for each key

* sends its copy to the holders that lack it or hold an older version -- if it is the first holder (in the key's
  order) with the newest version, so that a copy is sent once, not by every holder; a node that holds a copy
  without being a holder (the holders moved) sends it only when no holder has it;
* drops its copy when it is no longer a holder and every holder (all alive) has the newest version, or when a
  holder deleted the key after that version (a copy that missed a delete is not revived).

A pass that changed something, or that leaves a copy to drop once another node's send has landed, is followed by
another (holders may have been busy), until one finds nothing to do. Copies travel in messages of
``rebalance_batch_bytes``. Progress (keys and bytes to copy, copied) is in the node's status (``admin cloud``)
and its heartbeats. The minority side of a partition does not copy.
"""
from __future__ import annotations

import asyncio
import logging
import time

from .errors import AquiferError, ProtocolError
from .protocol import register_op

log = logging.getLogger("aquifer.replicas")

register_op("dkv.versions", {"keys": list}, idempotent=True)

_VERSIONS_BATCH = 20_000          # keys per versions question
_SETTLE = 0.3                     # seconds to let a membership change spread before a pass


class Rebalancer:
    """Restores R copies of this node's keys in the background (see the module docstring)."""

    def __init__(self, node):
        self.node = node
        self.dkv = node.dkv
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self.progress = {"copying": False, "keys_to_copy": 0, "bytes_to_copy": 0, "copied_keys": 0,
                         "copied_bytes": 0, "dropped_keys": 0, "passes": 0, "last_pass_s": 0.0}
        node.register("dkv.versions", self._h_versions)
        node.on_members(lambda event: self.schedule())
        node.status_fields.append(lambda: {"replication": {"factor": self.dkv.replication, **self.progress}})
        node.copy_backlog = lambda: self.progress["keys_to_copy"] - self.progress["copied_keys"]

    def schedule(self) -> None:
        """Run a pass soon (called on the loop, at each membership event)."""
        if self.node.config.client or self.dkv.replication < 1:
            return
        if self._task is None or self._task.done():
            self._wake = asyncio.Event()
            self._task = self.node.spawn(self._run())
        self._wake.set()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await asyncio.sleep(_SETTLE)
            try:
                busy = await self.run_pass()
            except asyncio.CancelledError:
                raise
            except Exception as exc:                 # a holder refused or failed: try again later
                log.warning("re-replication pass failed (%s: %s); trying again", type(exc).__name__, exc)
                busy = True
            if busy:
                await asyncio.sleep(self.node.config.heartbeat_interval)
                self._wake.set()

    async def run_pass(self) -> bool:
        """One pass over this node's copies; returns whether it copied or dropped anything (or could not)."""
        node, dkv = self.node, self.dkv
        if not node.locked or not node.membership.has_quorum(time.monotonic()):
            return False
        t0 = time.monotonic()
        me = node.id
        shard = dkv.shard
        keys = list(shard.store)
        holders = {k: dkv.holders(k) for k in keys}
        asks: dict[str, list[str]] = {}
        for k in keys:
            for h in holders[k]:
                if h != me and not node.is_dead(h):
                    asks.setdefault(h, []).append(k)
        answers = await asyncio.gather(*(self._versions(h, ks) for h, ks in asks.items()))
        # a holder that did not answer is left out of this pass (not taken for one without copies), and the
        # pass counts as busy so that another one follows
        theirs: dict[str, dict[str, tuple[int, int]]] = {h: a for h, a in zip(asks, answers) if a is not None}
        unanswered = len(theirs) < len(asks)
        sends: dict[str, list] = {}
        drops: list[tuple[str, int]] = []
        waiting = False     # a copy this node will drop once another node's send reaches every holder
        for k in keys:
            mine = shard.versions.get(k)
            if mine is None:                          # deleted meanwhile
                continue
            hs = holders[k]
            others = {h: theirs[h].get(k, (-1, 0)) for h in hs if h != me and h in theirs}
            deleted = max((t for _, t in others.values()), default=0)
            if deleted >= mine:
                drops.append((k, deleted))
                continue
            newest = max([mine, *(v for v, _ in others.values())])
            all_alive = all(h == me or h in others for h in hs)
            # another node sends this key where needed: a holder with a newer copy, or the first holder with
            # the newest; a copy here that no holder needs goes once every holder has that version
            if mine < newest:
                sender_has = mine
            else:
                first = next((h for h in hs if (h == me) or (h in others and others[h][0] == newest)), None)
                sender_has = newest if first is not None and first != me else None
            if sender_has is not None:
                if me not in hs and all_alive:
                    if all(v >= sender_has for v, _ in others.values()):
                        drops.append((k, 0))
                    else:
                        waiting = True
                continue
            for h, (v, _) in others.items():
                if v < newest:
                    sends.setdefault(h, []).append(k)
            if me not in hs and all_alive and not any(v < newest for v, _ in others.values()):
                drops.append((k, 0))
        todo = sum(len(ks) for ks in sends.values())
        p = self.progress
        p.update(copying=bool(todo), keys_to_copy=todo, copied_keys=0, copied_bytes=0,
                 bytes_to_copy=sum(shard.store[k].nbytes for ks in sends.values() for k in ks if k in shard.store))
        copied = await asyncio.gather(*(self._send(h, ks) for h, ks in sends.items()))
        for k, deleted in drops:
            if deleted:
                shard.delete([k], (), deleted)
            else:
                shard.pop(k)
        p.update(copying=False, keys_to_copy=0, copied_keys=0, bytes_to_copy=0, copied_bytes=0,
                 dropped_keys=p["dropped_keys"] + len(drops), passes=p["passes"] + 1,
                 last_pass_s=round(time.monotonic() - t0, 3))
        if todo or drops:
            log.info("re-replication: copied %d of %d key copies to their holders, dropped %d copies (%.2f s)",
                     sum(copied), todo, len(drops), time.monotonic() - t0)
        # another pass follows while this node waits for another's copies to land (it found nothing to do itself:
        # without one, its stray copies stayed until the next membership change)
        return bool(todo or drops or unanswered or waiting)

    async def _versions(self, holder: str, keys: list[str]) -> dict[str, tuple[int, int]] | None:
        """``{key: (version or -1, version of a later delete or 0)}`` of ``holder``'s copies (None if it did not
        answer: lost, or it does not hear this node yet)."""
        out: dict[str, tuple[int, int]] = {}
        for i in range(0, len(keys), _VERSIONS_BATCH):
            batch = keys[i:i + _VERSIONS_BATCH]
            try:
                # bounded by the failure detector's window, not the 60 s RPC default: a pass waiting on one holder
                # copies nothing to the others meanwhile (an unanswered holder makes the pass busy: it runs again)
                got = await self.node.call(holder, "dkv.versions", {"keys": batch},
                                           timeout=self.node.config.dead_after, retries=0)
            except AquiferError as exc:
                log.info("re-replication: %s did not answer (%s)", holder, exc)
                return None
            out.update((k, (int(v), int(t))) for k, (v, t) in zip(batch, got))
        return out

    async def _send(self, holder: str, keys: list[str]) -> int:
        shard = self.dkv.shard
        stamped = [(k, shard.store[k], shard.versions[k]) for k in keys
                   if k in shard.store and k in shard.versions]
        sent = 0
        step = 256
        for i in range(0, len(stamped), step):
            part = stamped[i:i + step]
            taken = await self.dkv.send_copies(holder, part)
            if taken is None:                 # the holder was lost: the next membership change starts a pass
                break
            sent += taken
            self.progress["copied_keys"] += len(part)
            self.progress["copied_bytes"] += sum(v.nbytes for _, v, _ in part)
        return sent

    async def _h_versions(self, keys):
        shard = self.dkv.shard
        out = []
        for k in keys:
            if not isinstance(k, str):
                raise ProtocolError("dkv.versions keys must be strings")
            out.append([shard.versions.get(k, -1), shard.deleted_after(k, 0)])
        return out
