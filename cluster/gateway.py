"""A client's gateway: the member that serves its calls, and moving to another one when it is lost.

A client (``cluster.connect``) is not a member and sends no heartbeats: it talks to one member, its *gateway*,
and knows the others' addresses (those given to ``connect``, and the members the cloud names at attach and in
every ping). It pings its gateway every ``heartbeat_interval`` (op ``node.ping``, answered with the live members);
when the gateway has not answered for ``dead_after`` seconds it is lost: every call waiting on it fails with
:class:`NodeLostError` (so no call waits longer than the failure-detection window), and the first other member
that answers a ping becomes the gateway, so that the next call goes through it.

>>> watch = GatewayWatch(node, ["10.0.0.1:54321", "10.0.0.2:54321"])     # doctest: +SKIP
"""
from __future__ import annotations

import asyncio
import logging
import time

from .protocol import register_op, valid_node_id

log = logging.getLogger("aquifer.gateway")

register_op("node.ping", {}, idempotent=True)


class GatewayWatch:
    """Liveness of a client's gateway and the members it may move to (runs on the client's loop)."""

    def __init__(self, node, addresses: list[str]):
        self.node = node
        self.known: list[str] = list(dict.fromkeys(addresses))   # in order of preference
        self.lost: set[str] = set()
        self.last_answer = time.monotonic()
        self._moved: asyncio.Event | None = None      # set while the gateway is not known to be lost

    def learn(self, members) -> None:
        """Remember members the cloud named (valid node ids only: they come from the network)."""
        for m in members:
            if isinstance(m, str) and valid_node_id(m) and m not in self.known:
                self.known.append(m)

    async def usable(self, node: str) -> str:
        """Where a call meant for ``node`` goes: ``node``, unless it is the lost gateway; then, once another member
        answered (at most ``dead_after``), the new gateway."""
        if node not in self.lost or self._moved is None:
            return node
        try:
            await asyncio.wait_for(self._moved.wait(), self.node.config.dead_after)
        except asyncio.TimeoutError:
            return node                              # nobody answers: the call fails as lost
        return self.node.gateway

    async def run(self) -> None:
        cfg = self.node.config
        self._moved = asyncio.Event()
        self._moved.set()
        while True:
            await asyncio.sleep(cfg.heartbeat_interval)
            gateway = self.node.gateway
            if gateway in self.lost:
                await self._move()
                continue
            # lost when no answer has come for dead_after seconds (the nodes' own rule for their peers)
            wait = max(cfg.heartbeat_interval, self.last_answer + cfg.dead_after - time.monotonic())
            try:
                reply = await self.node.rpc.call(gateway, "node.ping", {}, timeout=wait, retries=0,
                                                 is_dead=self.node.is_dead)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if gateway != self.node.gateway:        # moved meanwhile
                    continue
                self.lost.add(gateway)
                self._moved.clear()
                why = f"the client's gateway stopped answering ({type(exc).__name__})"
                log.warning("gateway %s is lost: %s", gateway, why)
                self.node.rpc.fail_node(gateway, why)
                await self._move()
                continue
            self.last_answer = time.monotonic()
            if isinstance(reply, dict):
                self.learn(reply.get("members") or ())

    async def _move(self) -> None:
        """Make the first other member that answers a ping the gateway (lost ones are tried last)."""
        old = self.node.gateway
        order = [m for m in self.known if m != old and m not in self.lost] + \
                [m for m in self.known if m in self.lost]
        timeout = self.node.config.dead_after / 2
        for candidate in order:
            try:
                reply = await self.node.rpc.call(candidate, "node.ping", {}, timeout=timeout, retries=0)
            except asyncio.CancelledError:
                raise
            except Exception:
                continue
            self.lost.discard(candidate)
            self.node.gateway = candidate
            self._moved.set()
            self.last_answer = time.monotonic()
            if isinstance(reply, dict):
                self.learn(reply.get("members") or ())
            log.warning("this client now calls the cloud through %s (gateway %s was lost)", candidate, old)
            return
        # no member answered: calls stop waiting for a move and fail as lost at once (each waited dead_after
        # before, so a driver's clean-up after its cloud died took a window per call); the next round that finds
        # a member moves there
        self._moved.set()
