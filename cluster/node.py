"""A node of the cloud: one asyncio event loop for all networking and control, a compute pool for work.

Run one per machine (or several per machine on different ports)::

    python -m cluster.node --flatfile nodes.txt --port 54321 --name mycloud

The node heartbeats to every peer it knows (the flatfile's, plus everyone who heartbeats to it), forms a
cloud when the members agree, serves RPCs, and shuts down cleanly on SIGTERM/SIGINT (exit 0). Refused by a
locked cloud it exits with status 3; removed from its cloud (declared dead by a majority while it was paused or
cut off) with status 4, instead of running on alone. Higher layers (DKV, MRTask) register their RPC ops on it.
"""
from __future__ import annotations

import argparse
import asyncio
import importlib
import importlib.util
import ipaddress
import logging
import os
import signal
import socket
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

from . import membership as ms
from . import protocol
from .blas import single_threaded_blas
from .config import PACKAGE_VERSION, WEB_PLUGIN, NodeConfig, parse_size
from .dkv import DKV
from .errors import (AquiferError, CloudNotFormedError, NodeLostError, NoQuorumError, ProtocolError,
                     RequestRefusedError, RpcTimeoutError)
from .flatfile import guess_own_ip, read_flatfile, resolve
from .gateway import GatewayWatch
from .jobs import JobService
from .machine import free_memory_bytes
from .mrtask import MRService
from .replicas import Rebalancer
from .ratelog import RateLimitedLog
from .rpc import HandlerTimeout, Rpc, exception_from_map, own_timeouts_wrapped
from .security import load_keys
from .transport import Transport

log = logging.getLogger("aquifer.node")

EXIT_REFUSED = 3
EXIT_REMOVED = 4            # declared dead and removed by the majority: this process must not run on alone
SHUTDOWN_DELAY = 0.2     # seconds between answering a shutdown request and stopping
FORMATION_LOG_INTERVAL = 10.0   # seconds between "cloud ... has not formed" lines while it has not

# the node's services (as dask's server extensions): each is built with the node, registers its ops and owns its
# state; others reach it as node.services[name] (or the dkv/mr/jobs shortcuts) and through its public methods
DEFAULT_SERVICES: dict[str, Callable] = {"dkv": DKV, "replicas": Rebalancer, "mr": MRService, "jobs": JobService}


def load_plugins(names) -> list:
    """Import the plugin modules that give this node its ops, task classes and atomic functions.

    The runtime knows the higher layers only by these module names (``NodeConfig.plugins``: ``frame.plugin``,
    ``algos.plugin``, ``web.plugin``, plus ``--plugin MODULE``), so a message can only ever reach code one of
    them registered. A module's ``register_node(node)``, if it has one, is called with each node (to register
    op handlers or services); ``async start_node(node)`` / ``async stop_node(node)`` are awaited on the node's
    loop once its sockets are bound, and first thing when it stops (members only, a client binds nothing): how
    a plugin runs a server of its own. A default plugin that is not installed is skipped.
    """
    modules = []
    for name in names:
        try:
            modules.append(importlib.import_module(name.strip()))
        except ModuleNotFoundError as exc:
            if exc.name != name.strip():
                raise
            log.debug("plugin %s not installed", name)
    return modules


