"""ZeroMQ sockets of a node: one ROUTER bound on the cluster port, one DEALER per peer.

Requests, heartbeats and other one-way messages leave through the DEALER connected to the peer's ROUTER;
replies go back through our ROUTER on the connection the request came in on (so a client or the admin CLI,
which binds nothing, still gets answers). Deliberate choices, each against a known ZeroMQ pitfall:

* ``LINGER=0`` everywhere: closing never blocks on unsent messages.
* DEALERs use ``IMMEDIATE``: a message is queued only to a completed connection, so heartbeats do not
  pile up for a dead peer and flood it when it returns. A send that cannot be queued raises ``zmq.Again``
  at once; the caller decides: heartbeats are dropped and counted, RPCs retry until their deadline.
* ``ROUTER_MANDATORY``: a reply to a vanished connection raises instead of vanishing silently (counted).
* ``MAXMSGSIZE`` caps what the kernel buffers for one message; the protocol layer enforces the finer cap.
* High-water marks are finite, so a stuck peer applies back-pressure instead of eating memory.
Each socket is used only from the event loop's thread.

With a security dir every socket speaks CURVE (libzmq's authenticated encryption): the ROUTER serves with the
cloud's key pair and admits only the public keys in ``DIR/authorized`` (a ZAP handler on this node's context,
pyzmq's asyncio authenticator, asks :class:`cluster.security.AuthorizedKeys`); each DEALER checks that the node
it reaches holds the cloud's key. Failed handshakes (no keys, a wrong key, a key not authorized) are reported
through ``warn`` from the ROUTER's monitor socket. Received messages are handed on with where they came from:
the ROUTER connection's identity (anyone may have opened it) or the node a DEALER of ours connects to.
"""
from __future__ import annotations

import asyncio
import logging
import os
import secrets
from collections import Counter
from typing import Callable

import zmq
import zmq.asyncio
from zmq.auth.asyncio import AsyncioAuthenticator
from zmq.utils import z85
from zmq.utils.monitor import parse_monitor_message

from .config import NodeConfig, PORT_OFFSET
from .security import ZAP_DOMAIN, AuthorizedKeys, Keys

log = logging.getLogger("aquifer.transport")


def cluster_endpoint(node_id: str) -> str:
    host, _, port = node_id.rpartition(":")
    return f"tcp://{host}:{int(port) + PORT_OFFSET}"


class _Authenticator(AsyncioAuthenticator):
    """pyzmq's asyncio ZAP handler, admitting the keys of ``DIR/authorized`` and naming each connection's
    User-Id after its key's identity; it reports refusals with the address they came from."""

    def __init__(self, context, keys: AuthorizedKeys, warn: Callable[[str, str], None]):
        super().__init__(context, log=logging.getLogger("aquifer.zap"))
        self.keys = keys
        self._address = "?"
        keys.on_refused = lambda key, why: warn(
            "auth", f"refused a connection from {self._address}: key {key} is not authorized ({why})")

    async def handle_zap_message(self, msg: list) -> None:
        self._address = msg[3].decode(errors="replace") if len(msg) > 3 else "?"
        await super().handle_zap_message(msg)

    def curve_user_id(self, client_public_key: bytes) -> str:
        return self.keys.name_of(z85.encode(client_public_key)) or "?"


_HANDSHAKE_FAILED = {zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL: "handshake failed",
                     zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL: "handshake failed (protocol: no keys, or not this "
                                                          "cloud's keys)",
                     zmq.EVENT_HANDSHAKE_FAILED_AUTH: "key refused"}


# Contexts of transports not closed yet. pyzmq's Context.__del__ terminates a context it finds unclosed, and when a
# context and its sockets become garbage together (a node's objects form cycles; one left unclosed after an error),
# the sockets' weak references are cleared first, so term() waits forever for sockets not yet closed: the thread
# that ran the garbage collector hangs (a compute thread did, in the test suite). Held here until close(), an
# abandoned transport's context is never terminated by the collector: it leaks instead.
_OPEN_CONTEXTS: set = set()


