"""Request/response calls between nodes: ids, deadlines, cancellation, remote errors as data.

The caller side keeps one future per request id. A reply resolves it; a remote exception arrives as a
map ``{type, message, traceback, node}`` and is raised as :class:`RemoteError`; the failure detector
declaring the callee dead fails it with :class:`NodeLostError`; the deadline fails it with
:class:`RpcTimeoutError` and tells the callee to stop; cancelling the awaiting task sends a ``cancel``.
Only ops declared idempotent in :data:`cluster.protocol.OPS` are retried after a timeout.

The callee side runs each request's handler as its own task, so a cancel or a deadline can stop it, and
always answers (result or error) unless the request was cancelled. A request it will not run (the node refused
it: unknown op, bad arguments, over the connection's inbound byte budget) is answered with
:class:`RequestRefusedError` at once. While a handler runs, :data:`remote_caller` names who asked, so code on
the node can tell work asked by another process from work of its own process.
"""
from __future__ import annotations

import asyncio
import contextvars
import itertools
import logging
import traceback
from collections import Counter
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from .errors import (CloudNotFormedError, JobCancelledError, NodeLostError, NoQuorumError, QuotaExceededError,
                     RemoteError, RequestRefusedError, RpcTimeoutError)
from .protocol import OPS, Message, op_is_idempotent

log = logging.getLogger("aquifer.rpc")

Handler = Callable[..., Awaitable[Any]]

# the sender of the request being served (None: work this process started itself)
remote_caller: contextvars.ContextVar[str | None] = contextvars.ContextVar("aquifer_remote_caller", default=None)


@dataclass
class _Pending:
    node: str
    op: str
    future: asyncio.Future


# failure classes that keep their type across hops (the caller handles them, whichever node raised them)
_KEEP_TYPE = {c.__name__: c for c in (JobCancelledError, NoQuorumError, QuotaExceededError, CloudNotFormedError)}


def exception_from_map(err: dict, src: str) -> Exception:
    """The caller-side exception for an error map: the cloud's own failure classes keep their type
    (a lost node deep in a task tree is still a NodeLostError naming that node); anything else is a
    RemoteError carrying the remote type, message and traceback."""
    etype, message = str(err.get("type", "Exception")), str(err.get("message", ""))
    if etype == "NodeLostError" and isinstance(err.get("lost"), str):
        keys = err.get("keys")
        exc = NodeLostError(err["lost"], f"reported by {err.get('node', src)}",
                            keys=[k for k in keys if isinstance(k, str)] if isinstance(keys, list) else ())
        exc.args = (message,)
        return exc
    if etype == "RequestRefusedError":
        return RequestRefusedError(message, kind=str(err.get("kind", "refused")))
    kept = _KEEP_TYPE.get(etype)
    if kept is not None:
        return kept(message)
    return RemoteError(str(err.get("node", src)), etype, message, str(err.get("traceback", "")))


class HandlerTimeout(Exception):
    """A TimeoutError the handler itself raised (``__cause__``), told apart from the deadline of the request that
    runs it: since Python 3.11 ``asyncio.TimeoutError`` is the builtin ``TimeoutError``, so a nested call's
    ``RpcTimeoutError`` would otherwise be reported as "<op> exceeded its deadline of <timeout> s"."""


async def own_timeouts_wrapped(coro) -> Any:
    """Await ``coro``; a TimeoutError it raises comes out as :class:`HandlerTimeout` (unwrap ``__cause__``)."""
    try:
        return await coro
    except (TimeoutError, asyncio.TimeoutError) as exc:
        raise HandlerTimeout() from exc


