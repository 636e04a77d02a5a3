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

Rules before the lock (H2O's "not Paxos", made fail-fast):

* A node proposes as members itself plus every confirmed peer of its cloud name that is not dead or refused.
  The *member hash* is a digest of that sorted set and travels in every heartbeat.
* The cloud is *formed* when the set has at least ``cloud_size`` members and every member reports the same
  hash. Each new formed set is announced once with a ``cloud formed`` log line.
* News travels in round trips, not heartbeat intervals: a new proposed set is pinged to its members at once,
  and a claim from a peer not confirmed yet, or carrying another set than its last answer did, makes the node
  ping that peer at once (at most once per quarter probe interval per peer; only the answer is believed).
* A confirmed peer that does not answer for ``suspect_after`` seconds is *suspect*; for ``dead_after``
  seconds, *dead*, and it leaves the proposed set (the cloud re-forms).
* A peer of another cloud name, package version or replication factor is refused (not fatal) and ignored. A
  refusal holds for the process it judged: a new process at that address (another ``boot``: restarted with its
  settings fixed) is judged afresh once its own address answers; a claim of one only makes the node ping it.
* A node heard of only through claims, or named in the member list of a believed answer, is a *candidate* until
  it answers; at most ``max_candidates`` at once, each forgotten after ``dead_after`` seconds without an answer
  (flatfile nodes are pinged for good).
* Peers whose failure detector is set otherwise (heartbeat interval, suspect and dead thresholds, carried in
  heartbeats) are warned about once each: removing a lost member waits for a majority's detectors.

Rules after ``lock()`` (the first data write or job) -- the cloud goes on without a lost member, never in two
halves:

* The member set changes only by a *majority*: a *quorum* of a member set is more than half of it (exactly half
  when it holds the set's smallest node id, so that one of two halves, never both, goes on). The *coordinator*
  (the smallest member this node sees alive) removes a dead member once a quorum of members (itself included)
  report it dead in their heartbeats (``dead``), and re-admits a removed member whose address answers with a new
  process (a restart) once a quorum report having heard it (``back``). Each change increments the *epoch*; every
  heartbeat carries members and epoch, and a member adopts a newer set it hears from a member (the same epoch
  with another set: the lower hash wins, so two changes can never leave two sets).
* A member that hears a newer set without itself was removed: it stops with ``Stop(removed=True)`` (the node
  exits with its own status) instead of running on alone. A member that does not hear a quorum of members
  (``has_quorum``: answers within ``dead_after``) is on the minority side: the layers above refuse writes there.
* A member that restarts (its address answers with a new boot) lost its data: its old process is ``Lost``, the
  new one stays a member, empty (``Restarted``). A dead member that answers again with the same process before
  it was removed is ``Back`` (it may hold stale values). A node that was never a member is refused for good
  (``cloud is locked``, fatal: a node refused so by a node of its own cloud name while not locked stops).
* A new process at a member's address that is not locked itself adopts the locked set it is part of.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from .protocol import valid_node_id

HEALTHY, SUSPECT, DEAD = "healthy", "suspect", "dead"
# the failure detector's settings a heartbeat carries (optional: a heartbeat without them is still believed)
_TIMING_FIELDS = ("hb_interval", "suspect_after", "dead_after")
_TIMING_FLAGS = ("--heartbeat-interval", "--suspect-after", "--dead-after")
_TOLD_LIMIT = 1024            # strangers whose refusal was logged once (bounded: strangers are free to invent)
_MAX_MEMBERS = 4096           # a heartbeat naming more members than this is not believed


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
    """A process of the cloud is gone (dead, removed, or replaced by a restart): fail what waits on it."""
    node: str
    reason: str


@dataclass(frozen=True)
class Restarted:
    """A member's address answers with a new process: an empty member now (its data went with the old one)."""
    node: str


@dataclass(frozen=True)
class Back:
    """A member declared dead answers again with the same process (a pause, a healed link): it may be stale."""
    node: str


@dataclass(frozen=True)
class MembersChanged:
    """The locked cloud's member set changed (a member removed or re-admitted): keys move to new holders."""
    members: tuple[str, ...]
    epoch: int


@dataclass(frozen=True)
class Locked:
    reason: str


@dataclass(frozen=True)
class Stop:
    """Stop this node: refused for good by a node of this cloud, or (``removed``) removed from the cloud."""
    reason: str
    removed: bool = False


# ------------------------------------------------------------------------------------------ state
@dataclass
class Peer:
    node: str
    boot: int | None                    # None: a member adopted from another's set, not heard from yet
    last_heard: float                   # last answer; for a candidate, when it was first claimed
    state: str = HEALTHY
    info: dict = field(default_factory=dict)
    refused: str | None = None          # reason, when we no longer talk to this peer
    refused_fatal: bool = False         # whether its claims are answered with a fatal refusal
    refused_boot: int | None = None     # the process the refusal judged (None: unknown, it refused us)
    rechecked: float = float("-inf")    # when a claim of another process at a refused address was last checked
    hastened: float = float("-inf")     # when a claim telling news before the lock was last checked (_hasten)
    confirmed: bool = False             # it answered on our own connection to its address
    probe_since: float | None = None    # a goodbye was claimed: dead unless it answers after this time


def member_hash(members) -> str:
    return hashlib.sha1("\n".join(sorted(members)).encode()).hexdigest()[:16]


def is_quorum(voters, members) -> bool:
    """More than half of ``members``, or exactly half holding the smallest member (so of two halves, one).

    >>> is_quorum({"b", "c"}, ("a", "b", "c")), is_quorum({"a"}, ("a", "b")), is_quorum({"b"}, ("a", "b"))
    (True, True, False)
    """
    inside = set(voters) & set(members)
    return 2 * len(inside) > len(members) or (2 * len(inside) == len(members) > 0 and min(members) in inside)


def _node_list(value) -> tuple[str, ...] | None:
    """A heartbeat's list of node ids as a sorted tuple, or None when it is not one."""
    if not isinstance(value, list) or len(value) > _MAX_MEMBERS or not all(isinstance(v, str) for v in value):
        return None
    return tuple(sorted(set(value)))


class Membership:
    """Membership of one node. All methods take ``now`` (seconds, monotonic) and return actions."""

    def __init__(self, self_id: str, cloud_name: str, package_version: str, *, cloud_size: int = 1,
                 suspect_after: float = 3.0, dead_after: float = 6.0, probe_after: float = 1.0,
                 max_candidates: int = 64, pinned=(), replication: int = 1, heartbeat_interval: float | None = None):
        self.self_id = self_id
        self.cloud_name = cloud_name
        self.package_version = package_version
        self.cloud_size = cloud_size
        self.suspect_after = suspect_after
        self.dead_after = dead_after
        self.probe_after = probe_after
        self.heartbeat_interval = probe_after if heartbeat_interval is None else heartbeat_interval
        self.max_candidates = max_candidates
        self.replication = replication
        self.pinned = frozenset(pinned)          # flatfile nodes: pinged for good, never forgotten
        self.peers: dict[str, Peer] = {}         # read-only outside this class: change it through events
        self.members: tuple[str, ...] = (self_id,)
        self.epoch = 0                           # member-set changes since the lock
        self.removed: dict[str, int | None] = {}  # former members -> the boot of the process that was removed
        self.back: set[str] = set()              # removed members whose new process answered us (our votes)
        self.locked = False
        self.lock_reason = ""
        self.formed = False
        self.conflicts = 0                       # claims that contradicted what a peer's own address answers
        self._told: dict[str, str] = {}
        self._timing_told: dict[str, tuple] = {}  # peers warned about other failure-detector settings
        self._announced: tuple[str, ...] | None = None
        self._proposed: tuple[str, ...] = self.members   # the set this node last told its peers (before the lock)
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

    def live_members(self) -> list[str]:
        """Members not declared dead (this node included)."""
        return [m for m in self.members if self.state_of(m) not in (DEAD, None)]

    def has_quorum(self, now: float) -> bool:
        """Whether this node hears a quorum of the member set (each answering within ``dead_after``): only then may
        it accept writes once locked (before the lock there is no set to split)."""
        if not self.locked:
            return True
        heard = {self.self_id} | {m for m in self.members if m != self.self_id and (p := self.peers.get(m))
                                  and p.confirmed and p.state != DEAD and now - p.last_heard <= self.dead_after}
        return is_quorum(heard, self.members)

    def heartbeat_fields(self) -> dict:
        return {"members": list(self.members), "hash": self.hash, "locked": self.locked, "formed": self.formed,
                "epoch": self.epoch, "repl": self.replication,
                "dead": sorted(m for m in self.members if self.state_of(m) == DEAD), "back": sorted(self.back),
                **dict(zip(_TIMING_FIELDS, self._timing()))}

    def _timing(self) -> tuple[float, float, float]:
        return (float(self.heartbeat_interval), float(self.suspect_after), float(self.dead_after))

    def initial_actions(self) -> list:
        actions, self._initial_actions = self._initial_actions, []
        return actions

    def ping_targets(self) -> set[str]:
        """Nodes to send heartbeats to: the flatfile's and every peer not refused (dead and removed members too, so
        a partition can heal and a restarted member be found), and candidates, which must answer to be believed."""
        return ({p.node for p in self.peers.values() if p.refused is None} | self.pinned) - {self.self_id}

    # ---------------------------------------------------------------- trusted events
    def on_heartbeat(self, src: str, cloud: str, body: dict, now: float) -> list:
        """A heartbeat that answered ours on our own connection to ``src``."""
        if src == self.self_id:
            return []
        peer = self.peers.get(src)
        if peer is not None and peer.refused is not None and peer.refused_boot == body["boot"]:
            return []                           # the very process refused before: judged already
        if cloud != self.cloud_name:
            return self._refuse_peer(src, body, now, f"cloud name mismatch: this is cloud {self.cloud_name!r}, "
                                                     f"node {src} belongs to cloud {cloud!r}", fatal=False)
        if body["pkg"] != self.package_version:
            return self._refuse_peer(src, body, now, f"version mismatch: this cloud runs aquifer "
                                                     f"{self.package_version}, node {src} runs {body['pkg']}",
                                     fatal=False)
        if body["client"]:
            return []
        repl = body.get("repl", self.replication)
        if repl != self.replication:
            return self._refuse_peer(src, body, now, f"replication mismatch: this cloud keeps {self.replication} "
                                                     f"copies of every value (--replication), node {src} "
                                                     f"{repl!r}", fatal=False)
        actions: list = self._check_timing(src, body)
        if peer is not None and peer.refused is not None:
            # another process answers at a refused address (restarted with other settings), or the node that
            # refused us now answers with a heartbeat: the old refusal does not hold, judge this one afresh
            who = "a new process" if peer.refused_boot is not None else "a heartbeat"
            actions.append(Log("info", f"node {src} answers with {who} (pid {body['pid']}): the earlier refusal "
                                       f"({peer.refused}) no longer holds; judging it again"))
            peer.refused, peer.refused_fatal, peer.refused_boot = None, False, None
        if self.locked:
            return actions + self._locked_heartbeat(src, peer, body, now)
        if peer is None or not peer.confirmed:
            if peer is None:
                peer = self.peers[src] = Peer(src, body["boot"], now)
                actions.append(Connect(src))
            peer.confirmed, peer.boot, peer.state = True, body["boot"], HEALTHY
            actions.append(Log("info", f"heard from new node {src}"))
        elif peer.boot != body["boot"]:
            actions.append(Log("warning", f"node {src} restarted"))
            peer.boot = body["boot"]
            peer.state = HEALTHY
        elif peer.state == DEAD:
            actions.append(Log("info", f"node {src} is back"))
            peer.state = HEALTHY
        peer.info = dict(body)
        actions += self._heard(peer, now)
        theirs = _node_list(body["members"])
        if theirs is not None and not body["locked"]:
            actions += self._learn(theirs, now)
        if body["locked"] and theirs is not None and self.self_id in theirs:
            # a locked cloud that counts this node in (as it formed, or a restarted member): take its set
            actions += self._set_members(theirs, int(body.get("epoch", 0)), f"as listed by {src}", now)
            actions += self.lock(f"this node is a member of cloud {self.cloud_name!r}, locked (told by {src})")
        actions += self._update_formation()
        return actions

    def _locked_heartbeat(self, src: str, peer: Peer | None, body: dict, now: float) -> list:
        actions: list = []
        if src in self.removed:
            if body["boot"] == self.removed[src]:
                return []                       # the removed process itself: it learns so from our answers
            # a new process at a removed member's address: it rejoins once a quorum has heard it
            if peer is None:
                peer = self.peers[src] = Peer(src, body["boot"], now)
                actions.append(Connect(src))
            peer.confirmed, peer.boot, peer.state, peer.info = True, body["boot"], HEALTHY, dict(body)
            peer.last_heard = max(peer.last_heard, now)
            if src not in self.back:
                self.back.add(src)
                actions.append(Log("info", f"node {src} (removed earlier) answers with a new process: it rejoins "
                                           f"as an empty member once a majority of the cloud hears it"))
            return actions + self._reconcile(now)
        if peer is None or not peer.confirmed or src not in self.members:
            return self._refuse_peer(src, body, now, f"cloud is locked: cloud {self.cloud_name!r} no longer "
                                                     f"accepts new members ({self.lock_reason})", fatal=True)
        if peer.boot is None:
            peer.boot = body["boot"]
        elif peer.boot != body["boot"]:
            actions.append(Log("warning", f"node {src} restarted: its old process is lost; it stays a member, "
                                          f"empty, and receives copies"))
            if peer.state != DEAD:
                actions.append(Lost(src, "it restarted"))
            actions.append(Restarted(src))
            peer.boot = body["boot"]
            peer.state = HEALTHY
        elif peer.state == DEAD:
            actions.append(Log("info", f"node {src} answers again (the same process): it stays a member"))
            actions.append(Back(src))
            peer.state = HEALTHY
        peer.info = dict(body)
        actions += self._heard(peer, now)
        actions += self._adopt(src, body, now)
        if any(isinstance(a, Stop) for a in actions):
            return actions
        return actions + self._reconcile(now)

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
        peer.refused_boot = None            # a refusal does not say which process sent it
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
        return actions + self._reconcile(now)

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
            if peer.refused_boot is not None and body["boot"] == peer.refused_boot:
                return [Refuse(src, peer.refused, peer.refused_fatal)]
            # maybe a new process at that address (restarted with its settings fixed), maybe a forgery: answer
            # (our heartbeat tells nothing a candidate is not told) and ping the address; only its own answer
            # (on_heartbeat) clears the refusal. At most one ping per probe interval, whatever is claimed.
            actions: list = [Answer(src)]
            if now - peer.rechecked >= self.probe_after:
                peer.rechecked = now
                actions.append(Ping(src))
            return actions
        if peer is None:
            if self.locked and src not in self.removed:
                return self._tell(src, f"cloud is locked: cloud {self.cloud_name!r} no longer accepts new members "
                                       f"({self.lock_reason})", fatal=True)
            if sum(not p.confirmed for p in self.peers.values()) >= self.max_candidates:
                return [Log("warning", f"ignored a heartbeat from unknown node {src}: {self.max_candidates} nodes "
                                       f"are already waiting to be checked", kind="candidates")]
            self.peers[src] = Peer(src, body["boot"], now)
            return [Connect(src), Answer(src), *self._hasten(self.peers[src], body, now)]
        if peer.confirmed and body["boot"] != peer.boot and peer.boot is not None and peer.state != DEAD:
            return self._conflict(f"a heartbeat claiming to be node {src} (pid {body['pid']}, boot {body['boot']}) "
                                  f"conflicts with the node answering at that address (boot {peer.boot}): not "
                                  f"obeyed")
        # a dead or removed member speaking again: our answer tells it where the cloud stands (a removed process
        # stops when it reads it); pinging its address tells us whether it is the same process
        return [Answer(src), *self._hasten(peer, body, now)]

    def _hasten(self, peer: Peer, body: dict, now: float) -> list:
        """Before the lock, a claim that tells news (a peer not confirmed yet, or a member set other than the one
        its last answer carried) is checked at once with a ping instead of at the next heartbeat, so a cloud
        forms in round trips, not heartbeat intervals. Only the answer is believed; at most one such ping per
        peer per quarter probe interval, whatever is claimed."""
        if self.locked or now - peer.hastened < self.probe_after / 4:
            return []
        if peer.confirmed and peer.info.get("hash") == body.get("hash"):
            return []
        peer.hastened = now
        return [Ping(peer.node)]

    def on_bye(self, src: str, boot: int, now: float) -> list:
        """A goodbye claimed by ``src``: ping it now; it is dead if it no longer answers within ``probe_after``."""
        peer = self.peers.get(src)
        if (peer is None or not peer.confirmed or peer.refused is not None or peer.boot != boot
                or peer.state == DEAD):
            return []
        if peer.probe_since is None:
            peer.probe_since = now
        return [Ping(src)]

    # ---------------------------------------------------------------- the locked member set
    def _coordinator(self) -> str:
        """The smallest member this node sees alive: the one that changes the set (one at a time, no races)."""
        return min(m for m in self.members if m == self.self_id or self.state_of(m) not in (DEAD, None))

    def _voters(self, key: str, node: str) -> set[str]:
        """This node and the live members whose last heartbeat lists ``node`` under ``key`` (dead / back)."""
        votes = {self.self_id}
        for m in self.members:
            peer = self.peers.get(m)
            if m not in (self.self_id, node) and peer is not None and peer.confirmed and peer.state != DEAD \
                    and node in (peer.info.get(key) or ()):
                votes.add(m)
        return votes

    def _reconcile(self, now: float) -> list:
        """As coordinator with a quorum: remove dead members and re-admit restarted ones a quorum agrees on."""
        if not self.locked or self._coordinator() != self.self_id or not self.has_quorum(now):
            return []
        actions: list = []
        for node in sorted(m for m in self.members if self.state_of(m) == DEAD):
            votes = self._voters("dead", node)
            if is_quorum(votes, self.members):
                actions += self._set_members(
                    tuple(m for m in self.members if m != node), self.epoch + 1,
                    f"node {node} is dead; {len(votes)} of {len(self.members)} members agree", now)
        for node in sorted(self.back):
            peer = self.peers.get(node)
            if peer is None or peer.state == DEAD or not peer.confirmed:
                continue
            votes = self._voters("back", node)
            if is_quorum(votes, self.members):
                actions += self._set_members(
                    tuple(sorted((*self.members, node))), self.epoch + 1,
                    f"node {node} restarted and {len(votes)} of {len(self.members)} members hear it: it rejoins "
                    f"as an empty member", now)
        return actions

    def _adopt(self, src: str, body: dict, now: float) -> list:
        """A member's newer set (higher epoch; or the same epoch, another set and a lower hash) replaces ours."""
        theirs = _node_list(body["members"])
        epoch = body.get("epoch", 0)
        if not body["locked"] or theirs is None or not isinstance(epoch, int) or epoch < self.epoch:
            return []
        if theirs == self.members:
            self.epoch = epoch
            return []
        if epoch == self.epoch and member_hash(theirs) >= self.hash:
            return []
        if self.self_id not in theirs:
            why = (f"removed from cloud {self.cloud_name!r}: member {src} reports member set {epoch} "
                   f"({', '.join(theirs)}) without this node, which was declared dead; exiting")
            return [Log("error", why), Stop(why, removed=True)]
        return self._set_members(theirs, epoch, f"adopted from {src}", now)

    def _set_members(self, members: tuple[str, ...], epoch: int, why: str, now: float) -> list:
        old = set(self.members)
        self.members, self.epoch = tuple(sorted(members)), epoch
        actions: list = []
        for node in sorted(old - set(members)):
            peer = self.peers.get(node)
            self.removed[node] = peer.boot if peer is not None else None
            self.back.discard(node)
            if peer is not None and peer.state != DEAD:
                peer.state = DEAD
                actions.append(Lost(node, "it was removed from the cloud"))
        for node in sorted(set(members) - old - {self.self_id}):
            heard = node in self.back          # its new process answered us: we know its boot
            self.removed.pop(node, None)
            self.back.discard(node)
            peer = self.peers.get(node)
            if peer is None:
                peer = self.peers[node] = Peer(node, None, now)
                actions.append(Connect(node))
            if not heard and (not peer.confirmed or peer.state == DEAD):
                peer.boot = None               # the first answer names the process
            peer.confirmed, peer.state, peer.last_heard = True, HEALTHY, max(peer.last_heard, now)
        if self.locked:
            actions.append(MembersChanged(self.members, epoch))
            actions.append(Log("warning", f"cloud {self.cloud_name!r} now has {len(self.members)} members "
                                          f"({', '.join(self.members)}), epoch {epoch}: {why}"))
        return actions

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
        self.back.discard(peer.node)
        actions: list = [Lost(peer.node, why)]
        if self.locked:
            if peer.node in self.members:
                actions.append(Log("error", f"node {peer.node} is dead ({why}); cloud {self.cloud_name!r} goes on "
                                            f"without it once a majority of its members agree"))
        else:
            actions.append(Log("warning", f"node {peer.node} left the proposed cloud ({why})"))
            actions += self._update_formation()
        return actions

    def _refuse_peer(self, src: str, body: dict, now: float, reason: str, *, fatal: bool) -> list:
        """Stop talking to ``src`` (its claims get this refusal from now on); a member lost so is dead."""
        peer = self.peers.get(src)
        if peer is None:
            peer = self.peers[src] = Peer(src, body.get("boot", 0), now)
        peer.refused, peer.refused_fatal, peer.refused_boot = reason, fatal, body.get("boot")
        actions: list = [Log("warning", f"refused node {src}: {reason}")]
        if self.locked and src in self.members and peer.state != DEAD:
            actions += self._mark_dead(peer, "it was refused")
        return actions + self._update_formation()

    def _learn(self, nodes, now: float) -> list:
        """Before the lock, the members a believed peer proposes (its answer came on our own connection, so the
        list is as trustworthy as a flatfile) become candidates: pinged, members only once they answer us
        themselves. Two nodes whose flatfiles list only a third find each other so."""
        actions: list = []
        waiting = sum(not p.confirmed for p in self.peers.values())
        for node in nodes:
            if node == self.self_id or node in self.peers or not valid_node_id(node):
                continue
            if waiting >= self.max_candidates:
                break
            self.peers[node] = Peer(node, None, now)
            waiting += 1
            actions.append(Connect(node))
        return actions

    def _check_timing(self, src: str, body: dict) -> list:
        """One warning per peer (and again for another process there with other settings) whose failure detector
        is set otherwise: removing a lost member waits for a majority's detectors, so for the slower ones."""
        theirs = tuple(body.get(f) for f in _TIMING_FIELDS)
        if any(not isinstance(v, (int, float)) or isinstance(v, bool) for v in theirs):
            return []                           # a heartbeat without them (older within this version)
        mine = self._timing()
        told = (body["boot"], theirs)
        if tuple(float(v) for v in theirs) == mine or self._timing_told.get(src) == told:
            return []
        if src not in self._timing_told and len(self._timing_told) >= _TOLD_LIMIT:
            self._timing_told.pop(next(iter(self._timing_told)))
        self._timing_told[src] = told
        there = ", ".join(f"{flag} {v:g}" for flag, v in zip(_TIMING_FLAGS, theirs))
        here = ", ".join(f"{flag} {v:g}" for flag, v in zip(_TIMING_FLAGS, mine))
        return [Log("warning", f"node {src} detects failures with other settings ({there}) than this node "
                               f"({here}): a lost member is removed only once a majority of the members' detectors "
                               f"declare it dead, so failover waits for the slower ones; give every node the same "
                               f"settings")]

    def formation_report(self) -> dict:
        """Why the cloud has not formed, as this node sees it (empty lists once it has): flatfile entries that
        never answered (``silent``), peers that stopped answering (``lost``), refused peers and why (``refused``),
        members that propose another set (``disagree``), candidates that have not answered yet (``checking``)."""
        report = {"members": list(self.members), "cloud_size": self.cloud_size, "silent": [], "lost": [],
                  "refused": {}, "disagree": [], "checking": []}
        if self.formed:
            return report
        for node in sorted(self.pinned - {self.self_id}):
            peer = self.peers.get(node)
            if peer is None or (not peer.confirmed and peer.refused is None):
                report["silent"].append(node)
        for node, peer in sorted(self.peers.items()):
            if peer.refused is not None:
                report["refused"][node] = peer.refused
            elif peer.confirmed and peer.state == DEAD:
                report["lost"].append(node)
            elif not peer.confirmed and node not in self.pinned:
                report["checking"].append(node)
        my_hash = self.hash
        report["disagree"] = [m for m in self.members if m != self.self_id
                              and self.peers[m].info.get("hash") != my_hash]
        return report

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
        if not self.locked and self.members != self._proposed:
            # a new proposal: tell the members now (their _hasten pings back), not at the next heartbeat
            self._proposed = self.members
            actions += [Ping(m) for m in self.members if m != self.self_id]
        self.formed = formed
        if formed and self._announced != self.members:
            self._announced = self.members
            actions.append(Formed(self.members))
            actions.append(Log("info", f"cloud formed: name={self.cloud_name} size={len(self.members)} "
                                       f"members={','.join(self.members)}"))
        return actions
