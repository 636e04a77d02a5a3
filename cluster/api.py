"""The embedded API: a cloud from a plain Python process, with no asyncio in sight.

>>> import cluster
>>> cloud = cluster.init()                 # a one-node cloud inside this process   # doctest: +SKIP
>>> cluster.status()["size"]                                                         # doctest: +SKIP
1
>>> cluster.shutdown()                                                               # doctest: +SKIP

``init`` runs a node's event loop on a background thread; ``connect("host:port")`` attaches to a running
cloud as a client (not a member, homes no data) and fails loudly if nothing answers -- it never starts a
local cloud instead. ``connect`` takes several addresses (a list, or one comma-separated string) and learns
the other members at attach: when its gateway is lost, calls in flight fail with ``NodeLostError`` within the
failure-detection window and the next call goes through another member (:mod:`cluster.gateway`).

Every blocking call waits with a finite deadline: ``config.rpc_timeout`` per request (retried once when
idempotent) and ``config.mr_timeout`` for a task; change them with ``init``/``connect``'s ``rpc_timeout`` and
``mr_timeout``, or later on ``cloud.config``. Both take ``security_dir`` (and ``identity``) to talk to a cloud
whose nodes run with ``--security-dir`` (docs/security.md). Progress bars of jobs are this layer's business
(:meth:`Cloud.progress_bar`), not the runtime's.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import socket
import threading
from typing import TYPE_CHECKING, Any, Coroutine

from . import session
from .config import DEFAULT_PORT, MAX_PORT, WEB_PLUGIN, NodeConfig, parse_size
from .errors import CloudUnreachableError, NodeLostError, RpcTimeoutError
from .flatfile import guess_own_ip, read_flatfile, resolve
from .progress import ProgressBar
from .session import current

if TYPE_CHECKING:                      # annotations only: the node module is imported when a cloud starts
    from .node import Node

log = logging.getLogger("aquifer.api")


class Cloud:
    """A handle on a running cloud: an embedded member node, or a client attached to a gateway node."""

    def __init__(self, node: "Node", loop: asyncio.AbstractEventLoop, thread: threading.Thread, *,
                 progress: bool = True):
        self.node = node
        self.loop = loop
        self.thread = thread
        self.progress = progress and os.environ.get("AQUIFER_NO_PROGRESS", "") in ("", "0")
        self._closed = False

    # ---------------------------------------------------------------- properties
    @property
    def is_client(self) -> bool:
        return self.node.config.client

    @property
    def node_id(self) -> str:
        return self.node.id

    @property
    def gateway(self) -> str:
        """The node that serves this handle's requests (itself when embedded)."""
        return self.node.gateway if self.is_client else self.node.id

    @property
    def config(self) -> NodeConfig:
        """The settings of this handle's node (message limit, timeouts, ...)."""
        return self.node.config

    def progress_bar(self, description: str) -> ProgressBar | None:
        """What a job started through this handle shows its progress on: a bar in a terminal, else None."""
        return ProgressBar.for_terminal(description, self.progress)

    # ---------------------------------------------------------------- running things on the loop
    def run(self, coro: Coroutine, timeout: float | None = None) -> Any:
        """Run a coroutine on the cloud's loop and wait for it, at most ``timeout`` seconds (default: a request's
        deadline and its one retry, ``2 * config.rpc_timeout``, plus a margin: the coroutine's own deadlines
        normally end it first). Ctrl-C cancels it there too."""
        if timeout is None:
            timeout = 2 * self.config.rpc_timeout + 10
        if self._closed:
            coro.close()
            raise RuntimeError("this cloud handle is shut down; call cluster.init() or cluster.connect() again")
        if threading.current_thread() is self.thread:
            coro.close()
            raise RuntimeError("Cloud.run() called from the cloud's own event loop thread")
        fut = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return fut.result(timeout)
        except concurrent.futures.TimeoutError:
            if fut.done():       # the coroutine itself raised a TimeoutError subclass: pass it on
                raise
            fut.cancel()
            raise RpcTimeoutError(f"operation did not finish within {timeout:g} s") from None
        except KeyboardInterrupt:
            fut.cancel()
            raise

    def call(self, op: str, args: dict | None = None, *, node: str | None = None, timeout: float | None = None):
        """Call an RPC op on ``node`` (default: the gateway) and wait for the result."""
        wait = 2 * (timeout or self.config.rpc_timeout) + 10
        return self.run(self.node.call(node or self.gateway, op, args, timeout=timeout), timeout=wait)

    @property
    def dkv(self) -> "SyncDKV":
        """Blocking access to the DKV from user code (see :mod:`cluster.dkv`)."""
        return SyncDKV(self)

    def status(self) -> dict:
        """Cloud status, the same structure as ``python -m tools.admin cloud --json``."""
        return self.call("cloud.status", timeout=self.config.status_timeout)

    def lost_members(self) -> list[str]:
        """Members lost (dead, removed, restarted empty) in numbers the replication factor does not cover: a key
        only they held is in no listing (``dkv.keys``), so listings must say they may be incomplete by these members
        (a key on a dead node is kept or reported, never silently missing). Empty while copies cover every loss:
        with replication R, fewer than R members lost before the copies of the earlier losses were restored
        (``status()["replication"]["lost"]``, see :meth:`cluster.dkv.DKV.losses`)."""
        lost = self.status().get("replication", {}).get("lost", [])
        return list(dict.fromkeys(x["node"] for x in lost if not x["covered"]))

    def shutdown(self) -> None:
        """Stop the embedded node (or detach the client), join its thread, release every socket."""
        if self._closed:
            return
        wait = self.config.shutdown_timeout
        try:
            fut = asyncio.run_coroutine_threadsafe(self.node.stop(), self.loop)
            try:
                fut.result(wait)
            except concurrent.futures.TimeoutError:
                # the loop is stopped below anyway; say what kept it, so that the hang can be found
                log.warning("node %s did not stop within %g s; stopping its event loop anyway. Still running: %s",
                            self.node.id, wait, self._pending_tasks())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(wait)
            self._closed = True
            session.release(self)

    def _pending_tasks(self) -> str:
        """The loop's unfinished tasks and where each waits (asked on the loop itself, with a short deadline)."""
        async def describe() -> str:
            me = asyncio.current_task()
            lines = []
            for t in asyncio.all_tasks():
                if t is not me:
                    frames = t.get_stack(limit=3)
                    where = " <- ".join(f"{f.f_code.co_name}:{f.f_lineno}" for f in reversed(frames))
                    lines.append(f"{t.get_coro().__qualname__} at {where or '?'}")
            return "; ".join(lines) or "no task"
        try:
            return asyncio.run_coroutine_threadsafe(describe(), self.loop).result(2.0)
        except Exception as exc:            # a loop blocked in a callback does not answer
            return f"(the loop did not answer: {type(exc).__name__})"

    def __repr__(self) -> str:
        kind = "client of" if self.is_client else "node"
        return f"<Cloud {kind} {self.gateway} ({self.node.config.name or '?'})>"