class Node:
    """One cloud node (or, with ``config.client``, a client that calls into a cloud through a gateway).

    Layers above use: ``id``, ``members``, ``live_members``, ``await call(node, op, args)``,
    ``register(op, handler)``, ``await run_compute(fn, *args)``, ``await lock(reason)``, ``check_quorum()``,
    ``on_lost(callback)``, ``on_members(callback)``, ``services`` (``dkv``, ``mr``, ``jobs``),
    ``add_service(name, service)``, ``key_count`` hook, ``endpoints`` (what a plugin serves, by name: its URL). A
    client (``config.client``) calls through its ``gateway``, which ``watch`` moves to another member when it is
    lost.
    """

    def __init__(self, config: NodeConfig, *, gateway: str | None = None, addresses: list[str] | None = None,
                 services: dict[str, Callable] | None = None):
        config.validate()
        self.config = config
        self.boot = time.time_ns() // 1000
        # a client binds nothing, so it is named after its process rather than an address
        self.id = f"client:{socket.gethostname()}:{os.getpid()}:{self.boot}" if config.client else config.node_id
        self.gateway = gateway
        self.keys = load_keys(config.security_dir, config.identity, server=not config.client) \
            if config.security_dir else None
        self.warnings = RateLimitedLog(log, burst=config.drop_log_burst, interval=config.drop_log_interval)
        self._flatfile_ids = [f"{resolve(h)}:{p}" for h, p in config.flatfile_peers]
        self.membership = ms.Membership(self.id, config.name, PACKAGE_VERSION, cloud_size=config.cloud_size,
                                        suspect_after=config.suspect_after, dead_after=config.dead_after,
                                        probe_after=config.heartbeat_interval,
                                        max_candidates=config.max_candidates, pinned=self._flatfile_ids,
                                        replication=config.replication,
                                        heartbeat_interval=config.heartbeat_interval)
        self.transport = Transport(config, self.boot, self._on_frames, keys=self.keys, warn=self.warnings.warning)
        self.rpc = Rpc(self.id, self._send_message, self._send_reply, config.rpc_timeout,
                       peer_inbound_bytes=config.peer_inbound_bytes, gate=self._catch_up)
        self.pool = ThreadPoolExecutor(max_workers=config.compute_threads, thread_name_prefix="aquifer-compute",
                                       initializer=single_threaded_blas)
        self.dropped: Counter = Counter()
        self.endpoints: dict[str, str] = {}     # what plugins serve besides the cluster port ("web": its URL)
        self.key_count: Callable[[], int] = lambda: 0
        self.copy_backlog: Callable[[], int] = lambda: 0       # key copies this node still has to send
        self.status_fields: list[Callable[[], dict]] = []    # services add what `status()` reports of them
        self.refused_reason: str | None = None
        self.removed = False                   # stopped because the cloud removed this node
        self.watch = GatewayWatch(self, addresses or [gateway]) if config.client else None
        self.formed_event = asyncio.Event()
        self.stopped = asyncio.Event()
        self._heard = asyncio.Event()          # replaced (after being set) at each heartbeat answer
        self._lost_callbacks: list[Callable[[str, str], None]] = []
        self._member_callbacks: list[Callable[[Any], None]] = []
        self._tasks: list[asyncio.Task] = []
        self._stopping: asyncio.Future | None = None
        self._free_mem = (0.0, 0)              # (when read, MemAvailable): read at most once per heartbeat
        self._unformed_since: float | None = None   # when the cloud was last seen not formed (progress lines)
        self._next_formation_log = 0.0
        self._register_builtin_ops()
        self.services: dict[str, Any] = {}
        for name, factory in (DEFAULT_SERVICES if services is None else services).items():
            self.add_service(name, factory(self))
        self.plugins = load_plugins(config.plugins)
        for module in self.plugins:
            register = getattr(module, "register_node", None)
            if register is not None:
                register(self)

    def add_service(self, name: str, service: Any) -> None:
        """Plug a service into this node (it has registered its ops itself)."""
        if name in self.services:
            raise ValueError(f"node {self.id} already has a service named {name!r}")
        self.services[name] = service

    @property
    def dkv(self) -> DKV:
        return self.services["dkv"]

    @property
    def mr(self) -> MRService:
        return self.services["mr"]

    @property
    def jobs(self) -> JobService:
        return self.services["jobs"]

    # ------------------------------------------------------------------ life cycle
    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        if self.config.client:
            self.transport.dealer(self.gateway)
            self._tasks.append(loop.create_task(self.watch.run()))
            return
        if self.keys is None and not ipaddress.ip_address(self.config.ip).is_loopback:
            log.warning("*" * 100)
            log.warning("SECURITY: node %s listens on a non-loopback address WITHOUT a security dir: anyone who can "
                        "reach port %d can read, change and delete this cloud's data and run its tasks. Start "
                        "every node with --security-dir DIR (python -m tools.admin keygen DIR), or use "
                        "--require-security to refuse to start without one (docs/security.md).",
                        self.id, self.config.cluster_port)
            log.warning("*" * 100)
        self.transport.bind()
        self._apply(self.membership.initial_actions())
        self._tasks.append(loop.create_task(self._heartbeat_loop()))
        for module in self.plugins:
            hook = getattr(module, "start_node", None)
            if hook is not None:
                await hook(self)
        log.info("node %s started (cloud %r, cluster port %d, pid %d, %s)", self.id, self.config.name,
                 self.config.cluster_port, os.getpid(),
                 f"CURVE security from {self.keys.directory}" if self.keys else "no security")

    async def stop(self) -> None:
        """Say goodbye to the peers, stop serving, close every socket and the compute pool.
        Safe to call several times and from several tasks: all wait for the one shutdown."""
        if self._stopping is None:
            self._stopping = asyncio.ensure_future(self._stop())
        await asyncio.shield(self._stopping)

    async def _stop(self) -> None:
        self.stopped.set()
        if not self.config.client:
            for module in self.plugins:
                hook = getattr(module, "stop_node", None)
                if hook is not None:
                    try:
                        await hook(self)
                    except Exception:           # a plugin's failure must not keep the node from stopping
                        log.exception("plugin %s failed to stop", module.__name__)
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if not self.config.client:
            bye = protocol.encode("bye", src=self.id, cloud=self.config.name, body={"boot": self.boot})
            for node in self.membership.ping_targets():
                if self.membership.state_of(node) not in (None, ms.DEAD):
                    await self.transport.send(node, bye, deadline=None, droppable=True)
            await asyncio.sleep(self.config.goodbye_flush)       # let the io thread push the goodbyes out
        await self.rpc.close()
        self.rpc.fail_all(lambda n: NodeLostError(self.id, "this node is shutting down"))
        await self.transport.close()
        self.pool.shutdown(wait=True, cancel_futures=True)
        log.info("node %s stopped", self.id)

    # ------------------------------------------------------------------ API for the layers above
    @property
    def members(self) -> tuple[str, ...]:
        return self.membership.members

    @property
    def live_members(self) -> list[str]:
        """Members not declared dead (for a client: those its gateway named, less the lost ones)."""
        if self.config.client:
            return [m for m in self.watch.known if m not in self.watch.lost]
        return self.membership.live_members()

    @property
    def locked(self) -> bool:
        return self.membership.locked

    def is_dead(self, node: str) -> bool:
        if self.config.client:
            return node in self.watch.lost
        return self.membership.state_of(node) == ms.DEAD

    def check_quorum(self) -> None:
        """Refuse a write or a task on the minority side: this node must hear a majority of its cloud's members
        (``NoQuorumError``), so that two halves of a partition never both accept writes."""
        m = self.membership
        if self.config.client or m.has_quorum(time.monotonic()):
            return
        heard = len(m.live_members())
        raise NoQuorumError(f"node {self.id} hears {heard} of the {len(m.members)} members of cloud "
                            f"{self.config.name!r}: it is on the minority side of a partition (or most members are "
                            f"gone) and refuses writes and tasks until it hears a majority")

    def register(self, op: str, handler) -> None:
        self.rpc.register(op, handler)

    def on_lost(self, callback: Callable[[str, str], None]) -> None:
        """``callback(node, reason)`` runs on the loop when a member is declared dead."""
        self._lost_callbacks.append(callback)

    def on_members(self, callback: Callable[[Any], None]) -> None:
        """``callback(event)`` runs on the loop for each membership event that moves data: ``ms.Lost``,
        ``ms.Restarted``, ``ms.Back`` and ``ms.MembersChanged`` (see :mod:`cluster.membership`)."""
        self._member_callbacks.append(callback)

    async def call(self, node: str, op: str, args: dict | None = None, *, timeout: float | None = None,
                   retries: int | None = None) -> Any:
        """Call ``op`` on ``node`` (this node included: a local call takes the same path as a remote one)."""
        if node == self.id:
            return await self._call_local(op, args or {}, timeout)
        if self.config.client:
            node = await self.watch.usable(node)
            if node != self.gateway and node not in self.watch.known:
                raise ValueError(f"a client calls only members of its cloud (gateway {self.gateway}), not {node}")
        elif node not in self.members:        # a request never makes a node reach out to an address it was given
            if node in self.membership.removed:
                raise NodeLostError(node, f"it was removed from cloud {self.config.name!r}: cannot call {op}")
            raise LookupError(f"node {node!r:.100} is not a member of cloud {self.config.name!r}")
        return await self.rpc.call(node, op, args, timeout=timeout, retries=retries, is_dead=self.is_dead)

    async def _call_local(self, op: str, args: dict, timeout: float | None):
        spec = protocol.OPS.get(op)
        if spec is None:
            raise ValueError(f"unknown op {op!r}")
        protocol.validate(f"op {op} args", args, spec[0])
        handler = self.rpc.handlers.get(op)
        if handler is None:
            raise LookupError(f"op {op!r} is not served by node {self.id}")
        try:
            return await asyncio.wait_for(own_timeouts_wrapped(handler(**args)), timeout or self.config.rpc_timeout)
        except (AquiferError, asyncio.CancelledError):
            raise
        except HandlerTimeout as wrapped:      # the handler's own TimeoutError, not this call's deadline
            exc = wrapped.__cause__
            if isinstance(exc, AquiferError):
                raise exc from None
            raise exception_from_map(self.rpc.error_map(exc), self.id) from exc
        except asyncio.TimeoutError:
            raise RpcTimeoutError(f"{op} on node {self.id} did not finish within "
                                  f"{timeout or self.config.rpc_timeout:g} s") from None
        except Exception as exc:        # same error type whether the handler ran here or elsewhere
            raise exception_from_map(self.rpc.error_map(exc), self.id) from exc

    def spawn(self, coro) -> asyncio.Task:
        """Run a background coroutine of a service on the loop until the node stops."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks = [t for t in self._tasks if not t.done()] + [task]
        return task

    async def run_compute(self, fn: Callable, *args) -> Any:
        """Run heavy work on the compute pool so the loop keeps heartbeating."""
        return await asyncio.get_running_loop().run_in_executor(self.pool, fn, *args)

    async def wait_formed(self, timeout: float) -> None:
        """Wait for the cloud to form; CloudNotFormedError (not a TimeoutError: no request's deadline expired)
        names the members so far and what keeps the others out."""
        try:
            await asyncio.wait_for(self.formed_event.wait(), timeout)
        except asyncio.TimeoutError:
            notes = self.formation_notes()
            raise CloudNotFormedError(
                f"cloud {self.config.name!r} did not form within {timeout:g} s: members agreeing so far "
                f"{list(self.members)}, expected at least {self.config.cloud_size}"
                + (f" ({'; '.join(notes)})" if notes else "")) from None

    async def lock(self, reason: str) -> None:
        """Freeze membership (first data write or job). Waits for the cloud to form first."""
        if self.config.client or self.membership.locked:
            return
        try:
            await self.wait_formed(self.config.lock_timeout)
        except CloudNotFormedError as exc:
            self.warnings.warning("not_formed", "the %s was refused: %s", reason, exc)
            raise
        self._apply(self.membership.lock(reason))
        # tell everyone now rather than at the next heartbeat, so no write reaches an unlocked member
        await asyncio.gather(*(self.call(m, "cloud.lock", {"reason": reason}, timeout=self.config.control_timeout)
                               for m in self.members if m != self.id and not self.is_dead(m)),
                             return_exceptions=True)

    def status(self) -> dict:
        """The cloud as this node sees it: the structure ``tools.admin cloud --json`` prints."""
        m = self.membership
        now = time.monotonic()
        rows = []
        for node in (*m.members, *sorted(m.removed)):
            removed = node in m.removed
            if node == self.id:
                rows.append({"node": node, "state": ms.HEALTHY, "last_heartbeat_age_s": 0.0,
                             "cores": os.cpu_count() or 1, "free_mem_bytes": free_memory_bytes(),
                             "keys": int(self.key_count()), "pid": os.getpid(), "removed": False,
                             "copying": int(self.copy_backlog())})
                continue
            peer = m.peer(node)
            if peer is None:
                continue
            rows.append({"node": node, "state": ms.DEAD if removed else peer.state,
                         "last_heartbeat_age_s": round(now - peer.last_heard, 3),
                         "cores": peer.info.get("cores", 0), "free_mem_bytes": peer.info.get("free_mem", 0),
                         "keys": peer.info.get("keys", 0), "pid": peer.info.get("pid", 0), "removed": removed,
                         "copying": peer.info.get("copying", 0)})
        st = {"name": self.config.name, "size": len(m.members), "cloud_size": self.config.cloud_size,
              "formed": m.formed, "locked": m.locked, "healthy": m.healthy and m.formed, "epoch": m.epoch,
              "quorum": m.has_quorum(now), "members": rows,
              "formation": self.formation_notes()}      # why it has not formed yet (empty once formed)
        for fields in self.status_fields:
            st.update(fields())
        return st

    def formation_notes(self) -> list[str]:
        """What keeps the cloud from forming, as this node sees it, one short sentence each (empty once formed):
        flatfile entries that never answered, refused peers and why, members proposing another set, and a
        flatfile entry that looks like this node at another address or port."""
        m, cfg = self.membership, self.config
        if m.formed:
            return []
        r = m.formation_report()
        notes = []
        if r["silent"]:
            notes.append(f"no answer from flatfile entr{'y' if len(r['silent']) == 1 else 'ies'} "
                         f"{', '.join(r['silent'])} (is a node of cloud {cfg.name!r} running there? an entry is a "
                         f"node's --port; nodes talk on port+1)")
        if r["checking"]:
            notes.append(f"waiting for an answer from {', '.join(r['checking'])}")
        if r["lost"]:
            notes.append(f"stopped answering: {', '.join(r['lost'])}")
        for node, why in r["refused"].items():
            notes.append(f"refused {node}: {why}")
        if r["disagree"]:
            notes.append(f"{', '.join(r['disagree'])} propose{'s' if len(r['disagree']) == 1 else ''} another "
                         f"member set (each sees other peers: check the flatfiles)")
        if self._flatfile_ids and self.id not in self._flatfile_ids:
            cluster_port = f"{cfg.ip}:{cfg.port + 1}"
            elsewhere = [e for e in self._flatfile_ids if e.rpartition(":")[2] == str(cfg.port)]
            if cluster_port in self._flatfile_ids:
                notes.append(f"the flatfile lists {cluster_port}, this node's cluster port: list each node's REST "
                             f"port (--port, here {cfg.port}); the cluster port is port+1")
            elif elsewhere:
                notes.append(f"this node listens at {self.id}, but the flatfile lists {elsewhere[0]}: peers look "
                             f"for it there (start it with --ip {elsewhere[0].rpartition(':')[0]}, or list "
                             f"{self.id})")
        if not notes and len(m.members) < cfg.cloud_size:
            notes.append(f"{len(m.members)} node(s) of cloud {cfg.name!r} found, --cloud-size is {cfg.cloud_size}: "
                         f"start more nodes (listed in the flatfile) or lower --cloud-size")
        return notes

    def _log_formation(self, now: float) -> None:
        """Every FORMATION_LOG_INTERVAL while the cloud has not formed: one line saying how far it got and why."""
        m = self.membership
        if m.formed:
            self._unformed_since = None
            return
        if self._unformed_since is None:
            self._unformed_since, self._next_formation_log = now, now + FORMATION_LOG_INTERVAL
            return
        if now < self._next_formation_log:
            return
        self._next_formation_log = now + FORMATION_LOG_INTERVAL
        notes = self.formation_notes()
        log.warning("cloud %r has not formed after %.0f s: %d of %d members (%s)%s", self.config.name,
                    now - self._unformed_since, len(m.members), self.config.cloud_size, ", ".join(m.members),
                    "; " + "; ".join(notes) if notes else "")

    # ------------------------------------------------------------------ built-in ops
    def _register_builtin_ops(self) -> None:
        async def echo(x=None):
            return x

        async def cloud_status():
            return self.status()

        async def cloud_lock(reason):
            self._apply(self.membership.lock(reason))
            return True

        async def node_stats():
            return {"node": self.id, "dropped": dict(self.dropped), "transport": dict(self.transport.counters),
                    "pid": os.getpid(), "members": list(self.members),
                    "membership_conflicts": self.membership.conflicts, "dkv": self.dkv.memory(),
                    "security": self.keys is not None}

        async def node_ping():
            return {"node": self.id, "members": self.membership.live_members(), "epoch": self.membership.epoch}

        async def node_shutdown():
            # stop after this reply has left (a stop closes the sockets the reply goes out on)
            asyncio.get_running_loop().call_later(SHUTDOWN_DELAY, lambda: asyncio.ensure_future(self.stop()))
            return self.id

        async def cloud_shutdown():
            """Stop every live member, this one last (H2O's /3/Shutdown). Dead and removed members (and, before
            the lock, peers that stopped answering) cannot be asked: they are named under ``unreachable`` too (the
            log line says why for each), so that an operator stops them by hand (a paused one resumes otherwise)."""
            m = self.membership
            others = [n for n in self.members if n != self.id and not self.is_dead(n)]
            why = {n: "dead" for n in self.members if n != self.id and self.is_dead(n)}
            why.update({n: "removed from the cloud" for n in sorted(m.removed)})
            if not m.locked:                    # a peer that stopped answering left the proposed set
                why.update({n: "stopped answering" for n, p in sorted(m.peers.items())
                            if p.confirmed and p.state == ms.DEAD and p.refused is None and n not in why})
            answers = await asyncio.gather(*(self.call(n, "node.shutdown", timeout=5.0) for n in others),
                                           return_exceptions=True)
            stopping = [self.id, *(n for n, a in zip(others, answers) if a == n)]
            why.update({n: f"no answer ({type(a).__name__})" if isinstance(a, BaseException) else "no answer"
                        for n, a in zip(others, answers) if a != n})
            unreached = ", ".join(f"{n} ({w})" for n, w in why.items())
            log.info("cloud shutdown requested: stopping %d member(s)%s", len(stopping),
                     f"; not reached (stop them by hand): {unreached}" if why else "")
            await node_shutdown()
            return {"stopping": stopping, "unreachable": list(why)}

        self.register("echo", echo)
        self.register("node.ping", node_ping)
        self.register("cloud.status", cloud_status)
        self.register("cloud.lock", cloud_lock)
        self.register("node.stats", node_stats)
        self.register("node.shutdown", node_shutdown)
        self.register("cloud.shutdown", cloud_shutdown)

    # ------------------------------------------------------------------ messages in
    def _drop(self, kind: str, text: str) -> None:
        self.dropped[kind] += 1
        self.warnings.warning(kind, "dropped a message (%s): %s", kind, text)

    def _on_frames(self, frames: list, identity: bytes | None, node: str | None) -> None:
        """A message from the ROUTER connection ``identity`` (anyone), or from ``node`` on our own DEALER."""
        try:
            msg = protocol.decode(frames, max_bytes=self.config.max_message_bytes)
        except ProtocolError as exc:
            self._drop(exc.kind, str(exc))
            if identity is not None and exc.header is not None and not self.config.client:
                self._answer_invalid(exc, identity)
            return
        except Exception as exc:            # never let a message take the loop down
            self.dropped["internal"] += 1
            log.exception("dropped a message that broke decoding: %r", exc)
            return
        try:
            if node is None:
                self._on_listening(msg, identity)
            else:
                self._on_connection(msg, node)
        except Exception:
            self.dropped["handler"] += 1
            log.exception("error while handling a %s message from %s", msg.type, msg.src)

    def _answer_invalid(self, exc: ProtocolError, identity: bytes) -> None:
        """A request that cannot be decoded is answered with the reason; a heartbeat of another protocol
        version with a refusal (the refuse message is the same in every version)."""
        header = exc.header
        if header["t"] == "req":
            self.rpc.refuse(identity, header["id"], str(exc), exc.kind)
        elif header["t"] == "hb" and exc.kind == "version":
            reason = (f"version mismatch: node {self.id} speaks protocol {protocol.PROTOCOL_VERSION}, "
                      f"node {header['src']} speaks {header['v']}")
            self._apply([ms.Refuse(str(header["src"]), reason, False)], identity)

    def _on_listening(self, msg: protocol.Message, identity: bytes) -> None:
        """A message on the listening (ROUTER) socket: requests to serve, and claims about membership."""
        if self.stopped.is_set():
            return
        now = time.monotonic()
        if msg.type == "req":
            try:
                protocol.check_request(msg.body)
            except ProtocolError as exc:
                self._drop(exc.kind, str(exc))
                self.rpc.refuse(identity, msg.id, str(exc), exc.kind)
                return
            # a client that has not learnt the cloud's name yet sends ""
            if msg.cloud not in (self.config.name, ""):
                self._drop("wrong_cloud", f"a request for cloud {msg.cloud!r:.60} from {msg.src:.100}")
                self.rpc.refuse(identity, msg.id, f"node {self.id} is not a member of cloud {msg.cloud!r}",
                                "wrong_cloud")
                return
            m = self.membership
            if m.locked and (msg.src in m.removed or self.is_dead(msg.src)) and msg.src not in m.back \
                    and msg.body.get("epoch", 0) <= m.epoch:
                # a member cut off (or removed) asks: its requests may be old ones a healed link delivers late (a
                # sender that knows a newer member set, or a new process at a removed member's address, is heard)
                self.rpc.refuse(identity, msg.id, f"node {msg.src:.100} is dead or was removed from cloud "
                                                  f"{self.config.name!r} (as node {self.id} sees it)", "removed")
                return
            self.rpc.on_request(msg, identity)
        elif msg.type == "cancel":
            self.rpc.on_cancel(msg, identity)
        elif msg.type == "hb":
            self._apply(self.membership.on_claim(msg.src, msg.cloud, msg.body, now), identity)
        elif msg.type == "bye":
            if msg.cloud == self.config.name:
                self._apply(self.membership.on_bye(msg.src, msg.body["boot"], now))
        else:                       # replies and refusals answer what this node sent: they come on its DEALERs
            self._drop("untrusted", f"a {msg.type} message from {msg.src:.100} came in on the listening port")

    def _on_connection(self, msg: protocol.Message, node: str) -> None:
        """A message on our own DEALER to ``node``: answers from whoever listens at that node's address."""
        if msg.src != node:
            self._drop("untrusted", f"a {msg.type} message on the connection to {node} names {msg.src:.100}")
            return
        now = time.monotonic()
        if msg.type == "rep":
            self._apply(self.membership.on_traffic(node, now))
            if not self.rpc.on_reply(msg, node):
                self._drop("untrusted", f"a reply from {node} answers no request made to it")
        elif msg.type == "hb" and not self.config.client:
            self._apply(self.membership.on_heartbeat(node, msg.cloud, msg.body, now))
            heard, self._heard = self._heard, asyncio.Event()
            heard.set()                        # wakes requests waiting for a newer member set (_catch_up)
        elif msg.type == "refuse" and not self.config.client:
            self._apply(self.membership.on_refused(node, msg.cloud, msg.body["reason"], msg.body["fatal"], now))
        else:
            self._drop("untrusted", f"a {msg.type} message from {node} on a connection this node opened")

    # ------------------------------------------------------------------ messages out
    async def _send_message(self, node: str, mtype: str, msg_id: int, body: dict, *, deadline,
                            droppable: bool = False) -> None:
        if mtype == "req" and self.membership.locked:
            body = {**body, "epoch": self.membership.epoch}      # a receiver fences off a removed sender by it
        frames = protocol.encode(mtype, src=self.id, cloud=self.config.name, msg_id=msg_id, body=body)
        protocol.check_size(frames, self.config.max_message_bytes, f"a {body.get('op', mtype)} message to {node}")
        queued = await self.transport.send(node, frames, deadline=deadline, droppable=droppable,
                                           still_wanted=lambda: not self.is_dead(node))
        if not queued and not droppable:
            if self.is_dead(node):
                raise NodeLostError(node, f"cannot send {mtype}")
            raise NodeLostError(node, "no connection could be made before the deadline")

    async def _catch_up(self, msg: protocol.Message) -> None:
        """A request sent under a newer member set than this node knows (a member just re-admitted, asked to work
        before it heard the cloud's answer) waits until this node has adopted it: served under the old view it
        would look for keys on the wrong holders. A known member that sent it is pinged, so its answer carries
        the set at once; after a few heartbeats the request is refused, naming both epochs."""
        epoch, m = msg.body.get("epoch", 0), self.membership
        if epoch <= m.epoch:
            return
        interval = self.config.heartbeat_interval
        peer = m.peers.get(msg.src)            # only a node already known is pinged (no new connections)
        if peer is not None and peer.refused is None:
            loop = asyncio.get_running_loop()
            await self.transport.send(msg.src, self._heartbeat_frames(), deadline=loop.time() + interval,
                                      droppable=False)
        deadline = time.monotonic() + 3 * interval
        while m.epoch < epoch:
            heard = self._heard                # set by the next heartbeat answer (where a new set comes from)
            left = deadline - time.monotonic()
            if left <= 0:
                raise RequestRefusedError(f"node {self.id} knows member set epoch {m.epoch}; the request from "
                                          f"{msg.src:.100} was sent under epoch {epoch}, which this node has not "
                                          f"heard of: try again", kind="behind")
            try:
                await asyncio.wait_for(heard.wait(), left)
            except asyncio.TimeoutError:
                pass

    async def _send_reply(self, reply_to: bytes, msg_id: int, body: dict) -> None:
        frames = protocol.encode("rep", src=self.id, cloud=self.config.name, msg_id=msg_id, body=body)
        protocol.check_size(frames, self.config.max_message_bytes, "the reply")
        await self.transport.reply(reply_to, frames)

    def _heartbeat_frames(self) -> list:
        now = time.monotonic()
        if now - self._free_mem[0] >= self.config.heartbeat_interval:
            self._free_mem = (now, free_memory_bytes())
        body = {"boot": self.boot, "pid": os.getpid(), "cores": os.cpu_count() or 1,
                "free_mem": self._free_mem[1], "keys": int(self.key_count()), "pkg": PACKAGE_VERSION,
                "copying": int(self.copy_backlog()),
                "client": False, **self.membership.heartbeat_fields()}
        return protocol.encode("hb", src=self.id, cloud=self.config.name, body=body)

    async def _heartbeat_loop(self) -> None:
        """Send a heartbeat every interval (every quarter interval until the cloud forms); run the failure detector
        four times as often, so a peer is declared dead within a quarter interval of ``dead_after`` (not up to a
        whole interval late)."""
        interval = self.config.heartbeat_interval
        next_beat = 0.0
        while True:
            now = time.monotonic()
            self._apply(self.membership.tick(now))
            self._log_formation(now)
            if now >= next_beat:
                next_beat = now + interval
                await self._send_heartbeats()
                self.warnings.flush()
            elif not self.membership.formed:
                # a first heartbeat to a node still starting is dropped (IMMEDIATE: no connection yet); until the
                # cloud forms, beat every quarter interval so it forms within one of the last node's start
                await self._send_heartbeats()
            await asyncio.sleep(interval / 4)

    async def _send_heartbeats(self) -> None:
        frames = self._heartbeat_frames()
        for node in self.membership.ping_targets():
            await self.transport.send(node, frames, deadline=None, droppable=True)

    # ------------------------------------------------------------------ membership actions
    def _apply(self, actions: list, reply_to: bytes | None = None) -> None:
        """Carry out membership's actions; ``reply_to`` is the connection of the claim being answered."""
        loop = asyncio.get_running_loop()
        for action in actions:
            if isinstance(action, ms.Log):
                if action.kind:
                    self.dropped[f"membership_{action.kind}"] += 1
                    self.warnings.warning(action.kind, "%s", action.text)
                else:
                    getattr(log, action.level)(action.text)
            elif isinstance(action, ms.Connect):
                self.transport.dealer(action.node)
            elif isinstance(action, ms.Disconnect):
                self.transport.close_dealer(action.node)
            elif isinstance(action, ms.Ping):
                loop.create_task(self.transport.send(action.node, self._heartbeat_frames(), deadline=None,
                                                     droppable=True))
            elif isinstance(action, ms.Answer) and reply_to is not None:
                loop.create_task(self.transport.reply(reply_to, self._heartbeat_frames()))
            elif isinstance(action, ms.Refuse) and reply_to is not None:
                frames = protocol.encode("refuse", src=self.id, cloud=self.config.name,
                                         body={"reason": action.reason, "fatal": action.fatal})
                loop.create_task(self.transport.reply(reply_to, frames))
            elif isinstance(action, ms.Formed):
                self.formed_event.set()
            elif isinstance(action, ms.Lost):
                self.rpc.fail_node(action.node, action.reason)
                for cb in self._lost_callbacks:
                    try:
                        cb(action.node, action.reason)
                    except Exception:
                        log.exception("node-lost callback failed")
            elif isinstance(action, ms.Stop):
                self.refused_reason = action.reason
                self.removed = action.removed
                loop.create_task(self.stop())
            if isinstance(action, (ms.Lost, ms.Restarted, ms.Back, ms.MembersChanged)):
                for cb in self._member_callbacks:
                    try:
                        cb(action)
                    except Exception:
                        log.exception("membership callback failed")
        if not self.membership.formed and self.formed_event.is_set() and not self.membership.locked:
            self.formed_event.clear()


# ---------------------------------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    d = NodeConfig()
    p = argparse.ArgumentParser(
        prog="python -m cluster.node",
        description="Start one aquifer node. Nodes listed in a common flatfile find each other and form a cloud.")
    p.add_argument("--flatfile", help="file of peers, one ip:port per line (# comments); port = REST port, "
                                      "the cluster port is port+1. This node is implied.")
    p.add_argument("--port", type=int, default=d.port, help=f"REST/web port (default {d.port}); cluster port is +1")
    p.add_argument("--ip", help="address to bind and advertise (default: the one that routes to the peers)")
    p.add_argument("--name", default=d.name, help=f"cloud name; nodes of other names are refused (default {d.name!r})")
    p.add_argument("--cloud-size", type=int, default=d.cloud_size,
                   help="members needed before the cloud counts as formed (default 1)")
    p.add_argument("--heartbeat-interval", type=float, default=d.heartbeat_interval,
                   help=f"seconds between heartbeats (default {d.heartbeat_interval:g})")
    p.add_argument("--suspect-after", type=float, default=None,
                   help=f"silence before a peer is suspect (default {d.suspect_after:g} s, or half of --dead-after)")
    p.add_argument("--dead-after", type=float, default=d.dead_after,
                   help=f"silence before a peer is declared dead (default {d.dead_after:g} s)")
    p.add_argument("--lock-timeout", type=float, default=d.lock_timeout, metavar="S",
                   help=f"how long the first write or job waits for the cloud to form (--cloud-size members) "
                        f"before failing with the reasons (default {d.lock_timeout:g} s)")
    p.add_argument("--nthreads", type=int, default=None, help="compute threads (default: all cores)")
    p.add_argument("--replication", type=int, default=d.replication, metavar="R",
                   help=f"copies of every DKV value and chunk, on R members (the same on every member; default "
                        f"{d.replication}; 2 lets a multi-node cloud lose a member without losing data)")
    p.add_argument("--plugin", action="append", default=[], metavar="MODULE",
                   help="also import MODULE at start, for its ops and task classes (repeatable; frame.plugin, "
                        "algos.plugin and, unless --no-web, web.plugin always are)")
    p.add_argument("--max-mem-size", type=_size_arg, default=None, metavar="SIZE",
                   help="bytes of DKV values this node may hold, e.g. 8g (default: half the machine's memory); a "
                        "write past it is refused with an error")
    p.add_argument("--data-dir", action="append", default=[], metavar="DIR",
                   help="a directory under which tasks sent by others (import_file) may read files (repeatable; "
                        "default: the working directory)")
    p.add_argument("--security-dir", metavar="DIR",
                   help="CURVE keys (python -m tools.admin keygen DIR): encrypt all cluster traffic and admit only "
                        "the keys in DIR/authorized (docs/security.md)")
    p.add_argument("--identity", metavar="NAME", help="which key pair of DIR/private to connect with "
                                                      "(default: cloud)")
    p.add_argument("--require-security", action="store_true",
                   help="refuse to start without --security-dir")
    p.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                   help="also answer REST requests addressed to NAME (repeatable): without --security-dir the API "
                        "answers only to IP addresses and this machine's own names (DNS rebinding)")
    p.add_argument("--no-web", action="store_true",
                   help="do not serve the REST API and web UI on --port (as cluster.init(web=False))")
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                   help="the node log's level, on stderr (default INFO)")
    return p


