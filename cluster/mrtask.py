"""MRTask: the one distributed map/reduce every algorithm runs on.

A subclass declares its state as annotated class attributes with defaults; only those travel (msgpack plus
raw numpy buffers, never pickle). It overrides ``map(cs)`` and ``reduce(other)``, and optionally
``setup_local()``, ``close_local()`` and ``post_global()``::

    class ColSum(MRTask):
        sums: np.ndarray = None
        n: int = 0
        def map(self, cs):
            self.sums = np.array([np.nansum(cs[i]) for i in range(len(cs))]); self.n = cs.nrows
        def reduce(self, other):
            self.sums = other.sums if self.sums is None else self.sums + other.sums; self.n += other.n

    total = ColSum().do_all(fr).sums

How it runs: the caller (a member, the embedded node, or a client through its gateway) asks one node, the
*root*, to run the task. The root arranges the nodes holding chunks in a binary tree; each node builds the
task from its shipped state, calls ``setup_local()``, maps every chunk it homes on its compute pool (a clone
of the task per chunk, so maps never share fields; attributes set by ``setup_local`` *are* shared, which
is how Hogwild! training shares one model per node), reduces its chunks in chunk order, calls
``close_local()``, then reduces its children's results and passes its own up. The caller receives the
final state and runs ``post_global()``. Heavy maps never run on the event loop, so heartbeats flow.

Any exception in a map or reduce cancels the rest of the tree and reaches the caller as ``RemoteError``
with the remote traceback; a cancelled job stops every node at its next chunk boundary with
``JobCancelledError``. Chunks whose node is dead or gone are mapped by a live holder of their copies
(``--replication``): at the start, and when a member is lost mid-task the node above it in the tree runs that
member's subtree again, its chunks on their other holders (up to ``NodeConfig.mr_retries`` times; a task whose
maps change their own input chunks sets ``retry_safe = False`` and fails instead). A chunk no live member holds
raises ``NodeLostError`` naming the lost node and the chunk keys. Chunks a map writes are copied to their other
holders before the task completes. The minority side of a partition refuses tasks (``NoQuorumError``).

Task classes are found through a registry filled when their module is imported: a message names a
registered class, never arbitrary code. For multi-node clouds, define tasks in a module every node imports
(a plugin, see :func:`cluster.node.load_plugins`). A task that reads files passes their paths through
``self.local_files.check(path)``: a node lets tasks sent by other processes read only under its ``--data-dir``.

Where the chunks come from is not this module's business: ``do_all`` takes any *source* with a method
``mr_layout(columns) -> dict`` (the frame layer supplies it) and decodes chunk values with the codec that
layer registers through :func:`register_chunk_codec`. A layout is ``{"vecs": [vec key per selected column],
"chunks": [{"cidx", "home", "start", "nrows"[, "data": [home, cidx]]}]}``: the node homing a chunk maps it,
reading the values under :func:`chunk_key` of each vec at the chunk's own home and index (or those ``data``
names, when a replicated layout gives a node a copy of a chunk held elsewhere, or a chunk is mapped on another
holder of its copies). A row with ``"copy": true`` is one node's copy of replicated data: when that node is
lost, its row is dropped rather than moved (the other nodes map every chunk already).
"""
from __future__ import annotations

import asyncio
import copy
import logging
import os
import threading
import typing
import uuid
from typing import Any, Callable, ClassVar

import numpy as np

from .session import current
from .dkv import Value, homed_key
from .errors import JobCancelledError, NodeLostError, ProtocolError
from .files import ANYWHERE, FileAccess
from .protocol import ANY, register_op
from .rpc import remote_caller

log = logging.getLogger("aquifer.mrtask")

register_op("mr.run", {"task": str, "state": dict, "layout": dict, "outputs": list, "job": ANY},
            idempotent=False)
register_op("mr.local", {"task": str, "state": dict, "layout": dict, "outputs": list, "job": ANY,
                         "nodes": list, "run_id": str}, idempotent=False)

TASKS: dict[str, type["MRTask"]] = {}
_CODEC: dict[str, Callable] = {}