def _port_pair_free(ip: str, port: int) -> bool:
    for p in (port, port + 1):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((ip, p))
            except OSError:
                return False
    return True


def _start_loop_thread(node: "Node", name: str, progress: bool) -> Cloud:
    loop = asyncio.new_event_loop()
    started: concurrent.futures.Future = concurrent.futures.Future()

    def runner():
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(node.start())
        except BaseException as exc:       # report start-up failure to the caller, then clean up
            started.set_exception(exc)
            loop.run_until_complete(node.stop())
            loop.close()
            return
        started.set_result(True)
        try:
            loop.run_forever()
        finally:
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for t in pending:
                t.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_default_executor())
            loop.close()

    thread = threading.Thread(target=runner, name=name, daemon=True)
    thread.start()
    started.result(node.config.start_timeout)
    return Cloud(node, loop, thread, progress=progress)


def _set_deadlines(cfg: NodeConfig, rpc_timeout: float | None, mr_timeout: float | None,
                   heartbeat_interval: float | None, dead_after: float | None) -> None:
    """The settings init and connect share: deadlines and the failure detector's timing."""
    for name, value in (("rpc_timeout", rpc_timeout), ("mr_timeout", mr_timeout)):
        if value is not None:
            if not 0 < value < float("inf"):
                raise ValueError(f"{name} must be a finite number of seconds > 0, got {value!r}")
            setattr(cfg, name, float(value))
    if heartbeat_interval is not None:
        cfg.heartbeat_interval = heartbeat_interval
    if dead_after is not None:
        cfg.dead_after = dead_after
        cfg.suspect_after = min(cfg.suspect_after, dead_after / 2)