class Transport:
    def __init__(self, config: NodeConfig, boot: int, on_frames: Callable, *, keys: Keys | None = None,
                 warn: Callable[[str, str], None] = lambda kind, text: log.warning(text)):
        self.config = config
        self.boot = boot
        self.keys = keys
        self.ctx = zmq.asyncio.Context()
        _OPEN_CONTEXTS.add(self.ctx)
        self.router: zmq.asyncio.Socket | None = None
        self.dealers: dict[str, zmq.asyncio.Socket] = {}
        self._tasks: list[asyncio.Task] = []
        self._dealer_tasks: dict[str, asyncio.Task] = {}
        # on_frames(frames, identity, node): identity of the ROUTER connection (None for a DEALER's), or the node
        # our DEALER connects to (None for the ROUTER's)
        self._on_frames = on_frames
        self._warn = warn
        self._auth: _Authenticator | None = None
        self.counters: Counter = Counter()
        self._seq = 0

    # ------------------------------------------------------------------ life cycle
    def bind(self) -> None:
        cfg = self.config
        sock = self.ctx.socket(zmq.ROUTER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.ROUTER_MANDATORY, 1)
        sock.setsockopt(zmq.ROUTER_HANDOVER, 1)
        sock.setsockopt(zmq.MAXMSGSIZE, 2 * cfg.max_message_bytes)
        sock.setsockopt(zmq.RCVHWM, cfg.rcvhwm)
        sock.setsockopt(zmq.SNDHWM, cfg.sndhwm)
        loop = asyncio.get_running_loop()
        if self.keys is not None:
            self._auth = _Authenticator(self.ctx, AuthorizedKeys(self.keys.directory), self._warn)
            self._auth.start()
            self._auth.configure_curve_callback(ZAP_DOMAIN, credentials_provider=self._auth.keys)
            sock.setsockopt(zmq.CURVE_SERVER, 1)
            sock.setsockopt(zmq.CURVE_PUBLICKEY, self.keys.server_public)
            sock.setsockopt(zmq.CURVE_SECRETKEY, self.keys.server_secret)
            sock.setsockopt(zmq.ZAP_DOMAIN, ZAP_DOMAIN.encode())
            monitor = sock.get_monitor_socket(zmq.EVENT_HANDSHAKE_FAILED_NO_DETAIL | zmq.EVENT_HANDSHAKE_FAILED_PROTOCOL
                                              | zmq.EVENT_HANDSHAKE_FAILED_AUTH)
            self._tasks.append(loop.create_task(self._monitor_loop(monitor)))
        try:
            sock.bind(f"tcp://{cfg.ip}:{cfg.cluster_port}")
        except zmq.ZMQError as exc:
            sock.close(0)
            raise OSError(f"cannot bind cluster port {cfg.ip}:{cfg.cluster_port}: {exc}") from None
        self.router = sock
        self._tasks.append(loop.create_task(self._recv_loop(sock, None)))

    def dealer(self, node: str) -> zmq.asyncio.Socket:
        sock = self.dealers.get(node)
        if sock is not None:
            return sock
        cfg = self.config
        sock = self.ctx.socket(zmq.DEALER)
        self._seq += 1
        # per-incarnation identity: a restarted peer never inherits our old routing entry; the random part keeps
        # a stranger from connecting under it and taking over its routing entry (ROUTER_HANDOVER) to steal answers
        sock.setsockopt(zmq.IDENTITY, f"{cfg.node_id}|{os.getpid()}|{self.boot}|{self._seq}|{secrets.token_hex(8)}"
                        .encode())
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.IMMEDIATE, 1)
        sock.setsockopt(zmq.SNDHWM, cfg.sndhwm)
        sock.setsockopt(zmq.RCVHWM, cfg.rcvhwm)
        sock.setsockopt(zmq.MAXMSGSIZE, 2 * cfg.max_message_bytes)
        sock.setsockopt(zmq.RECONNECT_IVL, 100)
        sock.setsockopt(zmq.RECONNECT_IVL_MAX, 2000)
        if self.keys is not None:
            sock.setsockopt(zmq.CURVE_SERVERKEY, self.keys.server_public)
            sock.setsockopt(zmq.CURVE_PUBLICKEY, self.keys.public)
            sock.setsockopt(zmq.CURVE_SECRETKEY, self.keys.secret)
        sock.connect(cluster_endpoint(node))
        self.dealers[node] = sock
        self._dealer_tasks[node] = asyncio.get_running_loop().create_task(self._recv_loop(sock, node))
        return sock

    def close_dealer(self, node: str) -> None:
        """Close our connection to ``node`` (a node heard of that never answered)."""
        task = self._dealer_tasks.pop(node, None)
        if task is not None:
            task.cancel()
        sock = self.dealers.pop(node, None)
        if sock is not None:
            sock.close(linger=0)

    async def close(self) -> None:
        tasks = self._tasks + list(self._dealer_tasks.values())
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self.router is not None and self.keys is not None:
            self.router.disable_monitor()
        for sock in [self.router, *self.dealers.values()]:
            if sock is not None:
                sock.close(linger=0)
        if self._auth is not None:
            self._auth.stop()
            self._auth = None
        self.dealers.clear()
        self._dealer_tasks.clear()
        self.router = None
        self.ctx.destroy(linger=0)
        _OPEN_CONTEXTS.discard(self.ctx)

    # ------------------------------------------------------------------ sending
    async def send(self, node: str, frames: list, *, deadline: float | None, droppable: bool,
                   still_wanted: Callable[[], bool] = lambda: True) -> bool:
        """Queue a message to ``node``. A droppable message (heartbeat, cancel) is given up at once when the
        peer is not connected (counted); others wait for the connection until ``deadline`` or until
        ``still_wanted()`` turns false. Returns whether it was queued."""
        sock = self.dealer(node)
        loop = asyncio.get_running_loop()
        delay = 0.01
        while True:
            try:
                await sock.send_multipart(frames, flags=zmq.NOBLOCK, copy=False)
                return True
            except zmq.Again:
                if droppable:
                    self.counters["send_dropped_not_connected"] += 1
                    return False
                if (deadline is not None and loop.time() >= deadline) or not still_wanted():
                    self.counters["send_failed_not_connected"] += 1
                    return False
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.2)

    async def reply(self, identity: bytes, frames: list) -> None:
        """Send ``frames`` back on the ROUTER connection ``identity`` (answers to requests and heartbeats)."""
        try:
            await self.router.send_multipart([identity, *frames], flags=zmq.NOBLOCK, copy=False)
        except zmq.ZMQError as exc:       # EHOSTUNREACH (caller gone) or EAGAIN (caller not reading)
            self.counters["reply_undeliverable"] += 1
            log.warning("reply could not be delivered (%s): dropped", exc.strerror)

    # ------------------------------------------------------------------ receiving
    async def _recv_loop(self, sock, dealer_node: str | None) -> None:
        while True:
            try:
                frames = await sock.recv_multipart(copy=False)
            except asyncio.CancelledError:
                raise
            except zmq.ZMQError as exc:
                if exc.errno in (zmq.ETERM, zmq.ENOTSOCK):
                    return
                log.warning("receive error: %s", exc)
                continue
            if dealer_node is None:
                self._on_frames(frames[1:], frames[0].bytes, None)
            else:
                self._on_frames(frames, None, dealer_node)

    async def _monitor_loop(self, monitor) -> None:
        while True:
            try:
                event = parse_monitor_message(await monitor.recv_multipart())
            except asyncio.CancelledError:
                raise
            except zmq.ZMQError:
                return
            what = _HANDSHAKE_FAILED.get(event["event"])
            if what is not None:
                self.counters["handshake_failed"] += 1
                self._warn("auth", f"refused a connection to the cluster port: CURVE {what} "
                                   f"(a client without this cloud's --security-dir?)")