class Rpc:
    """RPC endpoints of one node. ``send(node, type, msg_id, body)`` is the node's transport hook and
    ``reply(to, msg_id, body)`` sends a reply back on the connection a request came from."""

    def __init__(self, self_id: str, send: Callable, reply: Callable, default_timeout: float,
                 peer_inbound_bytes: int = 1 << 62, gate: Callable[[Message], Any] | None = None):
        self.self_id = self_id
        self._gate = gate            # awaited before a request's handler (within its deadline): may refuse it
        self._send = send
        self._reply = reply
        self.default_timeout = default_timeout
        self.peer_inbound_bytes = peer_inbound_bytes
        self.handlers: dict[str, Handler] = {}
        self._pending: dict[int, _Pending] = {}
        self._running: dict[tuple[bytes, int], asyncio.Task] = {}
        self._callers: dict[tuple[bytes, int], str] = {}     # who asked for each request being served
        self._inbound: Counter = Counter()           # connection -> bytes of its requests being served
        self._ids = itertools.count(1)

    # ------------------------------------------------------------------ handlers
    def register(self, op: str, handler: Handler) -> None:
        """``handler(**args)`` is a coroutine function; its return value is the reply's result."""
        if op not in OPS:
            raise ValueError(f"op {op!r} has no schema: declare it with cluster.protocol.register_op first")
        self.handlers[op] = handler

    # ------------------------------------------------------------------ caller side
    async def call(self, node: str, op: str, args: dict | None = None, *, timeout: float | None = None,
                   retries: int | None = None, is_dead: Callable[[str], bool] = lambda n: False) -> Any:
        """Call ``op`` on ``node``. ``retries`` defaults to 1 for idempotent ops and is refused for others."""
        if op not in OPS:
            raise ValueError(f"unknown op {op!r}")
        timeout = self.default_timeout if timeout is None else timeout
        if retries is None:
            retries = 1 if op_is_idempotent(op) else 0
        elif retries and not op_is_idempotent(op):
            raise ValueError(f"op {op!r} is not idempotent: it cannot be retried")
        for attempt in range(retries + 1):
            try:
                return await self._call_once(node, op, args or {}, timeout, is_dead)
            except RpcTimeoutError:
                if attempt == retries:
                    raise
                log.warning("retrying idempotent %s on %s after a timeout", op, node)

    async def _call_once(self, node: str, op: str, args: dict, timeout: float, is_dead) -> Any:
        if is_dead(node):
            raise NodeLostError(node, f"cannot call {op}")
        msg_id = next(self._ids)
        future = asyncio.get_running_loop().create_future()
        self._pending[msg_id] = _Pending(node, op, future)
        try:
            await self._send(node, "req", msg_id, {"op": op, "args": args, "timeout": float(timeout)},
                             deadline=asyncio.get_running_loop().time() + timeout)
            return await asyncio.wait_for(asyncio.shield(future), timeout)
        except asyncio.TimeoutError:
            await self._send_cancel(node, msg_id)
            raise RpcTimeoutError(f"{op} on node {node} did not answer within {timeout:g} s") from None
        except asyncio.CancelledError:
            await self._send_cancel(node, msg_id)
            raise
        finally:
            self._pending.pop(msg_id, None)
            if not future.done():
                future.cancel()
            elif not future.cancelled():
                future.exception()      # read: a node lost while _send raised fails it too ("never retrieved")

    async def _send_cancel(self, node: str, msg_id: int) -> None:
        try:
            await asyncio.shield(self._send(node, "cancel", msg_id, {}, deadline=None, droppable=True))
        except Exception:       # best effort: the callee's own deadline stops it anyway
            pass

    def on_reply(self, msg: Message, from_node: str) -> bool:
        """A reply that came in on our connection to ``from_node``; False when it answers nothing we asked."""
        pending = self._pending.get(msg.id)
        if pending is None or pending.future.done():
            return True         # late reply of a timed-out or cancelled call
        if pending.node != from_node or msg.src != from_node:
            return False
        body = msg.body
        if body["ok"]:
            pending.future.set_result(body.get("result"))
        else:
            pending.future.set_exception(exception_from_map(body.get("error") or {}, msg.src))
        return True

    def fail_node(self, node: str, reason: str) -> None:
        """The failure detector declared ``node`` dead: fail every call waiting on it, and stop serving what it
        asked (nobody is left to read the answers: a task's share runs again elsewhere)."""
        for pending in list(self._pending.values()):
            if pending.node == node and not pending.future.done():
                pending.future.set_exception(NodeLostError(node, f"{pending.op} could not complete ({reason})"))
        for key, caller in list(self._callers.items()):
            task = self._running.get(key)
            if caller == node and task is not None:
                task.cancel()

    def fail_all(self, exc_factory: Callable[[str], Exception]) -> None:
        for pending in list(self._pending.values()):
            if not pending.future.done():
                pending.future.set_exception(exc_factory(pending.node))

    # ------------------------------------------------------------------ callee side
    def on_request(self, msg: Message, reply_to: bytes) -> None:
        """Serve a checked request that came in on connection ``reply_to`` (refused at once when the requests of
        that connection being served would pass ``peer_inbound_bytes``)."""
        key = (reply_to, msg.id)
        if key in self._running:
            self.refuse(reply_to, msg.id, f"request {msg.id} is already being served for this connection")
            return
        if self._inbound[reply_to] + msg.nbytes > self.peer_inbound_bytes:
            self.refuse(reply_to, msg.id, f"node {self.self_id} is already serving "
                                          f"{self._inbound[reply_to]:,} bytes of requests from this connection "
                                          f"(limit {self.peer_inbound_bytes:,}); try again when they finish")
            return
        self._inbound[reply_to] += msg.nbytes
        context = contextvars.copy_context()
        context.run(remote_caller.set, msg.src)
        task = asyncio.get_running_loop().create_task(self._serve(msg, reply_to, key), context=context)
        self._running[key] = task
        self._callers[key] = msg.src

    def refuse(self, reply_to: bytes, msg_id: int, why: str, kind: str = "refused") -> None:
        """Answer request ``msg_id`` with a RequestRefusedError now (it will not run)."""
        err = {"node": self.self_id, "type": "RequestRefusedError", "message": why, "traceback": "", "kind": kind}
        asyncio.get_running_loop().create_task(self._reply_quietly(reply_to, msg_id, {"ok": False, "error": err}))

    async def _reply_quietly(self, reply_to: bytes, msg_id: int, body: dict) -> None:
        try:
            await self._reply(reply_to, msg_id, body)
        except Exception as exc:        # the refusal itself cannot go out: nothing more to do
            log.debug("could not send a refusal: %r", exc)

    def on_cancel(self, msg: Message, reply_to: bytes) -> None:
        task = self._running.get((reply_to, msg.id))
        if task is not None:
            task.cancel()

    async def _serve(self, msg: Message, reply_to: bytes, key) -> None:
        try:
            await self._serve_handler(msg, reply_to, key)
        finally:
            self._callers.pop(key, None)
            self._inbound[reply_to] -= msg.nbytes
            if self._inbound[reply_to] <= 0:
                del self._inbound[reply_to]

    async def _serve_handler(self, msg: Message, reply_to: bytes, key) -> None:
        op = msg.body["op"]
        try:
            handler = self.handlers.get(op)
            if handler is None:
                raise LookupError(f"op {op!r} is not served by node {self.self_id}")
            result = await asyncio.wait_for(self._gated(handler, msg), msg.body["timeout"])
            body = {"ok": True, "result": result}
        except asyncio.CancelledError:
            self._running.pop(key, None)
            return
        except HandlerTimeout as wrapped:       # the handler's own TimeoutError (a nested call): pass it on
            exc = wrapped.__cause__
            log.debug("handler %s raised %r", op, exc)
            body = {"ok": False, "error": self.error_map(exc)}
        except asyncio.TimeoutError:
            body = {"ok": False, "error": self.error_map(
                RpcTimeoutError(f"{op} exceeded its deadline of {msg.body['timeout']:g} s"), tb=False)}
        except Exception as exc:
            log.debug("handler %s raised %r", op, exc)
            body = {"ok": False, "error": self.error_map(exc)}
        self._running.pop(key, None)
        try:
            await self._reply(reply_to, msg.id, body)
        except Exception as exc:     # e.g. the result cannot be encoded: say so instead of hanging the caller
            log.error("cannot send the reply of %s to %s: %r", op, msg.src, exc)
            try:
                await self._reply(reply_to, msg.id, {"ok": False, "error": self.error_map(exc)})
            except Exception:
                pass

    async def _gated(self, handler: Handler, msg: Message) -> Any:
        if self._gate is not None:
            await self._gate(msg)
        return await own_timeouts_wrapped(handler(**msg.body["args"]))

    def error_map(self, exc: BaseException, tb: bool = True) -> dict:
        if isinstance(exc, RemoteError):          # forwarded: keep the original node and traceback
            return {"type": exc.type, "message": exc.message, "traceback": exc.remote_traceback, "node": exc.node}
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)) if tb else ""
        err = {"node": self.self_id, "type": type(exc).__name__, "message": str(exc), "traceback": text}
        if isinstance(exc, RequestRefusedError):
            err["kind"] = exc.kind
        if isinstance(exc, NodeLostError):
            err["lost"] = exc.node
            err["keys"] = exc.keys[:1000]
        return err

    async def close(self) -> None:
        for task in list(self._running.values()):
            task.cancel()
        if self._running:
            await asyncio.gather(*self._running.values(), return_exceptions=True)
        self._running.clear()