def init(ip: str | None = None, port: int | None = None, *, name: str | None = None, flatfile: str | None = None,
         cloud_size: int = 1, nthreads: int | None = None, progress: bool = True, timeout: float | None = None,
         heartbeat_interval: float | None = None, dead_after: float | None = None,
         security_dir: str | None = None, identity: str | None = None, data_dirs=(),
         max_mem_size: int | str | None = None, plugins=(), web: bool = True, verbose: bool = True, replication: int = 1,
         rpc_timeout: float | None = None, mr_timeout: float | None = None) -> Cloud:
    """Start a node inside this process and return its :class:`Cloud` handle.

    With no flatfile this is a one-node cloud on loopback. ``port`` is the REST port (cluster port + 1);
    when not given, 54321 is tried and then every second port upward, as H2O does. With ``cloud_size``
    above 1 it waits (up to ``timeout``, default ``NodeConfig.start_timeout``) for the cloud to form.
    ``progress=False`` (or the environment variable ``AQUIFER_NO_PROGRESS=1``) turns off progress bars.
    ``security_dir``/``identity``, ``data_dirs``, ``max_mem_size`` and ``plugins`` are the node's
    ``--security-dir``/``--identity``, ``--data-dir``, ``--max-mem-size`` and ``--plugin`` (this process's own
    imports may read any file it can; ``data_dirs`` bounds what other processes' tasks read here). The node
    serves the REST API and web UI on ``port`` (``http://ip:port/``), as ``h2o.init`` does, unless
    ``web=False``; ``verbose`` prints where (the URL) once the cloud is up. ``replication`` is
    ``--replication``: copies of every value, the same on every member (2 for a multi-node cloud that should
    survive a lost member). ``rpc_timeout``/``mr_timeout`` are the deadlines of a request and of a task
    (``NodeConfig``). Calling ``init`` again while a cloud is up returns the same handle.

    >>> cloud = init(port=None)                    # doctest: +SKIP
    >>> cloud.status()["members"][0]["state"]      # doctest: +SKIP
    'healthy'
    """
    from .node import Node       # imported here so that `python -m cluster.node` finds it unimported
    with session.lock:
        if session.current_or_none() is not None:
            return session.current()
        defaults = NodeConfig()
        peers = read_flatfile(flatfile) if flatfile else []
        ip = ip or (guess_own_ip(peers) if peers else "127.0.0.1")
        if port is None:
            port = DEFAULT_PORT
            while not _port_pair_free(ip, port):
                port += 2
                if port > MAX_PORT:
                    raise OSError(f"no free port pair found from {DEFAULT_PORT} upward")
        cfg = NodeConfig(ip=ip, port=port, name=name or defaults.name, flatfile_peers=peers, cloud_size=cloud_size,
                         security_dir=os.path.expanduser(security_dir) if security_dir else None, identity=identity,
                         replication=replication,
                         data_dirs=tuple(os.path.abspath(os.path.expanduser(d)) for d in data_dirs))
        base = cfg.plugins if web else tuple(p for p in cfg.plugins if p != WEB_PLUGIN)
        cfg.plugins = (*base, *plugins)
        _set_deadlines(cfg, rpc_timeout, mr_timeout, heartbeat_interval, dead_after)
        if nthreads:
            cfg.compute_threads = nthreads
        if max_mem_size:            # bytes, or H2O's "8g" as --max-mem-size takes it
            cfg.max_mem_size = parse_size(max_mem_size)
        node = Node(cfg)
        cloud = _start_loop_thread(node, f"aquifer-loop-{port}", progress)
        try:
            wait = cfg.start_timeout if timeout is None else timeout
            cloud.run(node.wait_formed(wait), timeout=wait + 10)
        except BaseException:
            cloud.shutdown()
            raise
        session.adopt(cloud)
        if verbose:
            print(f"aquifer node {node.id} up: cloud {cfg.name!r}, {len(node.members)} member(s), "
                  f"{cfg.compute_threads} compute threads")
            for what, url in node.endpoints.items():
                print(f"  {what}: {url}")
        return cloud


