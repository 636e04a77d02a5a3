"""Cloud membership as a pure state machine: events in, actions out, no sockets, no clock.

The node feeds it heartbeats, other traffic, goodbyes, refusals and clock ticks, and carries out the actions it
returns (log a line, connect to a node, answer or refuse a heartbeat, fail the calls of a lost node, stop).
Tests drive it directly with made-up times.

**Whom it believes.** A node sends its heartbeats on connections it opened itself, to the address each peer
listens at, and the peer answers each one with its own heartbeat on the same connection. Only those answers
(``on_heartbeat``), replies to this node's requests (``on_traffic``) and refusals that answer this node's
heartbeats (``on_refused``) change what it believes: whoever sent them listens at the peer's address (and, with
a security dir, holds the cloud's key). A heartbeat that arrives on the node's listening socket is a *claim*
(``on_claim``): anyone could have sent it, so it can only make the node check the claimed address (connect and
ping it), answer, or refuse the sender; it never adds a member, keeps one alive, or restarts one. A claim that
conflicts with what the peer's own address answers is logged and counted, not obeyed. A goodbye (``on_bye``)
is a claim too: the node pings the peer at once and declares it dead only if it stops answering.

Rules (H2O's "not Paxos", made fail-fast):

* A node proposes as members itself plus every confirmed peer of its cloud name that is not dead or refused.
  The *member hash* is a digest of that sorted set and travels in every heartbeat.
* The cloud is *formed* when the set has at least ``cloud_size`` members and every member reports the same
  hash. Each new formed set is announced once with a ``cloud formed`` log line.
* ``lock()`` (first data write or job) freezes the set. After it a newcomer, or a restarted or dead member
  speaking again, is refused with ``cloud is locked`` (fatal: a node refused so by a node of its own cloud
  name while it is not locked itself stops), and a peer that answers that it is locked with our hash makes us
  lock too.
* A confirmed peer that does not answer for ``suspect_after`` seconds is *suspect*; for ``dead_after``
  seconds, *dead*. Before the lock a dead peer simply leaves the proposed set (the cloud re-forms); after it
  the peer stays a dead member, the cloud is unhealthy, and calls to it fail with NodeLostError.
* A peer of another cloud name or package version is refused (not fatal) and ignored from then on.
* A node heard of only through claims is a *candidate* until it answers; at most ``max_candidates`` at once,
  each forgotten after ``dead_after`` seconds without an answer (flatfile nodes are pinged for good).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

HEALTHY, SUSPECT, DEAD = "healthy", "suspect", "dead"
_TOLD_LIMIT = 1024            # strangers whose refusal was logged once (bounded: strangers are free to invent)


# ------------------------------------------------------------------------------------------ actions
@dataclass(frozen=True)
class Log:
    level: str          # "info" | "warning" | "error"
    text: str
    kind: str = ""      # set for what strangers can trigger at will: the node rate-limits those lines


@dataclass(frozen=True)
class Connect:
    node: str


@dataclass(frozen=True)
class Disconnect:
    node: str


@dataclass(frozen=True)
class Ping:
    """Send a heartbeat to ``node`` now (a goodbye is being checked)."""
    node: str


@dataclass(frozen=True)
class Answer:
    """Answer the heartbeat just claimed with our own, on the connection it came in on."""
    node: str


@dataclass(frozen=True)
class Refuse:
    """Answer the heartbeat just claimed with a refusal, on the connection it came in on."""
    node: str
    reason: str
    fatal: bool


@dataclass(frozen=True)
class Formed:
    members: tuple[str, ...]


@dataclass(frozen=True)
class Lost:
    node: str
    reason: str


@dataclass(frozen=True)
class Locked:
    reason: str


@dataclass(frozen=True)
class Stop:
    """A node of this cloud refused this node for good: stop."""
    reason: str


# ------------------------------------------------------------------------------------------ state
@dataclass
class Peer:
    node: str
    boot: int
    last_heard: float                   # last answer; for a candidate, when it was first claimed
    state: str = HEALTHY
    info: dict = field(default_factory=dict)
    refused: str | None = None          # reason, when we no longer talk to this peer
    refused_fatal: bool = False         # whether its claims are answered with a fatal refusal
    confirmed: bool = False             # it answered on our own connection to its address
    probe_since: float | None = None    # a goodbye was claimed: dead unless it answers after this time


def member_hash(members) -> str:
    return hashlib.sha1("\n".join(sorted(members)).encode()).hexdigest()[:16]


class Membership:
    """Membership of one node. All methods take ``now`` (seconds, monotonic) and return actions."""

    def __init__(self, self_id: str, cloud_name: str, package_version: str, *, cloud_size: int = 1,
                 suspect_after: float = 3.0, dead_after: float = 6.0, probe_after: float = 1.0,
                 max_candidates: int = 64, pinned=()):
        self.self_id = self_id
        self.cloud_name = cloud_name
        self.package_version = package_version
        self.cloud_size = cloud_size
        self.suspect_after = suspect_after
        self.dead_after = dead_after
        self.probe_after = probe_after
        self.max_candidates = max_candidates
        self.pinned = frozenset(pinned)          # flatfile nodes: pinged for good, never forgotten
        self.peers: dict[str, Peer] = {}         # read-only outside this class: change it through events
        self.members: tuple[str, ...] = (self_id,)
        self.locked = False
        self.lock_reason = ""
        self.formed = False
        self.conflicts = 0                       # claims that contradicted what a peer's own address answers
        self._told: dict[str, str] = {}
        self._announced: tuple[str, ...] | None = None
        self._initial_actions = self._update_formation()

    # ---------------------------------------------------------------- derived views
    @property
    def hash(self) -> str:
        return member_hash(self.members)

    @property
    def healthy(self) -> bool:
        return all(self.peers[m].state == HEALTHY for m in self.members if m != self.self_id)

    def state_of(self, node: str) -> str | None:
        if node == self.self_id:
            return HEALTHY
        peer = self.peers.get(node)
        return peer.state if peer and peer.confirmed else None

    def peer(self, node: str) -> Peer | None:
        """What this node knows of ``node`` (read-only), or None."""
        return self.peers.get(node)

    def heartbeat_fields(self) -> dict:
        return {"members": list(self.members), "hash": self.hash, "locked": self.locked, "formed": self.formed}

    def initial_actions(self) -> list:
        actions, self._initial_actions = self._initial_actions, []
        return actions

    def ping_targets(self) -> set[str]:
        """Nodes to send heartbeats to: the flatfile's and every peer not refused (dead members too, so a
        partition can heal before the lock; after the lock a dead member is refused when it speaks again), and
        candidates, which must answer to be believed."""
        return ({p.node for p in self.peers.values() if p.refused is None} | self.pinned) - {self.self_id}

    # ---------------------------------------------------------------- trusted events
    def on_heartbeat(self, src: str, cloud: str, body: dict, now: float) -> list:
        """A heartbeat that answered ours on our own connection to ``src``."""
        if src == self.self_id:
            return []
        if cloud != self.cloud_name:
            return self._refuse_peer(src, body, now, f"cloud name mismatch: this is cloud {self.cloud_name!r}, "
                                                     f"node {src} belongs to cloud {cloud!r}", fatal=False)
        if body["pkg"] != self.package_version:
            return self._refuse_peer(src, body, now, f"version mismatch: this cloud runs aquifer "
                                                     f"{self.package_version}, node {src} runs {body['pkg']}",
                                     fatal=False)
        if body["client"]:
            return []
        peer = self.peers.get(src)
        if peer is not None and peer.refused is not None:
            return []
        actions: list = []
        if peer is None or not peer.confirmed:
            if self.locked:
                return self._refuse_peer(src, body, now, f"cloud is locked: cloud {self.cloud_name!r} no longer "
                                                         f"accepts new members ({self.lock_reason})", fatal=True)
            if peer is None:
                peer = self.peers[src] = Peer(src, body["boot"], now)
                actions.append(Connect(src))
            peer.confirmed, peer.boot, peer.state = True, body["boot"], HEALTHY
            actions.append(Log("info", f"heard from new node {src}"))
        elif peer.boot != body["boot"]:
            if self.locked:
                return self._refuse_peer(src, body, now, f"cloud is locked: node {src} restarted and cannot "
                                                         f"rejoin locked cloud {self.cloud_name!r}", fatal=True)
            actions.append(Log("warning", f"node {src} restarted"))
            peer.boot = body["boot"]
            peer.state = HEALTHY
        elif peer.state == DEAD:
            if self.locked and src in self.members:
                return self._refuse_peer(src, body, now, f"cloud is locked: node {src} was declared dead and "
                                                         f"cannot rejoin cloud {self.cloud_name!r}", fatal=True)
            actions.append(Log("info", f"node {src} is back"))
            peer.state = HEALTHY
        peer.info = dict(body)
        actions += self._heard(peer, now)
        if body["locked"] and not self.locked and body["hash"] == self.hash and self.formed:
            actions += self.lock(f"locked by {src}")
        actions += self._update_formation()
        return actions

    def on_traffic(self, src: str, now: float) -> list:
        """A reply from ``src`` on our own connection to it: a sign of life."""
        peer = self.peers.get(src)
        if peer is None or not peer.confirmed or peer.refused is not None or peer.state == DEAD:
            return []
        return self._heard(peer, now)

    def on_refused(self, src: str, cloud: str, reason: str, fatal: bool, now: float) -> list:
        """``src`` answered our heartbeat with a refusal. Fatal only from a node of our own cloud name while we
        are not locked (a locked member never stops for a refusal)."""
        peer = self.peers.get(src)
        if peer is not None and peer.refused is not None:
            return []
        if fatal and cloud == self.cloud_name and not self.locked:
            return [Log("error", f"refused by node {src}: {reason}"), Stop(f"refused by node {src}: {reason}")]
        if peer is None:
            peer = self.peers[src] = Peer(src, 0, now)
        peer.refused = f"it refused this node: {reason}"
        actions: list = [Log("error", f"refused by node {src}: {reason}")]
        if self.locked and src in self.members and peer.state != DEAD:
            actions += self._mark_dead(peer, "it refused this node")
        return actions + self._update_formation()

    def tick(self, now: float) -> list:
        actions: list = []
        for peer in list(self.peers.values()):
            if peer.refused is not None or peer.state == DEAD:
                continue
            if not peer.confirmed:                     # a candidate that never answered: forget it
                if now - peer.last_heard > self.dead_after:
                    del self.peers[peer.node]
                    if peer.node not in self.pinned:
                        actions.append(Disconnect(peer.node))
                continue
            if peer.probe_since is not None and now - peer.probe_since >= self.probe_after:
                actions += self._mark_dead(peer, "it said goodbye and stopped answering")
                continue
            age = now - peer.last_heard
            if age > self.dead_after:
                actions += self._mark_dead(peer, f"no heartbeat for {age:.1f} s")
            elif age > self.suspect_after and peer.state == HEALTHY:
                peer.state = SUSPECT
                actions.append(Log("warning", f"node {peer.node} is suspect: no heartbeat for {age:.1f} s"))
        return actions

    def lock(self, reason: str) -> list:
        if self.locked:
            return []
        self.locked = True
        self.lock_reason = reason
        return [Locked(reason), Log("info", f"locking cloud {self.cloud_name!r} to new members, because {reason}")]

    # ---------------------------------------------------------------- claims (anyone could have sent them)
    def on_claim(self, src: str, cloud: str, body: dict, now: float) -> list:
        """A heartbeat that arrived on our listening socket, saying it comes from ``src``."""
        if src == self.self_id:
            return self._conflict(f"a heartbeat claimed to come from this node ({src}) itself")
        if cloud != self.cloud_name:
            return self._tell(src, f"cloud name mismatch: this is cloud {self.cloud_name!r}, node {src} belongs "
                                   f"to cloud {cloud!r}", fatal=False)
        if body["pkg"] != self.package_version:
            return self._tell(src, f"version mismatch: this cloud runs aquifer {self.package_version}, node {src} "
                                   f"runs {body['pkg']}", fatal=False)
        if body["client"]:
            return []
        peer = self.peers.get(src)
        if peer is not None and peer.refused is not None:
            return [Refuse(src, peer.refused, peer.refused_fatal)]
        if peer is None:
            if self.locked:
                return self._tell(src, f"cloud is locked: cloud {self.cloud_name!r} no longer accepts new members "
                                       f"({self.lock_reason})", fatal=True)
            if sum(not p.confirmed for p in self.peers.values()) >= self.max_candidates:
                return [Log("warning", f"ignored a heartbeat from unknown node {src}: {self.max_candidates} nodes "
                                       f"are already waiting to be checked", kind="candidates")]
            self.peers[src] = Peer(src, body["boot"], now)
            return [Connect(src), Answer(src)]
        if peer.confirmed and body["boot"] != peer.boot:
            if self.locked and peer.state == DEAD:
                return self._tell(src, f"cloud is locked: node {src} was declared dead and cannot rejoin cloud "
                                       f"{self.cloud_name!r}", fatal=True)
            return self._conflict(f"a heartbeat claiming to be node {src} (pid {body['pid']}, boot {body['boot']}) "
                                  f"conflicts with the node answering at that address (boot {peer.boot}): not "
                                  f"obeyed")
        if peer.confirmed and peer.state == DEAD and self.locked and src in self.members:
            return self._tell(src, f"cloud is locked: node {src} was declared dead and cannot rejoin cloud "
                                   f"{self.cloud_name!r}", fatal=True)
        return [Answer(src)]

    def on_bye(self, src: str, boot: int, now: float) -> list:
        """A goodbye claimed by ``src``: ping it now; it is dead if it no longer answers within ``probe_after``."""
        peer = self.peers.get(src)
        if (peer is None or not peer.confirmed or peer.refused is not None or peer.boot != boot
                or peer.state == DEAD):
            return []
        if peer.probe_since is None:
            peer.probe_since = now
        return [Ping(src)]

    # ---------------------------------------------------------------- internals
    def _heard(self, peer: Peer, now: float) -> list:
        peer.last_heard = max(peer.last_heard, now)
        actions: list = []
        if peer.probe_since is not None and now > peer.probe_since:
            peer.probe_since = None
            actions.append(Log("warning", f"node {peer.node} still answers after a goodbye in its name: not "
                                          f"obeyed", kind="conflict"))
            self.conflicts += 1
        if peer.state == SUSPECT:
            peer.state = HEALTHY
            actions.append(Log("info", f"node {peer.node} is healthy again"))
        return actions

    def _mark_dead(self, peer: Peer, why: str) -> list:
        peer.state = DEAD
        peer.probe_since = None
        actions: list = [Lost(peer.node, why)]
        if self.locked:
            if peer.node in self.members:
                actions.append(Log("error", f"node {peer.node} is dead ({why}); cloud {self.cloud_name!r} is "
                                            f"unhealthy: restart the cloud to use its data again"))
        else:
            actions.append(Log("warning", f"node {peer.node} left the proposed cloud ({why})"))
            actions += self._update_formation()
        return actions

    def _refuse_peer(self, src: str, body: dict, now: float, reason: str, *, fatal: bool) -> list:
        """Stop talking to ``src`` (its claims get this refusal from now on); a member lost so is dead."""
        peer = self.peers.get(src)
        if peer is None:
            peer = self.peers[src] = Peer(src, body.get("boot", 0), now)
        peer.refused, peer.refused_fatal = reason, fatal
        actions: list = [Log("warning", f"refused node {src}: {reason}")]
        if self.locked and src in self.members and peer.state != DEAD:
            actions += self._mark_dead(peer, "it restarted")
        return actions + self._update_formation()

    def _tell(self, src: str, reason: str, *, fatal: bool) -> list:
        """Refuse a claim without keeping anything of it (strangers are free to invent names); logged once."""
        actions: list = [Refuse(src, reason, fatal)]
        if self._told.get(src) != reason:
            if len(self._told) >= _TOLD_LIMIT:
                self._told.pop(next(iter(self._told)))
            self._told[src] = reason
            actions.append(Log("warning", f"refused node {src}: {reason}", kind="refused"))
        return actions

    def _conflict(self, text: str) -> list:
        self.conflicts += 1
        return [Log("warning", text, kind="conflict")]

    def _update_formation(self) -> list:
        if not self.locked:
            self.members = tuple(sorted([self.self_id] + [p.node for p in self.peers.values()
                                                          if p.confirmed and p.refused is None and p.state != DEAD]))
        my_hash = self.hash
        agreed = all(self.peers[m].info.get("hash") == my_hash for m in self.members if m != self.self_id)
        formed = self.locked or (len(self.members) >= self.cloud_size and agreed)
        actions: list = []
        self.formed = formed
        if formed and self._announced != self.members:
            self._announced = self.members
            actions.append(Formed(self.members))
            actions.append(Log("info", f"cloud formed: name={self.cloud_name} size={len(self.members)} "
                                       f"members={','.join(self.members)}"))
        return actions
