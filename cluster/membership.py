"""Cloud membership as a pure state machine: events in, actions out, no sockets, no clock.

The node feeds it heartbeats, other traffic, goodbyes and clock ticks, and carries out the actions it
returns (log a line, connect to a new peer, send a refusal, fail the calls of a lost node). Tests drive it
directly with made-up times.

Rules (H2O's "not Paxos", made fail-fast):

* A node proposes as members itself plus every peer of its cloud name that it hears from and that is not
  dead or refused. The *member hash* is a digest of that sorted set and travels in every heartbeat.
* The cloud is *formed* when the set has at least ``cloud_size`` members and every member reports the same
  hash. Each new formed set is announced once with a ``cloud formed`` log line.
* ``lock()`` (first data write or job) freezes the set. After it a newcomer, or a restarted member, is
  refused with ``cloud is locked`` (fatal: it exits), and a peer that says it is locked with our hash makes
  us lock too.
* A peer silent for ``suspect_after`` seconds is *suspect*; for ``dead_after`` seconds, *dead*. Any message
  counts as a sign of life. Before the lock a dead peer simply leaves the proposed set (the cloud re-forms);
  after it the peer stays a dead member, the cloud is unhealthy, and calls to it fail with NodeLostError.
* A peer of another cloud name or package version is refused (not fatal) and ignored from then on.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

HEALTHY, SUSPECT, DEAD = "healthy", "suspect", "dead"


# ------------------------------------------------------------------------------------------ actions
@dataclass(frozen=True)
class Log:
    level: str          # "info" | "warning" | "error"
    text: str


@dataclass(frozen=True)
class Connect:
    node: str


@dataclass(frozen=True)
class Refuse:
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


# ------------------------------------------------------------------------------------------ state
@dataclass
class Peer:
    node: str
    boot: int
    last_heard: float
    state: str = HEALTHY
    info: dict = field(default_factory=dict)
    refused: str | None = None          # reason, when we refused this peer


def member_hash(members) -> str:
    return hashlib.sha1("\n".join(sorted(members)).encode()).hexdigest()[:16]


class Membership:
    """Membership of one node. All methods take ``now`` (seconds, monotonic) and return actions."""

    def __init__(self, self_id: str, cloud_name: str, package_version: str, *, cloud_size: int = 1,
                 suspect_after: float = 3.0, dead_after: float = 6.0):
        self.self_id = self_id
        self.cloud_name = cloud_name
        self.package_version = package_version
        self.cloud_size = cloud_size
        self.suspect_after = suspect_after
        self.dead_after = dead_after
        self.peers: dict[str, Peer] = {}
        self.members: tuple[str, ...] = (self_id,)
        self.locked = False
        self.lock_reason = ""
        self.formed = False
        self._announced: tuple[str, ...] | None = None
        actions = self._update_formation()
        self._initial_actions = actions

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
        return peer.state if peer else None

    def heartbeat_fields(self) -> dict:
        return {"members": list(self.members), "hash": self.hash, "locked": self.locked, "formed": self.formed}

    def initial_actions(self) -> list:
        actions, self._initial_actions = self._initial_actions, []
        return actions

    def known_peers(self) -> list[str]:
        """Peers we keep heartbeating: everyone not refused (dead members too, so a partition can heal
        before the lock; after the lock a dead member is refused when it speaks again)."""
        return [p.node for p in self.peers.values() if p.refused is None]

    # ---------------------------------------------------------------- events
    def on_heartbeat(self, src: str, cloud: str, body: dict, now: float) -> list:
        if src == self.self_id:
            return []
        if cloud != self.cloud_name:
            return self._refuse_once(src, body, now, f"cloud name mismatch: this is cloud {self.cloud_name!r}, "
                                                     f"node {src} belongs to cloud {cloud!r}", fatal=False)
        if body["pkg"] != self.package_version:
            return self._refuse_once(src, body, now, f"version mismatch: this cloud runs aquifer "
                                                     f"{self.package_version}, node {src} runs {body['pkg']}",
                                     fatal=False)
        if body.get("client"):
            return []
        peer = self.peers.get(src)
        actions: list = []
        if peer is None or peer.refused is not None:
            if self.locked:
                return self._refuse(src, body, now, f"cloud is locked: cloud {self.cloud_name!r} no longer "
                                                    f"accepts new members ({self.lock_reason})", fatal=True)
            if peer is not None and peer.refused is not None:
                return []        # refused for name/version: stays refused
            peer = self.peers[src] = Peer(src, body["boot"], now, info=dict(body))
            actions.append(Connect(src))
            actions.append(Log("info", f"heard from new node {src}"))
        elif peer.boot != body["boot"]:
            if self.locked:
                return self._refuse(src, body, now, f"cloud is locked: node {src} restarted and cannot rejoin "
                                                    f"locked cloud {self.cloud_name!r}", fatal=True)
            actions.append(Log("warning", f"node {src} restarted"))
            peer.boot = body["boot"]
            peer.state = HEALTHY
        elif peer.state == DEAD:
            if self.locked and src in self.members:
                return self._refuse(src, body, now, f"cloud is locked: node {src} was declared dead and cannot "
                                                    f"rejoin cloud {self.cloud_name!r}", fatal=True)
            actions.append(Log("info", f"node {src} is back"))
            peer.state = HEALTHY
        peer.info = dict(body)
        actions += self._heard(peer, now)
        if body["locked"] and not self.locked and body["hash"] == self.hash and self.formed:
            actions += self.lock(f"locked by {src}")
        actions += self._update_formation()
        return actions

    def on_traffic(self, src: str, now: float) -> list:
        """Any message from a known peer is a sign of life."""
        peer = self.peers.get(src)
        if peer is None or peer.refused is not None or peer.state == DEAD:
            return []
        return self._heard(peer, now)

    def on_bye(self, src: str, boot: int, now: float) -> list:
        peer = self.peers.get(src)
        if peer is None or peer.refused is not None or peer.boot != boot or peer.state == DEAD:
            return []
        return self._mark_dead(peer, "it shut down")

    def tick(self, now: float) -> list:
        actions: list = []
        for peer in list(self.peers.values()):
            if peer.refused is not None or peer.state == DEAD:
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

    # ---------------------------------------------------------------- internals
    def _heard(self, peer: Peer, now: float) -> list:
        peer.last_heard = max(peer.last_heard, now)
        if peer.state == SUSPECT:
            peer.state = HEALTHY
            return [Log("info", f"node {peer.node} is healthy again")]
        return []

    def _mark_dead(self, peer: Peer, why: str) -> list:
        peer.state = DEAD
        actions: list = [Lost(peer.node, why)]
        if self.locked:
            if peer.node in self.members:
                actions.append(Log("error", f"node {peer.node} is dead ({why}); cloud {self.cloud_name!r} is "
                                            f"unhealthy: restart the cloud to use its data again"))
        else:
            actions.append(Log("warning", f"node {peer.node} left the proposed cloud ({why})"))
            actions += self._update_formation()
        return actions

    def _refuse(self, src: str, body: dict, now: float, reason: str, *, fatal: bool) -> list:
        return [Refuse(src, reason, fatal), Log("warning", f"refused node {src}: {reason}")]

    def _refuse_once(self, src: str, body: dict, now: float, reason: str, *, fatal: bool) -> list:
        peer = self.peers.get(src)
        if peer is not None and peer.refused is not None:
            return []
        if peer is None:
            peer = self.peers[src] = Peer(src, body.get("boot", 0), now)
        peer.refused = reason
        actions = self._refuse(src, body, now, reason, fatal=fatal)
        return actions + self._update_formation()

    def _update_formation(self) -> list:
        if not self.locked:
            self.members = tuple(sorted(
                [self.self_id] + [p.node for p in self.peers.values() if p.refused is None and p.state != DEAD]))
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