def _addresses(address) -> list[str]:
    """``"h:p"``, ``"h1:p1,h2:p2"`` or a list of those, as node ids (host names resolved)."""
    parts = address.split(",") if isinstance(address, str) else list(address)
    out = []
    for part in parts:
        host, sep, port_text = str(part).strip().rpartition(":")
        if not sep or not port_text.isdigit():
            raise ValueError(f"expected host:port, got {part!r}")
        if not 1 <= int(port_text) <= MAX_PORT:      # the REST port; the cluster port is port + 1
            raise ValueError(f"port of {part!r} must be in 1..{MAX_PORT}")
        out.append(f"{resolve(host)}:{int(port_text)}")
    if not out:
        raise ValueError("connect needs at least one host:port")
    return list(dict.fromkeys(out))


def connect(address, *, name: str | None = None, timeout: float | None = None, progress: bool = True,
            security_dir: str | None = None, identity: str | None = None, rpc_timeout: float | None = None,
            mr_timeout: float | None = None, heartbeat_interval: float | None = None,
            dead_after: float | None = None) -> Cloud:
    """Attach to a running cloud as a client, through the first of ``address`` that answers.

    ``address`` is ``"host:port"`` (a node's REST port), several of them comma-separated, or a list. At attach
    the client learns the other members; when its gateway is lost (no answer for ``dead_after`` seconds, as the
    nodes' failure detector), calls waiting on it fail with ``NodeLostError`` and the next call goes through
    another member. ``rpc_timeout``/``mr_timeout`` are the deadlines of a request and of a task.
    Raises :class:`CloudUnreachableError` when none answers within ``timeout`` (default
    ``NodeConfig.connect_timeout``) each; never starts a cloud. A cloud started with ``--security-dir`` answers
    only clients given the same dir (or one holding ``cloud.key`` and an authorized key pair of their own).

    >>> client = connect("10.0.0.1:54321,10.0.0.2:54321", security_dir="~/aquifer-keys")    # doctest: +SKIP
    """
    from .node import Node
    addresses = _addresses(address)
    # a client binds nothing (ip/port only name it) and computes little (its work runs on the nodes)
    cfg = NodeConfig(ip="0.0.0.0", port=1, name=name or "", client=True, compute_threads=2,
                     security_dir=os.path.expanduser(security_dir) if security_dir else None, identity=identity)
    _set_deadlines(cfg, rpc_timeout, mr_timeout, heartbeat_interval, dead_after)
    timeout = cfg.connect_timeout if timeout is None else timeout
    node = Node(cfg, gateway=addresses[0], addresses=addresses)
    cloud = _start_loop_thread(node, f"aquifer-client-{addresses[0]}", progress)
    errors = []
    for gateway in addresses:
        node.gateway = gateway
        try:
            # the outer wait outlasts the call's own deadline, so that the call's error is the one reported
            status = cloud.run(node.call(gateway, "cloud.status", timeout=timeout, retries=0), timeout=timeout + 5)
            break
        except (NodeLostError, RpcTimeoutError):
            errors.append(f"{gateway}: no answer")
        except Exception as exc:
            errors.append(f"{gateway}: {exc}")
    else:
        cloud.shutdown()
        hint = ("Is a node running there, and does its --security-dir admit this key (a refused or revoked key "
                "gets no answer; the node's log names it)?" if security_dir else
                "Is a node running there? A node started with --security-dir answers only to its keys: give "
                "the same key folder (security_dir= here, --security-dir to tools.admin).")
        port_text = addresses[0].rsplit(":", 1)[1]
        raise CloudUnreachableError(
            f"no aquifer node answered at {', '.join(addresses)} (cluster port = port + 1) within {timeout:g} s "
            f"({'; '.join(errors)}). {hint} To start one: python -m cluster.node --port {port_text}") from None
    node.config.name = status["name"]
    node.watch.learn(m["node"] for m in status["members"] if m["state"] != "dead")
    session.adopt(cloud)
    return cloud


