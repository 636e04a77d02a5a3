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
"""
from __future__ import annotations

import asyncio
import logging
import os
from collections import Counter
from typing import Callable

import zmq
import zmq.asyncio

from .config import NodeConfig, PORT_OFFSET

log = logging.getLogger("aquifer.transport")


def cluster_endpoint(node_id: str) -> str:
    host, _, port = node_id.rpartition(":")
    return f"tcp://{host}:{int(port) + PORT_OFFSET}"


class Transport:
    def __init__(self, config: NodeConfig, boot: int,
                 on_frames: Callable[[list, object], None]):
        self.config = config
        self.boot = boot
        self.ctx = zmq.asyncio.Context()
        self.router: zmq.asyncio.Socket | None = None
        self.dealers: dict[str, zmq.asyncio.Socket] = {}
        self._tasks: list[asyncio.Task] = []
        self._dealer_tasks: dict[str, asyncio.Task] = {}
        self._on_frames = on_frames          # on_frames(frames, reply_to) ; reply_to = identity or ("dealer", node)
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
        try:
            sock.bind(f"tcp://{cfg.ip}:{cfg.cluster_port}")
        except zmq.ZMQError as exc:
            sock.close(0)
            raise OSError(f"cannot bind cluster port {cfg.ip}:{cfg.cluster_port}: {exc}") from None
        self.router = sock
        self._tasks.append(asyncio.get_running_loop().create_task(self._recv_loop(sock, None)))

    def dealer(self, node: str) -> zmq.asyncio.Socket:
        sock = self.dealers.get(node)
        if sock is not None:
            return sock
        cfg = self.config
        sock = self.ctx.socket(zmq.DEALER)
        self._seq += 1
        # per-incarnation identity: a restarted peer never inherits our old routing entry
        sock.setsockopt(zmq.IDENTITY, f"{cfg.node_id}|{os.getpid()}|{self.boot}|{self._seq}".encode())
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.IMMEDIATE, 1)
        sock.setsockopt(zmq.SNDHWM, cfg.sndhwm)
        sock.setsockopt(zmq.RCVHWM, cfg.rcvhwm)
        sock.setsockopt(zmq.MAXMSGSIZE, 2 * cfg.max_message_bytes)
        sock.setsockopt(zmq.RECONNECT_IVL, 100)
        sock.setsockopt(zmq.RECONNECT_IVL_MAX, 2000)
        sock.connect(cluster_endpoint(node))
        self.dealers[node] = sock
        self._dealer_tasks[node] = asyncio.get_running_loop().create_task(self._recv_loop(sock, node))
        return sock

    async def close(self) -> None:
        tasks = self._tasks + list(self._dealer_tasks.values())
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for sock in [self.router, *self.dealers.values()]:
            if sock is not None:
                sock.close(linger=0)
        self.dealers.clear()
        self._dealer_tasks.clear()
        self.router = None
        self.ctx.term()

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
                identity, frames = frames[0].bytes, frames[1:]
                self._on_frames(frames, identity)
            else:
                self._on_frames(frames, ("dealer", dealer_node))
