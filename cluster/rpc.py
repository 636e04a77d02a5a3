"""Request/response calls between nodes: ids, deadlines, cancellation, remote errors as data.

The caller side keeps one future per request id. A reply resolves it; a remote exception arrives as a
map ``{type, message, traceback, node}`` and is raised as :class:`RemoteError`; the failure detector
declaring the callee dead fails it with :class:`NodeLostError`; the deadline fails it with
:class:`RpcTimeoutError` and tells the callee to stop; cancelling the awaiting task sends a ``cancel``.
Only ops declared idempotent in :data:`cluster.protocol.OPS` are retried after a timeout.

The callee side runs each request's handler as its own task, so a cancel or a deadline can stop it, and
always answers (result or error) unless the request was cancelled.
"""
from __future__ import annotations

import asyncio
import itertools
import logging
import traceback
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from .errors import JobCancelledError, NodeLostError, RemoteError, RpcTimeoutError
from .protocol import OPS, Message, op_is_idempotent

log = logging.getLogger("aquifer.rpc")

Handler = Callable[..., Awaitable[Any]]


@dataclass
class _Pending:
    node: str
    op: str
    future: asyncio.Future


def exception_from_map(err: dict, src: str) -> Exception:
    """The caller-side exception for an error map: the cloud's own failure classes keep their type
    (a lost node deep in a task tree is still a NodeLostError naming that node); anything else is a
    RemoteError carrying the remote type, message and traceback."""
    etype, message = str(err.get("type", "Exception")), str(err.get("message", ""))
    if etype == "NodeLostError" and isinstance(err.get("lost"), str):
        exc = NodeLostError(err["lost"], f"reported by {err.get('node', src)}")
        exc.args = (message,)
        return exc
    if etype == "JobCancelledError":
        return JobCancelledError(message)
    return RemoteError(str(err.get("node", src)), etype, message, str(err.get("traceback", "")))


class Rpc:
    """RPC endpoints of one node. ``send(node, type, msg_id, body)`` is the node's transport hook and
    ``reply(to, msg_id, body)`` sends a reply back on the connection a request came from."""

    def __init__(self, self_id: str, send: Callable, reply: Callable, default_timeout: float):
        self.self_id = self_id
        self._send = send
        self._reply = reply
        self.default_timeout = default_timeout
        self.handlers: dict[str, Handler] = {}
        self._pending: dict[int, _Pending] = {}
        self._running: dict[tuple[bytes, int], asyncio.Task] = {}
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

    async def _send_cancel(self, node: str, msg_id: int) -> None:
        try:
            await asyncio.shield(self._send(node, "cancel", msg_id, {}, deadline=None, droppable=True))
        except Exception:       # best effort: the callee's own deadline stops it anyway
            pass

    def on_reply(self, msg: Message) -> None:
        pending = self._pending.get(msg.id)
        if pending is None or pending.future.done():
            return              # late reply of a timed-out or cancelled call
        if pending.node != msg.src:
            log.warning("reply %d from %s, expected %s: dropped", msg.id, msg.src, pending.node)
            return
        body = msg.body
        if body["ok"]:
            pending.future.set_result(body.get("result"))
        else:
            pending.future.set_exception(exception_from_map(body.get("error") or {}, msg.src))

    def fail_node(self, node: str, reason: str) -> None:
        """The failure detector declared ``node`` dead: fail every call waiting on it."""
        for pending in list(self._pending.values()):
            if pending.node == node and not pending.future.done():
                pending.future.set_exception(NodeLostError(node, f"{pending.op} could not complete ({reason})"))

    def fail_all(self, exc_factory: Callable[[str], Exception]) -> None:
        for pending in list(self._pending.values()):
            if not pending.future.done():
                pending.future.set_exception(exc_factory(pending.node))

    # ------------------------------------------------------------------ callee side
    def on_request(self, msg: Message, reply_to) -> None:
        key = (reply_to if isinstance(reply_to, bytes) else str(reply_to).encode(), msg.id)
        task = asyncio.get_running_loop().create_task(self._serve(msg, reply_to, key))
        self._running[key] = task

    def on_cancel(self, msg: Message, reply_to) -> None:
        key = (reply_to if isinstance(reply_to, bytes) else str(reply_to).encode(), msg.id)
        task = self._running.get(key)
        if task is not None:
            task.cancel()

    async def _serve(self, msg: Message, reply_to, key) -> None:
        op = msg.body["op"]
        try:
            handler = self.handlers.get(op)
            if handler is None:
                raise LookupError(f"op {op!r} is not served by node {self.self_id}")
            result = await asyncio.wait_for(handler(**msg.body["args"]), msg.body["timeout"])
            body = {"ok": True, "result": result}
        except asyncio.CancelledError:
            self._running.pop(key, None)
            return
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

    def error_map(self, exc: BaseException, tb: bool = True) -> dict:
        if isinstance(exc, RemoteError):          # forwarded: keep the original node and traceback
            return {"type": exc.type, "message": exc.message, "traceback": exc.remote_traceback, "node": exc.node}
        text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)) if tb else ""
        err = {"node": self.self_id, "type": type(exc).__name__, "message": str(exc), "traceback": text}
        if isinstance(exc, NodeLostError):
            err["lost"] = exc.node
        return err

    async def close(self) -> None:
        for task in list(self._running.values()):
            task.cancel()
        if self._running:
            await asyncio.gather(*self._running.values(), return_exceptions=True)
        self._running.clear()
