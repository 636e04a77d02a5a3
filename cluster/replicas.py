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

A holder whose ``--max-mem-size`` is full refuses copies (``QuotaExceededError``): the pass sends the rest and
the re-replication is *stuck* -- the status says where (``replication.stuck``: "quota on node X: N key(s) at 1
copy"), passes that cannot copy come back less and less often (up to ``_MAX_BACKOFF``), and the warning is
rate-limited. After a pass that finds nothing to do, the node asks every member for the state of its own passes
(op ``replicas.state``) until all of them found nothing to do under the same member set: the cloud's copies are
then restored, which settles the members lost so far for the DKV (``DKV.settle_losses``), and meanwhile the members'
stuck passes show in this node's status too.
"""
from __future__ import annotations

import asyncio
import logging
import time

from .dkv import stuck_text
from .errors import AquiferError, ProtocolError, QuotaExceededError
from .protocol import register_op
from .ratelog import RateLimitedLog
from .rpc import remote_caller

log = logging.getLogger("aquifer.replicas")

register_op("dkv.versions", {"keys": list}, idempotent=True)
register_op("replicas.state", {}, idempotent=True)
register_op("replicas.note", {"report": dict}, idempotent=True)

_VERSIONS_BATCH = 20_000          # keys per versions question
_SETTLE = 0.3                     # seconds to let a membership change spread before a pass
_MAX_BACKOFF = 30.0               # seconds at most between passes that cannot copy, and between asks of the cloud
_WARN_INTERVAL = 600.0            # a pass that keeps failing is warned about once per this many seconds


class Rebalancer:
    """Restores R copies of this node's keys in the background (see the module docstring)."""

    def __init__(self, node):
        self.node = node
        self.dkv = node.dkv
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self.progress = {"copying": False, "keys_to_copy": 0, "bytes_to_copy": 0, "copied_keys": 0,
                         "copied_bytes": 0, "dropped_keys": 0, "passes": 0, "last_pass_s": 0.0}
        self.stuck: dict[str, dict] = {}        # holder -> {"keys", "copies"}: what the last pass could not copy there
        self.failing: str | None = None         # the error of the last passes, when they failed one after another
        self._failures = 0                      # passes in a row that failed or could not copy everything
        self._others: dict[str, dict] = {}      # member -> what it reported of its stuck passes (replicas.state)
        self._clean: list | None = None         # the member view (_view) of the last pass that found nothing to do
        self._settled: list | None = None       # the member view under which every member reported so
        self._pushed: dict = self._report()      # the report the members last heard from this node
        self._passing = False
        self._idle = True                       # no pass running or due (the task waits for a membership change)
        self._warn = RateLimitedLog(log, burst=1, interval=_WARN_INTERVAL)
        node.register("dkv.versions", self._h_versions)
        node.register("replicas.state", self._h_state)
        node.register("replicas.note", self._h_note)
        node.on_members(lambda event: self.schedule())
        node.status_fields.append(self._status)
        node.copy_backlog = lambda: self.progress["keys_to_copy"] - self.progress["copied_keys"]
        self.dkv.local_report = self._report

    def _report(self) -> dict:
        """This node's passes as the census and ``replicas.state`` carry them (see ``dkv.stuck_text``)."""
        return {"quota": dict(self.stuck), "failing": self.failing if self._failures >= 2 else None}

    def _status(self) -> dict:
        reports = {m: r for m, r in self._others.items() if m in self.node.members and not self.node.is_dead(m)}
        reports[self.node.id] = self._report()
        return {"replication": {"factor": self.dkv.replication, **self.progress, "stuck": stuck_text(reports),
                                "lost": self.dkv.losses()}}

    def schedule(self) -> None:
        """Run a pass soon (called on the loop, at each membership event)."""
        if self.node.config.client or self.dkv.replication < 1:
            return
        if self._task is None or self._task.done():
            self._wake = asyncio.Event()
            self._task = self.node.spawn(self._run())
        self._wake.set()

    async def _run(self) -> None:
        interval = self.node.config.heartbeat_interval
        while True:
            self._idle = True
            try:
                await self._wake.wait()
            finally:
                self._idle = False
            self._wake.clear()
            await asyncio.sleep(_SETTLE)
            self._clean = None
            view = self._view()
            ran = self.node.locked and self.node.membership.has_quorum(time.monotonic())
            self._passing = True
            try:
                busy = await self.run_pass()
                self.failing = None
            except asyncio.CancelledError:
                raise
            except Exception as exc:                 # a holder refused or failed: try again later
                busy, self.failing = True, f"{type(exc).__name__}: {exc}"
                self.progress.update(copying=False, keys_to_copy=0, copied_keys=0, bytes_to_copy=0, copied_bytes=0)
            finally:
                self._passing = False
            if self.failing or self.stuck:
                self._failures += 1
                delay = min(interval * 2 ** (self._failures - 1), _MAX_BACKOFF)
                what = (f"failed ({self.failing})" if self.failing else
                        f"is stuck: {stuck_text({self.node.id: {'quota': self.stuck}})} (a holder's --max-mem-size "
                        f"is full: give it more, or remove frames and models)")
                self._warn.warning("re-replication", "re-replication pass %s; trying again in %.0f s, then less "
                                   "often (this is warned about once per %.0f s)", what, delay, _WARN_INTERVAL)
            else:
                if self._failures:
                    log.info("re-replication goes on: this pass copied what the %d before it could not",
                             self._failures)
                self._failures, delay = 0, interval
            report = self._report()
            if report != self._pushed:        # stuck, or no longer: the members' status says so at once
                self._pushed = report
                self.node.spawn(self._tell_members(report))
            if busy:
                await self._pause(delay)
                self._wake.set()
            elif ran and view == self._view():
                self._clean = view
                await self._watch_cloud()

    async def _pause(self, seconds: float) -> None:
        """Wait ``seconds``, or less when a membership change wakes this service."""
        try:
            await asyncio.wait_for(self._wake.wait(), seconds)
        except asyncio.TimeoutError:
            pass

    def _view(self) -> list:
        """The member set as this node sees it: epoch, and each member's process and whether it is dead."""
        m = self.node.membership
        rows = []
        for n in m.members:
            peer = None if n == self.node.id else m.peer(n)
            boot = self.node.boot if n == self.node.id else (peer.boot if peer is not None else None)
            rows.append([n, boot, self.node.is_dead(n)])
        return [m.epoch, rows]

    async def _watch_cloud(self) -> None:
        """After a pass that found nothing to do: ask every member about its own passes until all of them found
        nothing to do under the member view this node has (then the copies are restored: the losses so far are
        settled), or a membership change wakes this service. Meanwhile what members report stuck shows here."""
        delay = self.node.config.heartbeat_interval
        while not self._wake.is_set() and self._settled != self._clean:
            view = self._clean
            others = [m for m in self.node.members if m != self.node.id]
            asked = [m for m in others if not self.node.is_dead(m)]
            answers = await asyncio.gather(*(self.node.call(m, "replicas.state", {},
                                                            timeout=self.node.config.control_timeout, retries=0)
                                             for m in asked), return_exceptions=True)
            if self._wake.is_set() or view != self._view():
                return
            got = [a for a in answers if isinstance(a, dict)]
            self._others = {m: r for m, r in ((m, _checked(a)) for m, a in zip(asked, answers)) if r}
            if (len(got) == len(others) and not any(dead for _, _, dead in view[1])
                    and all(a.get("clean") and a.get("view") == view for a in got)):
                self._settled, self._others = view, {}
                self.dkv.settle_losses()
                return
            await self._pause(delay)
            delay = min(2 * delay, _MAX_BACKOFF)

    async def _tell_members(self, report: dict) -> None:
        others = [m for m in self.node.members if m != self.node.id and not self.node.is_dead(m)]
        await asyncio.gather(*(self.node.call(m, "replicas.note", {"report": report},
                                              timeout=self.node.config.control_timeout, retries=0)
                               for m in others), return_exceptions=True)

    async def _h_note(self, report):
        """A member tells where its passes are stuck (or that they no longer are)."""
        checked = _checked(report)
        if checked is None and (report.get("quota") or report.get("failing")):
            raise ProtocolError("replicas.note report must be {quota: {holder: {keys, copies}}, failing}")
        src = remote_caller.get()
        if src is None or src not in self.node.members:
            return False
        if checked:
            self._others[src] = checked
        else:
            self._others.pop(src, None)
        return True

    async def _h_state(self):
        """This node's passes: whether the last one found nothing to do under the member view it has now (and no
        other is due), that view, and where it is stuck."""
        view = self._view()
        clean = self._clean == view and not self._passing and not (self._wake is not None and self._wake.is_set())
        if not clean and self._idle:
            # no pass under this view yet (a member that took the member set as it rejoined saw no change): one now
            self.schedule()
        return {"clean": clean, "view": view, **self._report()}

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
        copies: dict[str, int] = {}       # key this node sends -> its copies now (this one and the holders' newest)
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
                    copies[k] = 1 + sum(1 for x, _ in others.values() if x >= newest)
            if me not in hs and all_alive and not any(v < newest for v, _ in others.values()):
                drops.append((k, 0))
        todo = sum(len(ks) for ks in sends.values())
        p = self.progress
        p.update(copying=bool(todo), keys_to_copy=todo, copied_keys=0, copied_bytes=0,
                 bytes_to_copy=sum(shard.store[k].nbytes for ks in sends.values() for k in ks if k in shard.store))
        results = await asyncio.gather(*(self._send(h, ks) for h, ks in sends.items()))
        copied = [n for n, _ in results]
        # a holder whose quota is full took what fitted: the rest stays below R copies until it has room
        self.stuck = {h: {"keys": len(left), "copies": min(copies.get(k, 1) for k in left)}
                      for h, (_, left) in zip(sends, results) if left}
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

    async def _send(self, holder: str, keys: list[str]) -> tuple[int, list[str]]:
        """Send copies to ``holder``: the copies it took, and the keys it refused for its quota (with those not
        sent after the refusal)."""
        shard = self.dkv.shard
        stamped = [(k, shard.store[k], shard.versions[k]) for k in keys
                   if k in shard.store and k in shard.versions]
        sent = 0
        step = 256
        for i in range(0, len(stamped), step):
            part = stamped[i:i + step]
            try:
                taken = await self.dkv.send_copies(holder, part)
            except QuotaExceededError as exc:
                log.debug("re-replication: %s", exc)
                return sent, [k for k, _, _ in stamped[i:]]
            if taken is None:                 # the holder was lost: the next membership change starts a pass
                break
            sent += taken
            self.progress["copied_keys"] += len(part)
            self.progress["copied_bytes"] += sum(v.nbytes for _, v, _ in part)
        return sent, []

    async def _h_versions(self, keys):
        shard = self.dkv.shard
        out = []
        for k in keys:
            if not isinstance(k, str):
                raise ProtocolError("dkv.versions keys must be strings")
            out.append([shard.versions.get(k, -1), shard.deleted_after(k, 0)])
        return out


def _checked(report) -> dict | None:
    """A member's report of its stuck passes (``replicas.note``, ``replicas.state``) as this node keeps it: None
    when it reports nothing stuck or is malformed."""
    if not isinstance(report, dict):
        return None
    quota, failing = report.get("quota") or {}, report.get("failing")
    if not (isinstance(quota, dict) and all(isinstance(h, str) and isinstance(q, dict)
                                            and isinstance(q.get("keys"), int) and isinstance(q.get("copies"), int)
                                            for h, q in quota.items())
            and (failing is None or isinstance(failing, str))):
        return None
    if not quota and not failing:
        return None
    return {"quota": {h: {"keys": q["keys"], "copies": q["copies"]} for h, q in quota.items()},
            "failing": failing[:500] if failing else None}
