"""A node of the cloud: one asyncio event loop for all networking and control, a compute pool for work.

Run one per machine (or several per machine on different ports)::

    python -m cluster.node --flatfile nodes.txt --port 54321 --name mycloud

The node heartbeats to every peer it knows (the flatfile's, plus everyone who heartbeats to it), forms a
cloud when the members agree, serves RPCs, and shuts down cleanly on SIGTERM/SIGINT (exit 0). Refused by a
locked cloud it exits with status 3. Higher layers (DKV, MRTask) register their RPC ops on it.
"""
from __future__ import annotations

import argparse
import importlib
import asyncio
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
from .blas import single_threaded_blas
from . import protocol
from .config import PACKAGE_VERSION, NodeConfig
from .errors import AquiferError, NodeLostError, ProtocolError, RpcTimeoutError
from .flatfile import guess_own_ip, read_flatfile, resolve
from .rpc import Rpc, exception_from_map
from .transport import Transport

log = logging.getLogger("aquifer.node")

EXIT_REFUSED = 3
SHUTDOWN_DELAY = 0.2     # seconds between answering a shutdown request and stopping


def free_memory_bytes() -> int:
    """MemAvailable from /proc/meminfo (what a new allocation can get), else free pages."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        return 0


def load_plugins(names) -> list:
    """Import the plugin modules that give this node its ops, task classes and atomic functions.

    The runtime knows the higher layers only by these module names (``frame``, ``algos``, ``web``), so a
    message can only ever reach code that one of them registered. ``AQUIFER_PLUGINS`` (comma-separated) adds
    more. A plugin module may define ``register_node(node)`` (called when the node is built), and ``async
    start_node(node)`` / ``async stop_node(node)`` (awaited on the node's loop once its sockets are bound, and
    first thing when it stops; members only, a client binds nothing): how a plugin runs a server of its own.
    """
    extra = [n for n in os.environ.get("AQUIFER_PLUGINS", "").split(",") if n.strip()]
    modules = []
    for name in [*names, *extra]:
        try:
            modules.append(importlib.import_module(name.strip()))
        except ModuleNotFoundError as exc:
            if exc.name != name.strip():
                raise
            log.debug("plugin %s not installed", name)
    return modules


class Node:
    """One cloud node (or, with ``config.client``, a client that calls into a cloud through a gateway).

    Layers above use: ``id``, ``members``, ``await call(node, op, args)``, ``register(op, handler)``,
    ``await run_compute(fn, *args)``, ``await lock(reason)``, ``on_lost(callback)``, ``key_count`` hook,
    ``endpoints`` (what a plugin serves, by name: its URL).
    """

    def __init__(self, config: NodeConfig, *, gateway: str | None = None):
        config.validate()
        self.config = config
        self.boot = time.time_ns() // 1000
        # a client binds nothing, so it is named after its process rather than an address
        self.id = f"client:{socket.gethostname()}:{os.getpid()}:{self.boot}" if config.client else config.node_id
        self.gateway = gateway
        self.membership = ms.Membership(self.id, config.name, PACKAGE_VERSION, cloud_size=config.cloud_size,
                                        suspect_after=config.suspect_after, dead_after=config.dead_after)
        self.transport = Transport(config, self.boot, self._on_frames)
        self.rpc = Rpc(self.id, self._send_message, self._send_reply, config.rpc_timeout)
        self.pool = ThreadPoolExecutor(max_workers=config.compute_threads, thread_name_prefix="aquifer-compute",
                                       initializer=single_threaded_blas)
        self.dropped: Counter = Counter()
        self.endpoints: dict[str, str] = {}     # what plugins serve besides the cluster port ("web": its URL)
        self.key_count: Callable[[], int] = lambda: 0
        self.refused_reason: str | None = None
        self.formed_event = asyncio.Event()
        self.stopped = asyncio.Event()
        self._lost_callbacks: list[Callable[[str, str], None]] = []
        self._tasks: list[asyncio.Task] = []
        self._stopping: asyncio.Future | None = None
        self._flatfile_ids = [f"{resolve(h)}:{p}" for h, p in config.flatfile_peers]
        self._register_builtin_ops()
        from .dkv import DKV          # the DKV shard lives with the node; it registers its own ops
        self.dkv = DKV(self)
        from .mrtask import MRService
        from .jobs import JobService
        self.mr = MRService(self)
        self.jobs = JobService(self)
        self.plugins = load_plugins(config.plugins)
        for module in self.plugins:
            register = getattr(module, "register_node", None)
            if register is not None:
                register(self)

    # ------------------------------------------------------------------ life cycle
    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        if self.config.client:
            self.transport.dealer(self.gateway)
            return
        self.transport.bind()
        self._apply(self.membership.initial_actions())
        self._tasks.append(loop.create_task(self._heartbeat_loop()))
        for module in self.plugins:
            hook = getattr(module, "start_node", None)
            if hook is not None:
                await hook(self)
        log.info("node %s started (cloud %r, cluster port %d, pid %d)", self.id, self.config.name,
                 self.config.cluster_port, os.getpid())

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
            for node in self.membership.known_peers():
                if self.membership.state_of(node) != ms.DEAD:
                    await self.transport.send(node, bye, deadline=None, droppable=True)
            await asyncio.sleep(0.05)            # let the io thread push the goodbyes out
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
    def locked(self) -> bool:
        return self.membership.locked

    def is_dead(self, node: str) -> bool:
        return self.membership.state_of(node) == ms.DEAD

    def register(self, op: str, handler) -> None:
        self.rpc.register(op, handler)

    def on_lost(self, callback: Callable[[str, str], None]) -> None:
        """``callback(node, reason)`` runs on the loop when a member is declared dead."""
        self._lost_callbacks.append(callback)

    async def call(self, node: str, op: str, args: dict | None = None, *, timeout: float | None = None,
                   retries: int | None = None) -> Any:
        """Call ``op`` on ``node`` (this node included: a local call takes the same path as a remote one)."""
        if node == self.id:
            return await self._call_local(op, args or {}, timeout)
        if self.config.client and node != self.gateway:
            raise ValueError(f"a client calls only its gateway {self.gateway}, not {node}")
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
            return await asyncio.wait_for(handler(**args), timeout or self.config.rpc_timeout)
        except (AquiferError, asyncio.CancelledError):
            raise
        except asyncio.TimeoutError:
            raise RpcTimeoutError(f"{op} on node {self.id} did not finish within "
                                  f"{timeout or self.config.rpc_timeout:g} s") from None
        except Exception as exc:        # same error type whether the handler ran here or elsewhere
            raise exception_from_map(self.rpc.error_map(exc), self.id) from exc

    async def run_compute(self, fn: Callable, *args) -> Any:
        """Run heavy work on the compute pool so the loop keeps heartbeating."""
        return await asyncio.get_running_loop().run_in_executor(self.pool, fn, *args)

    async def wait_formed(self, timeout: float) -> None:
        try:
            await asyncio.wait_for(self.formed_event.wait(), timeout)
        except asyncio.TimeoutError:
            raise TimeoutError(
                f"cloud {self.config.name!r} did not form within {timeout:g} s: members agreeing so far "
                f"{list(self.members)}, expected at least {self.config.cloud_size}") from None

    async def lock(self, reason: str, timeout: float = 30.0) -> None:
        """Freeze membership (first data write or job). Waits for the cloud to form first."""
        if self.config.client or self.membership.locked:
            return
        await self.wait_formed(timeout)
        self._apply(self.membership.lock(reason))
        # tell everyone now rather than at the next heartbeat, so no write reaches an unlocked member
        await asyncio.gather(*(self.call(m, "cloud.lock", {"reason": reason}, timeout=5.0)
                               for m in self.members if m != self.id and not self.is_dead(m)),
                             return_exceptions=True)

    def status(self) -> dict:
        """The cloud as this node sees it: the structure ``tools.admin cloud --json`` prints."""
        m = self.membership
        now = time.monotonic()
        rows = []
        for node in m.members:
            if node == self.id:
                rows.append({"node": node, "state": ms.HEALTHY, "last_heartbeat_age_s": 0.0,
                             "cores": os.cpu_count() or 1, "free_mem_bytes": free_memory_bytes(),
                             "keys": int(self.key_count()), "pid": os.getpid()})
                continue
            peer = m.peers[node]
            rows.append({"node": node, "state": peer.state,
                         "last_heartbeat_age_s": round(now - peer.last_heard, 3),
                         "cores": peer.info.get("cores", 0), "free_mem_bytes": peer.info.get("free_mem", 0),
                         "keys": peer.info.get("keys", 0), "pid": peer.info.get("pid", 0)})
        return {"name": self.config.name, "size": len(m.members), "locked": m.locked,
                "healthy": m.healthy and m.formed, "members": rows}

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
                    "pid": os.getpid(), "members": list(self.members)}

        async def node_shutdown():
            # stop after this reply has left (a stop closes the sockets the reply goes out on)
            asyncio.get_running_loop().call_later(SHUTDOWN_DELAY, lambda: asyncio.ensure_future(self.stop()))
            return self.id

        async def cloud_shutdown():
            """Stop every live member, this one last (H2O's /3/Shutdown)."""
            others = [m for m in self.members if m != self.id and not self.is_dead(m)]
            answers = await asyncio.gather(*(self.call(m, "node.shutdown", timeout=5.0) for m in others),
                                           return_exceptions=True)
            log.info("cloud shutdown requested: stopping %d member(s)", len(others) + 1)
            await node_shutdown()
            return {"stopping": [self.id, *(m for m, a in zip(others, answers) if a == m)],
                    "unreachable": [m for m, a in zip(others, answers) if a != m]}

        self.register("echo", echo)
        self.register("cloud.status", cloud_status)
        self.register("cloud.lock", cloud_lock)
        self.register("node.stats", node_stats)
        self.register("node.shutdown", node_shutdown)
        self.register("cloud.shutdown", cloud_shutdown)

    # ------------------------------------------------------------------ messages in
    def _on_frames(self, frames: list, reply_to) -> None:
        try:
            msg = protocol.decode(frames, max_bytes=self.config.max_message_bytes)
        except ProtocolError as exc:
            self.dropped[exc.kind] += 1
            log.warning("dropped a message (%s): %s", exc.kind, exc)
            if exc.kind == "version":
                self._refuse_other_version(frames)
            return
        except Exception as exc:            # never let a message take the loop down
            self.dropped["internal"] += 1
            log.exception("dropped a message that broke decoding: %r", exc)
            return
        try:
            self._dispatch(msg, reply_to)
        except Exception:
            self.dropped["handler"] += 1
            log.exception("error while handling a %s message from %s", msg.type, msg.src)

    def _dispatch(self, msg: protocol.Message, reply_to) -> None:
        now = time.monotonic()
        if msg.type == "rep":
            self._apply(self.membership.on_traffic(msg.src, now))
            self.rpc.on_reply(msg)
            return
        if msg.type == "refuse":
            self._on_refused(msg)
            return
        if self.config.client:
            self.dropped["not_for_client"] += 1
            return
        # a client that has not learnt the cloud's name yet sends "" (the name is no secret: it only
        # keeps clouds that share addresses apart)
        if msg.cloud != self.config.name and msg.type != "hb" and not (msg.cloud == "" and msg.type == "req"):
            self.dropped["wrong_cloud"] += 1
            return
        if msg.type == "hb":
            self._apply(self.membership.on_heartbeat(msg.src, msg.cloud, msg.body, now))
        elif msg.type == "bye":
            self._apply(self.membership.on_bye(msg.src, msg.body["boot"], now))
        elif msg.type == "req":
            self._apply(self.membership.on_traffic(msg.src, now))
            self.rpc.on_request(msg, reply_to)
        elif msg.type == "cancel":
            self.rpc.on_cancel(msg, reply_to)

    def _on_refused(self, msg: protocol.Message) -> None:
        reason, fatal = msg.body["reason"], msg.body["fatal"]
        peer = self.membership.peers.get(msg.src)
        if peer is not None and peer.refused:
            return
        log.error("refused by node %s: %s", msg.src, reason)
        if fatal and msg.cloud == self.config.name and not self.membership.locked:
            self.refused_reason = f"refused by node {msg.src}: {reason}"
            asyncio.get_running_loop().create_task(self.stop())
            return
        if peer is None:
            peer = self.membership.peers[msg.src] = ms.Peer(msg.src, 0, time.monotonic())
        peer.refused = reason
        self._apply(self.membership._update_formation())

    def _refuse_other_version(self, frames: list) -> None:
        header = protocol.peek_header(frames)
        if header is None or header["t"] != "hb":
            return
        reason = (f"version mismatch: node {self.id} speaks protocol {protocol.PROTOCOL_VERSION}, "
                  f"node {header['src']} speaks {header['v']}")
        log.error("refusing node %s: %s", header["src"], reason)
        self._apply([ms.Refuse(header["src"], reason, False)])

    # ------------------------------------------------------------------ messages out
    async def _send_message(self, node: str, mtype: str, msg_id: int, body: dict, *, deadline,
                            droppable: bool = False) -> None:
        frames = protocol.encode(mtype, src=self.id, cloud=self.config.name, msg_id=msg_id, body=body)
        protocol.check_size(frames, self.config.max_message_bytes, f"a {body.get('op', mtype)} message to {node}")
        queued = await self.transport.send(node, frames, deadline=deadline, droppable=droppable,
                                           still_wanted=lambda: not self.is_dead(node))
        if not queued and not droppable:
            if self.is_dead(node):
                raise NodeLostError(node, f"cannot send {mtype}")
            raise NodeLostError(node, "no connection could be made before the deadline")

    async def _send_reply(self, reply_to, msg_id: int, body: dict) -> None:
        frames = protocol.encode("rep", src=self.id, cloud=self.config.name, msg_id=msg_id, body=body)
        protocol.check_size(frames, self.config.max_message_bytes, "the reply")
        await self.transport.reply(reply_to, frames)

    async def _heartbeat_loop(self) -> None:
        """Send a heartbeat every interval; run the failure detector four times as often, so a peer is
        declared dead within a quarter interval of ``dead_after`` (not up to a whole interval late)."""
        interval = self.config.heartbeat_interval
        next_beat = 0.0
        while True:
            now = time.monotonic()
            self._apply(self.membership.tick(now))
            if now >= next_beat:
                next_beat = now + interval
                await self._send_heartbeats()
            await asyncio.sleep(interval / 4)

    async def _send_heartbeats(self) -> None:
        body = {"boot": self.boot, "pid": os.getpid(), "cores": os.cpu_count() or 1,
                "free_mem": free_memory_bytes(), "keys": int(self.key_count()), "pkg": PACKAGE_VERSION,
                "client": False, **self.membership.heartbeat_fields()}
        frames = protocol.encode("hb", src=self.id, cloud=self.config.name, body=body)
        targets = set(self.membership.known_peers()) | set(self._flatfile_ids)
        targets.discard(self.id)
        refused = {p.node for p in self.membership.peers.values() if p.refused}
        for node in targets - refused:
            await self.transport.send(node, frames, deadline=None, droppable=True)

    # ------------------------------------------------------------------ membership actions
    def _apply(self, actions: list) -> None:
        for action in actions:
            if isinstance(action, ms.Log):
                getattr(log, action.level)(action.text)
            elif isinstance(action, ms.Connect):
                self.transport.dealer(action.node)
            elif isinstance(action, ms.Refuse):
                frames = protocol.encode("refuse", src=self.id, cloud=self.config.name,
                                         body={"reason": action.reason, "fatal": action.fatal})
                asyncio.get_running_loop().create_task(
                    self.transport.send(action.node, frames, deadline=time.monotonic() + 2.0, droppable=False))
            elif isinstance(action, ms.Formed):
                self.formed_event.set()
            elif isinstance(action, ms.Lost):
                self.rpc.fail_node(action.node, action.reason)
                for cb in self._lost_callbacks:
                    try:
                        cb(action.node, action.reason)
                    except Exception:
                        log.exception("node-lost callback failed")
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
    p.add_argument("--nthreads", type=int, default=None, help="compute threads (default: all cores)")
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return p


def config_from_args(args: argparse.Namespace) -> NodeConfig:
    peers = read_flatfile(args.flatfile) if args.flatfile else []
    ip = args.ip or guess_own_ip([(h, p) for h, p in peers if p != args.port or h not in ("127.0.0.1", "localhost")])
    suspect = args.suspect_after if args.suspect_after is not None else min(NodeConfig().suspect_after,
                                                                            args.dead_after / 2)
    cfg = NodeConfig(ip=ip, port=args.port, name=args.name, flatfile_peers=peers, cloud_size=args.cloud_size,
                     heartbeat_interval=args.heartbeat_interval, suspect_after=suspect, dead_after=args.dead_after)
    if args.nthreads:
        cfg.compute_threads = args.nthreads
    cfg.validate()
    return cfg


def setup_logging(level: str) -> None:
    logging.basicConfig(level=getattr(logging, level), stream=sys.stderr,
                        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")


async def serve(node: Node) -> int:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda s=sig: (log.info("received %s, shutting down", signal.Signals(s).name),
                                                    loop.create_task(node.stop())))
    await node.start()
    await node.stopped.wait()
    await node.stop()
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