def register_chunk_codec(decode: Callable[[Value], np.ndarray], encode: Callable[[np.ndarray, str], Value],
                         block: Callable[[list], Any] | None = None) -> None:
    """``decode(value) -> float64 array`` and ``encode(array, type) -> Value`` for chunk values; optional
    ``block(values)`` -> an object whose ``decode(lo, hi)`` gives columns lo..hi-1 as the rows of one
    (hi - lo, nrows) float64 array (the batched decode behind ``cs.matrix()`` and read-ahead)."""
    _CODEC["decode"], _CODEC["encode"], _CODEC["block"] = decode, encode, block


def chunk_key(home: str, vec_key: str, cidx: int) -> str:
    """The DKV key of chunk ``cidx`` of a column (vec): homed explicitly, so chunks sit where the layout says."""
    return homed_key(home, f"{vec_key}#{cidx}")


def _read_only(a: np.ndarray) -> np.ndarray:
    """A read-only view (never the array itself: decode outputs are recycled and must stay writeable)."""
    v = a.view()
    v.flags.writeable = False
    return v


class ChunkSet:
    """One chunk's rows, as ``map`` sees them: ``cs[i]`` is selected column i as float64 (NaN for NA), and
    ``cs.matrix()`` all of them as one (nrows, ncols) array. Both are read-only views of decoded values (the
    chunk itself never changes through them): copy before changing one.

    Columns are decoded on first access, so a map that reads only some of them (or none: a task working
    from its own node-local cache) pays only for what it reads. A map reading columns in order gets them
    decoded ahead, in runs that double up to about ``READ_AHEAD_BYTES`` (one kernel call per run, as a
    file system reads ahead); runs fit in a core's cache, and once the map has moved past a run its arrays
    are recycled for the next, so a pass over a wide chunk never writes all its float64 to memory. A
    column read again after its run was dropped is decoded again once, and from then on every decoded
    column is kept.

    >>> cs = ChunkSet(0, 0, 2, [1.5, 2.5], 0, decode=lambda v: np.full(2, v))
    >>> cs[1].tolist(), cs.matrix().tolist()
    ([2.5, 2.5], [[1.5, 2.5], [1.5, 2.5]])
    """

    READ_AHEAD_BYTES = 2 << 20

    def __init__(self, cidx: int, start: int, nrows: int, values: list, n_outputs: int, home: str = "",
                 put_local: Callable | None = None, decode: Callable | None = None, block: Callable | None = None,
                 data_home: str | None = None):
        self.cidx, self.start, self.nrows = cidx, start, nrows
        self.data_home = data_home or home    # the node the chunk's keys name (``home`` is the node mapping it)
        self.values = values              # the raw chunk values, for tasks that decode natively (strings)
        self._decode = decode
        self._block_of = block
        self._block = None                # made on the first run of more than one column
        self._columns: list = [None] * len(values)
        self._seen = bytearray(len(values))
        self._run: range = range(0)       # columns of the last run, dropped when the next is decoded
        self._keep_all = False
        self._ahead = 1
        self._max_ahead = max(1, self.READ_AHEAD_BYTES // max(8 * nrows, 1))
        self.home = home
        self._put_local = put_local
        # outputs start as NaN; map may fill them in place or replace them (a different length is allowed)
        self.outputs: list[np.ndarray] = [np.full(nrows, np.nan) for _ in range(n_outputs)]

    def __len__(self) -> int:
        return len(self._columns)

    def __getitem__(self, i: int) -> np.ndarray:
        col = self._columns[i]
        if col is None:
            col = self._load(i)
        return col

    def matrix(self) -> np.ndarray:
        """Every selected column as one (nrows, ncols) float64 array in column-major order (``cs[i]`` is
        then its column i), decoded in one call."""
        k = len(self._columns)
        if self._block_of is None or k < 2:
            block = np.empty((k, self.nrows))
            for j in range(k):
                block[j] = self[j]
        else:
            block = self._blocks().decode(0, k)
        block.flags.writeable = False
        self._keep_all = True
        self._columns = list(block)
        return block.T

    def _blocks(self):
        if self._block is None:
            self._block = self._block_of(self.values)
        return self._block

    def _load(self, i: int) -> np.ndarray:
        k = len(self._columns)
        i = range(k)[i]                               # negative indices, IndexError
        if self._seen[i]:                             # read again after its run was dropped
            self._keep_all = True
        run = self._run
        self._ahead = min(2 * self._ahead, self._max_ahead) if run and i == run.stop else 1
        hi = min(i + self._ahead, k)
        if self._keep_all:                            # stop at the first column already held
            j = i + 1
            while j < hi and self._columns[j] is None:
                j += 1
            hi = j
        else:
            self._columns[run.start:run.stop] = [None] * len(run)
        if hi - i > 1 and self._block_of is not None:
            block = self._blocks().decode(i, hi)
            block.flags.writeable = False
            cols = list(block)
        else:
            cols = [_read_only(self._decode(self.values[j])) for j in range(i, hi)]
        self._columns[i:hi] = cols
        self._seen[i:hi] = b"\1" * (hi - i)
        self._run = range(i, hi)
        return cols[0]

    def put_local(self, vec_key: str, value: Value) -> None:
        """Store chunk ``cidx`` of another vec next to this chunk (tasks writing new frames): on this node, under the
        chunk's own home, and copied to the chunk's other holders when the task completes."""
        self._put_local(chunk_key(self.data_home, vec_key, self.cidx), value)

    def __repr__(self) -> str:
        return f"<ChunkSet {self.cidx}: rows {self.start}..{self.start + self.nrows - 1}, {len(self)} columns>"


# ---------------------------------------------------------------------------------------------------
# task state: declared fields only, msgpack-safe
# ---------------------------------------------------------------------------------------------------
_ALLOWED = (type(None), bool, int, float, str, bytes, list, dict, np.ndarray)


def _check_state_value(cls: str, name: str, value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple):
        value = list(value)
    if not isinstance(value, _ALLOWED):
        raise TypeError(f"{cls}.{name} holds a {type(value).__name__}: task fields must be numbers, strings, "
                        f"bytes, lists, dicts or numpy arrays (they travel as msgpack, never pickled)")
    if isinstance(value, np.ndarray) and value.dtype == object:
        raise TypeError(f"{cls}.{name} is an object array: only numeric arrays can travel")
    return value


class MRTask:
    """Base class of distributed map/reduce tasks (see the module docstring)."""

    _fields: ClassVar[dict[str, Any]] = {}
    # set by the runtime on the node before setup_local (never travels): the compute threads the task may keep
    # busy (the node's pool, capped at its share of the cores when several members share the host)
    local_threads: ClassVar[int] = 1
    # fields that maps only read (a model, parameters): shared by a node's maps instead of copied per chunk
    shared_fields: ClassVar[tuple[str, ...]] = ()
    # set by the runtime on the node before setup_local (never travels): where the task may read files there
    local_files: ClassVar[FileAccess] = ANYWHERE
    # whether a member's share may run again when it is lost mid-task (False for maps that change their input)
    retry_safe: ClassVar[bool] = True

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        fields: dict[str, Any] = {}
        for klass in reversed(cls.__mro__):
            for name, ann in getattr(klass, "__annotations__", {}).items():
                if name.startswith("_") or typing.get_origin(ann) is ClassVar or "ClassVar" in str(ann):
                    continue
                fields[name] = getattr(klass, name, None)
        cls._fields = fields
        TASKS[cls.task_name()] = cls

    @classmethod
    def task_name(cls) -> str:
        return f"{cls.__module__}.{cls.__qualname__}"

    def __init__(self, **state):
        for name, default in self._fields.items():
            setattr(self, name, copy.deepcopy(default))
        for name, value in state.items():
            if name not in self._fields:
                raise TypeError(f"{type(self).__name__} has no field {name!r} (fields: {sorted(self._fields)})")
            setattr(self, name, value)

    # ---------------------------------------------------------------- to override
    def setup_local(self) -> None:
        """Once per node before its first map (attributes set here are shared by that node's maps)."""

    def map(self, cs: ChunkSet) -> None:
        raise NotImplementedError(f"{type(self).__name__} must define map(cs)")

    def reduce(self, other: "MRTask") -> None:
        """Merge ``other`` into self. The default keeps self (tasks that only write output columns)."""

    def close_local(self) -> None:
        """Once per node after its maps and local reduces."""

    def post_global(self) -> None:
        """Once, on the caller, after everything."""

    # ---------------------------------------------------------------- state
    def get_state(self) -> dict:
        name = type(self).__name__
        return {f: _check_state_value(name, f, getattr(self, f)) for f in self._fields}

    def set_state(self, state: dict) -> None:
        for f, value in state.items():
            if f not in self._fields:
                raise ProtocolError(f"task {type(self).__name__} has no field {f!r}")
            if isinstance(value, np.ndarray) and not value.flags.writeable:
                value = value.copy()          # received buffers are read-only views
            setattr(self, f, value)

    @classmethod
    def from_state(cls, state: dict) -> "MRTask":
        task = cls.__new__(cls)
        MRTask.__init__(task)
        task.set_state(state)
        return task

    # ---------------------------------------------------------------- running
    def do_all(self, source, columns: list | None = None, outputs: list[str] | None = None, *,
               job=None, cloud=None, replicate_to: list[str] | None = None) -> "MRTask":
        """Run over every chunk of ``source`` (a Frame) and return self holding the reduced state.

        ``columns`` selects columns (names or indices) for ``cs``; ``outputs`` lists the types of new
        columns ``map`` writes into ``cs.outputs`` (then ``self.output_layout`` describes them for the
        frame layer). ``job`` (a :class:`cluster.Job`) makes the task stop at chunk boundaries once the
        job is cancelled.
        """
        cloud = cloud or current()
        layout = source.mr_layout(columns) if replicate_to is None else source.mr_layout(columns, replicate_to)
        return cloud.run(self.do_all_async(cloud.node, layout, outputs or [], job_key=job.key if job else None),
                         timeout=cloud.config.mr_timeout + 10)

    async def do_all_async(self, node, layout: dict, outputs: list[str], job_key: str | None = None):
        """The coroutine behind :meth:`do_all`, for code already on a node's loop."""
        entry = node.gateway if node.config.client else node.id
        result = await node.call(entry, "mr.run", {"task": self.task_name(), "state": self.get_state(),
                                                    "layout": layout, "outputs": list(outputs), "job": job_key},
                                 timeout=node.config.mr_timeout)
        self.set_state(result["state"])
        self.output_layout = result.get("output_layout")
        self.post_global()
        return self


# ---------------------------------------------------------------------------------------------------
# the node side
# ---------------------------------------------------------------------------------------------------
class MRService:
    """Serves ``mr.run`` (be the root) and ``mr.local`` (run a subtree) on one node (a node service).

    It asks the ``jobs`` service whether a job was cancelled and writes chunks through the DKV's
    ``put_local``; what it owns is its runs and the chunk keys it derived."""

    def __init__(self, node):
        self.node = node
        self._runs: dict[str, threading.Event] = {}
        self._keys: dict[tuple, dict] = {}           # column selection -> {(home, cidx): chunk keys}
        node.register("mr.run", self._h_run)
        node.register("mr.local", self._h_local)

    async def _h_run(self, task, state, layout, outputs, job):
        _check_layout(layout)
        self.node.check_quorum()
        layout = self._replan(layout, task)
        nodes = sorted({c["home"] for c in layout["chunks"]})
        if not nodes:
            nodes = [self.node.id]
        await self.node.lock("first job")
        out_vecs = [f"$vec/{uuid.uuid4().hex}" for _ in outputs]
        run_id = uuid.uuid4().hex
        # this node is the root: it runs its own subtree whether or not it holds chunks
        order = [self.node.id] + [n for n in nodes if n != self.node.id]
        try:
            result = await self._h_local(task, state, {**layout, "out_vecs": out_vecs}, outputs, job, order, run_id)
        except asyncio.CancelledError:
            if out_vecs:                # cancelled: the deletes cannot be awaited here, they run on their own
                self.node.spawn(self._delete_outputs(task, out_vecs))
            raise
        except BaseException:
            if out_vecs:                # nothing will name the chunks the maps wrote: delete them on every node
                await self._delete_outputs(task, out_vecs)
            raise
        if outputs:
            rows = {c["cidx"]: c for c in result.pop("out_chunks")}
            result["output_layout"] = {"vecs": out_vecs, "types": list(outputs),
                                       "chunks": [rows[c["cidx"]] for c in layout["chunks"]]}
        else:
            result.pop("out_chunks", None)
        return result

    async def _delete_outputs(self, task: str, out_vecs: list[str]) -> None:
        """Delete the output chunks of a task that failed or was cancelled, on every live member (a map that was
        still running elsewhere drops what it writes after the delete: ``put_local(deleted_since=)``). Best effort:
        a member lost meanwhile is tried again, and what cannot be deleted is logged by vec."""
        prefixes = [f"{v}#" for v in out_vecs]
        cfg = self.node.config
        for attempt in range(3):
            try:
                n = await self.node.dkv.delete_prefix(prefixes)
                log.info("task %s failed: deleted its %d output chunk(s) (%d vec(s))", task, n, len(out_vecs))
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:            # noqa: BLE001 - a member lost on the way: again, then give up
                if attempt == 2:
                    log.warning("task %s failed and its output chunks could not be deleted on every member (%s: "
                                "%s): vecs %s", task, type(exc).__name__, exc, ", ".join(out_vecs))
                    return
                await asyncio.sleep(cfg.heartbeat_interval)

    async def _h_local(self, task, state, layout, outputs, job, nodes, run_id):
        cls = TASKS.get(task)
        if cls is None:
            raise LookupError(f"task class {task} is not registered on node {self.node.id}: define it in a "
                              f"module every node imports (a plugin: python -m cluster.node --plugin MODULE)")
        if not nodes or nodes[0] != self.node.id:
            raise ProtocolError(f"mr.local subtree {nodes!r:.200} does not start at this node {self.node.id}")
        for n in nodes:
            if not isinstance(n, str) or n not in self.node.members:
                raise ProtocolError(f"mr.local subtree names {n!r:.100}, which is not a member of this cloud")
        _check_layout(layout)                         # from a peer (cheap: a row per chunk, no chunk keys)
        stop = threading.Event()
        self._runs[run_id] = stop
        # binary tree: the rest of the list splits into two subtrees, each led by its first node
        rest = nodes[1:]
        half = (len(rest) + 1) // 2
        subtrees = [s for s in (rest[:half], rest[half:]) if s]
        args = {"task": task, "state": state, "outputs": outputs, "job": job, "run_id": run_id}
        children = [asyncio.ensure_future(self._subtree(cls, args, _only_homed(layout, s), s)) for s in subtrees]
        mine = asyncio.ensure_future(self._run_here(cls, state, layout, outputs, job, stop))
        try:
            done = await _gather_cancel_on_error([mine, *children])
        except BaseException:
            stop.set()
            raise
        finally:
            self._runs.pop(run_id, None)
        local_task, out_chunks = done[0]
        for child in done[1:]:
            if child is None:
                continue
            other = cls.from_state(child["state"])
            await self.node.run_compute(local_task.reduce, other)
            out_chunks += child["out_chunks"]
        return {"state": local_task.get_state(), "out_chunks": out_chunks}

    async def _subtree(self, cls, args: dict, layout: dict, nodes: list) -> dict | None:
        """Run a subtree (``mr.local`` on ``nodes[0]``); when a member of it is lost, run its chunks again on live
        holders of their copies (``_replan``), up to ``mr_retries`` times."""
        cfg = self.node.config
        for attempt in range(cfg.mr_retries + 1):
            try:
                return await self.node.call(nodes[0], "mr.local", {**args, "nodes": nodes, "layout": layout,
                                                                   "run_id": f"{args['run_id']}.{attempt}"},
                                            timeout=cfg.mr_timeout)
            except NodeLostError as exc:
                if attempt == cfg.mr_retries or not cls.retry_safe:
                    raise
                await self._until_dead(exc.node)
                if not any(self._gone(c["home"]) for c in layout["chunks"]):
                    raise                       # no member of the subtree is gone: its data is
                layout = self._replan(layout, args["task"])
                nodes = sorted({c["home"] for c in layout["chunks"]})
                log.warning("task %s: node %s was lost; running its share again on %s", args["task"], exc.node,
                            ", ".join(nodes) or "no node (nothing left to map)")
                if not nodes:
                    return None                 # only copies of replicated data were left: nothing to map

    async def _until_dead(self, node: str) -> None:
        """Wait until this node's own detector agrees that ``node`` is gone (a child may report it first)."""
        cfg = self.node.config
        deadline = asyncio.get_running_loop().time() + cfg.dead_after + 2 * cfg.heartbeat_interval
        while not self._gone(node) and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(cfg.heartbeat_interval / 4)

    def _gone(self, node: str) -> bool:
        return self.node.is_dead(node) or node not in self.node.members

    def _replan(self, layout: dict, task: str) -> dict:
        """The layout with each chunk of a dead or departed node moved to a live holder of its copies (its row
        keeps naming the data it reads as ``data``); a replicated copy of such a node is dropped. Raises
        NodeLostError naming the chunk keys no live member holds."""
        vecs = layout["vecs"]
        chunks, lost = [], []
        for c in layout["chunks"]:
            runner = c["home"]
            if not self._gone(runner):
                chunks.append(c)
                continue
            if c.get("copy"):
                continue
            data_home, data_cidx = c.get("data") or (runner, c["cidx"])
            holders = [h for h in self.node.dkv.holders(chunk_key(data_home, "", data_cidx)) if not self._gone(h)]
            if holders:
                chunks.append({**c, "home": holders[0], "data": [data_home, data_cidx]})
            else:
                lost.append((data_home, data_cidx))
        if lost:
            keys = [chunk_key(h, v, i) for h, i in lost for v in (vecs or [""])]
            raise NodeLostError(lost[0][0], f"{len(lost)} chunk(s) of the data of task {task} were held only by "
                                            f"lost members (chunks {', '.join(str(i) for _, i in lost[:20])})",
                                keys=keys)
        return {**layout, "chunks": chunks}

    def _chunk_keys(self, vecs: list, chunks: list) -> list:
        """The DKV keys of each chunk's columns: ``chunk_key(home, vec, cidx)`` of the chunk's data (itself, or
        the chunk named by ``data`` in a replicated layout). Derived here rather than shipped (a wide frame's
        layout would carry every chunk key to every node at every pass), and kept for the last few column
        selections, which a training loop maps again and again."""
        sel = tuple(vecs)
        derived = self._keys.pop(sel, None) or {}
        self._keys[sel] = derived                     # most recently used last
        while len(self._keys) > self.node.config.mr_key_selections:
            self._keys.pop(next(iter(self._keys)))
        out = []
        for c in chunks:
            home, cidx = c.get("data") or (c["home"], c["cidx"])
            ks = derived.get((home, cidx))
            if ks is None:
                ks = derived[(home, cidx)] = [chunk_key(home, v, cidx) for v in sel]
            out.append(ks)
        return out

    def _threads_for_tasks(self) -> int:
        """The compute threads a task may keep busy on this node (its maps, and threads it starts itself): its
        pool, but no more than its share of the cores when several members run on this host (a task that spins
        its threads together, such as DL kernel teams, would otherwise fight the other nodes for the cores; and
        maps on more threads than cores only wait on each other)."""
        host = self.node.id.rsplit(":", 1)[0]
        here = sum(1 for m in self.node.members if m.rsplit(":", 1)[0] == host and not self.node.is_dead(m))
        return max(1, min(self.node.config.compute_threads, (os.cpu_count() or 1) // max(1, here)))

    async def _run_here(self, cls, state, layout, outputs, job, stop: threading.Event):
        node_id = self.node.id
        mine = [c for c in layout["chunks"] if c["home"] == node_id]
        keys = self._chunk_keys(layout["vecs"], mine)
        dkv, jobs = self.node.dkv, self.node.jobs
        # a layout may give this node chunks homed elsewhere (replicated data, H2O's run_local): fetched once
        # (and cached where the quota allows, since immutable chunks may stay)
        fetched = await dkv.fetch_local(dkv.missing_locally([k for ks in keys for k in ks]))
        base = cls.from_state(state)
        base.local_threads = self._threads_for_tasks()
        # a task sent by another process reads files only under this node's data dirs
        base.local_files = ANYWHERE if remote_caller.get() is None else FileAccess(
            self.node.config.readable_dirs(), node_id)
        if cls.setup_local is not MRTask.setup_local:    # the base hook does nothing: spare the pool trip
            await self.node.run_compute(base.setup_local)
        decode, encode, block = _CODEC.get("decode"), _CODEC.get("encode"), _CODEC.get("block")

        def check_stop():
            if stop.is_set():
                raise asyncio.CancelledError()
            if jobs.is_cancelled(job):
                raise JobCancelledError(f"job {job} was cancelled")

        written: list = []                    # (key, value, version) of chunks the maps stored: copied at the end
        since = dkv.clock()                   # a delete of a key after this (the root cleaning up) drops its write

        def store_unless_stopped(key, value):
            # a map still running when the task failed elsewhere must not write after the caller cleaned up
            check_stop()
            stamped = dkv.put_local(key, value, deleted_since=since)
            if stamped is None:               # deleted meanwhile: the task failed and its outputs are gone
                raise asyncio.CancelledError()
            written.append(stamped)

        def run_chunk(c, chunk_keys):
            check_stop()
            values = dkv.local_values(chunk_keys)
            if None in values:
                for j, key in enumerate(chunk_keys):
                    if values[j] is None:
                        values[j] = fetched.get(key)
                        if values[j] is None:
                            raise KeyError(f"chunk {key} is missing on node {node_id}")
            data_home = (c.get("data") or (node_id,))[0]
            cs = ChunkSet(c["cidx"], c["start"], c["nrows"], values, len(outputs), node_id, store_unless_stopped,
                          decode, block, data_home=data_home)
            t = copy.copy(base)                          # shares what setup_local built...
            t.set_state({k: v if k in cls.shared_fields else copy.deepcopy(v)      # ...but has its own fields
                         for k, v in state.items()})
            t.map(cs)
            out = []
            for j, (vec, typ) in enumerate(zip(layout.get("out_vecs", []), outputs)):
                arr = np.asarray(cs.outputs[j], dtype=np.float64)
                if j and len(arr) != len(cs.outputs[0]):
                    raise ValueError(f"output columns of chunk {c['cidx']} differ in length")
                store_unless_stopped(chunk_key(data_home, vec, c["cidx"]), encode(arr, typ))
                out = {"cidx": c["cidx"], "home": data_home, "nrows": int(len(arr))}
            return t, out

        # one pool job per thread, each taking the next chunk until none is left: a trip through the pool per
        # chunk would wake the event loop (and take the GIL from the maps) every time a chunk ends
        results: list = [None] * len(mine)
        todo = iter(range(len(mine)))         # shared: next() on it is atomic under the GIL

        def run_chunks():
            for i in todo:
                results[i] = run_chunk(mine[i], keys[i])

        workers = min(len(mine), base.local_threads)
        await _gather_cancel_on_error([self.node.run_compute(run_chunks) for _ in range(workers)], stop)
        if jobs.is_cancelled(job):                             # cancelled while the last maps ran
            raise JobCancelledError(f"job {job} was cancelled")
        await dkv.replicate(written)
        tasks = [t for t, _ in results]
        out_chunks = [o for _, o in results if o]

        def reduce_and_close():                  # one trip to the pool: each costs a thread hand-off
            local = tasks[0] if tasks else base
            for other in tasks[1:]:
                local.reduce(other)
            local.close_local()
            return local

        return await self.node.run_compute(reduce_and_close), out_chunks


async def _gather_cancel_on_error(aws: list, stop: threading.Event | None = None) -> list:
    """Like gather, but the first failure cancels the rest (and sets ``stop`` for running threads)."""
    futures = [asyncio.ensure_future(a) for a in aws]
    if not futures:                       # a node holding none of the frame's chunks
        return []
    try:
        await asyncio.wait(futures, return_when=asyncio.FIRST_EXCEPTION)
        for f in futures:
            if f.done() and not f.cancelled() and f.exception() is not None:
                raise f.exception()
        return [f.result() for f in futures]
    except BaseException:
        if stop is not None:
            stop.set()
        for f in futures:
            f.cancel()
        await asyncio.gather(*futures, return_exceptions=True)
        raise


def _check_layout(layout: dict) -> None:
    vecs, chunks = layout.get("vecs"), layout.get("chunks")
    if not (isinstance(vecs, list) and set(map(type, vecs)) <= {str}):
        raise ProtocolError("layout.vecs must be a list of vec keys")
    if not isinstance(chunks, list):
        raise ProtocolError("layout.chunks must be a list")
    for c in chunks:
        data = c.get("data", ["", 0]) if isinstance(c, dict) else None
        if not (isinstance(c, dict) and isinstance(c.get("cidx"), int) and isinstance(c.get("home"), str)
                and isinstance(c.get("start"), int) and isinstance(c.get("nrows"), int)
                and isinstance(data, list) and len(data) == 2 and isinstance(data[0], str)
                and isinstance(data[1], int) and isinstance(c.get("copy", False), bool)):
            raise ProtocolError(f"malformed chunk in layout: {c!r:.100}")


def _only_homed(layout: dict, nodes: list) -> dict:
    """The layout with only the chunks homed on ``nodes`` (what a subtree maps)."""
    here = set(nodes)
    return {**layout, "chunks": [c for c in layout["chunks"] if c["home"] in here]}