def _size_arg(text: str) -> int:
    try:
        return parse_size(text)
    except ValueError as exc:           # argparse would say "invalid parse_size value"
        raise argparse.ArgumentTypeError(str(exc)) from None


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ModuleNotFoundError, ValueError):
        return False


def config_from_args(args: argparse.Namespace) -> NodeConfig:
    """The node's configuration from its command line; ValueError names an option that cannot be obeyed (an
    option accepted and then ignored would leave the operator believing it holds)."""
    if args.nthreads is not None and args.nthreads < 1:
        raise ValueError(f"--nthreads must be >= 1, got {args.nthreads}")
    if args.identity and not args.security_dir:
        raise ValueError("--identity names a key pair of --security-dir: give the security dir too")
    if args.ip:
        try:
            ipaddress.ip_address(args.ip)
        except ValueError:
            raise ValueError(f"--ip must be an IP address of this machine, got {args.ip!r}") from None
    for name in args.plugin:
        if not _importable(name.strip()):
            raise ValueError(f"--plugin {name}: no module named {name.strip()!r} can be imported")
    peers = read_flatfile(args.flatfile) if args.flatfile else []
    ip = args.ip or guess_own_ip([(h, p) for h, p in peers if p != args.port or h not in ("127.0.0.1", "localhost")])
    default_suspect = NodeConfig().suspect_after
    suspect = args.suspect_after if args.suspect_after is not None else min(default_suspect, args.dead_after / 2)
    derived = {} if args.suspect_after is not None else {
        "suspect_after": "not given: half of --dead-after" if args.dead_after / 2 < default_suspect else
                         f"not given: its default {default_suspect:g}"}
    cfg = NodeConfig(ip=ip, port=args.port, name=args.name, flatfile_peers=peers, cloud_size=args.cloud_size,
                     heartbeat_interval=args.heartbeat_interval, suspect_after=suspect, dead_after=args.dead_after,
                     data_dirs=tuple(os.path.abspath(d) for d in args.data_dir), security_dir=args.security_dir,
                     identity=args.identity, require_security=args.require_security, replication=args.replication,
                     web_hosts=tuple(args.allow_host))
    base = tuple(p for p in cfg.plugins if p != WEB_PLUGIN) if args.no_web else cfg.plugins
    cfg.plugins = (*base, *args.plugin)
    if args.nthreads is not None:
        cfg.compute_threads = args.nthreads
    cfg.lock_timeout = args.lock_timeout
    if args.max_mem_size:
        cfg.max_mem_size = args.max_mem_size
    cfg.validate({f: "--" + f.replace("_", "-") for f in ("heartbeat_interval", "suspect_after", "dead_after",
                                                          "lock_timeout")},
                 derived)
    return cfg


def setup_logging(level: str) -> None:
    logging.basicConfig(level=getattr(logging, level), stream=sys.stderr,
                        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")


async def serve(node: Node) -> int:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda s=sig: (log.info("received %s, shutting down", signal.Signals(s).name),
                                                    loop.create_task(node.stop())))
    try:
        await node.start()
    except BaseException:           # a port it cannot bind: say goodbye to any peer heard, close the sockets
        await node.stop()
        raise
    await node.stopped.wait()
    await node.stop()
    if node.removed:
        return EXIT_REMOVED
    return EXIT_REFUSED if node.refused_reason else 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.log_level)
    try:
        cfg = config_from_args(args)
        node = Node(cfg)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        code = asyncio.run(serve(node))
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if node.refused_reason:
        print(f"error: {node.refused_reason}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