def status() -> dict:
    """Status of the current cloud (see :meth:`Cloud.status`)."""
    return current().status()


def shutdown() -> None:
    """Shut down the current embedded node (or detach the client). A no-op when there is none."""
    cloud = session.current_or_none()
    if cloud is not None:
        cloud.shutdown()


class SyncDKV:
    """The DKV's methods, blocking, for code outside the event loop (user code, compute threads).

    >>> fr = cluster.current().dkv.get("my_frame")      # doctest: +SKIP
    """

    def __init__(self, cloud: Cloud):
        self._cloud = cloud
        self._dkv = cloud.node.dkv

    def put(self, key, value):
        return self._cloud.run(self._dkv.put(key, value))

    def put_many(self, items):
        return self._cloud.run(self._dkv.put_many(items))

    def get(self, key):
        local = self._dkv.local_value(key)       # a homed or cached immutable value: no trip to the loop
        if local is not None:
            return local
        return self._cloud.run(self._dkv.get(key))

    def get_many(self, keys):
        return self._cloud.run(self._dkv.get_many(keys))

    def delete(self, *keys):
        return self._cloud.run(self._dkv.delete(list(keys)))

    def delete_prefix(self, prefix):
        return self._cloud.run(self._dkv.delete_prefix(prefix))

    def bytes_of(self, prefixes):
        return self._cloud.run(self._dkv.bytes_of(prefixes))

    def keys(self, prefix=""):
        return self._cloud.run(self._dkv.keys(prefix))

    def type_of(self, key):
        """The type of the value under ``key`` (``"frame"``, ``"model"``...), None when there is none; a listing,
        not a get, which would fetch the whole value (a model: megabytes) to learn it."""
        return next((r["type"] for r in self.keys(key) if r["key"] == key), None)

    def atomic(self, key, fn, args=None):
        return self._cloud.run(self._dkv.atomic(key, fn, args))

    def census(self):
        """How many copies the cloud holds of its keys (see :meth:`cluster.dkv.DKV.census`)."""
        return self._cloud.run(self._dkv.census())

    def home(self, key):
        """The member that is ``key``'s primary (asked of the gateway from a client)."""
        if self._cloud.is_client:
            return self._cloud.call("dkv.home", {"key": key})
        return self._dkv.home(key)

    def lost_hint(self, key):
        """Lost members that may have held ``key`` (see :meth:`cluster.dkv.DKV.lost_hint`)."""
        return self._cloud.run(self._dkv.lost_hint(key))

    def missing(self, key: str, what: str) -> Exception:
        """The error for a ``what`` (e.g. "frame") not found under ``key``: NodeLostError when lost members may
        have taken it with them (every holder it had among them, and no copy or delete of it left: see
        :meth:`cluster.dkv.DKV.lost_hint`), else KeyError (a key never written, or deleted)."""
        lost = self.lost_hint(key)
        if lost:
            who = (f"member {lost[0]}, which was lost," if len(lost) == 1 else
                   f"its holders {', '.join(lost)}, which were all lost,")
            return NodeLostError(lost[0], f"no {what} {key!r} in the cloud: {who} may have held it", keys=[key])
        return KeyError(f"no {what} {key!r} in the cloud")
