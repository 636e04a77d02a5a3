"""The wire protocol: the one module that turns messages into ZeroMQ frames and back.

Every message is a multipart ZeroMQ message. Frame 0 is a msgpack map, the header::

    {"p": "aquifer", "v": 1, "t": <type>, "id": <request id>, "src": <sender node id>,
     "cloud": <cloud name>, "bufs": [[kind, dtype, shape(, pieces)], ...]}

Frame 1 is the body, a msgpack map whose schema depends on the type. Frames 2.. are raw buffers. A numpy array or a large ``bytes`` inside the body travels out of band:
the body holds a msgpack extension (code 1 = ndarray, 2 = bytes) whose payload is the buffer's index,
and ``bufs`` gives its dtype and shape. Arrays are sent zero-copy and received as read-only views. A buffer over
``PIECE_BYTES`` travels as several consecutive frames (its descriptor's ``pieces``), joined on receipt: libzmq
handles (and with CURVE encrypts) a few 1 MiB frames faster than one large one.

Decoding validates everything before anyone acts on a message: protocol name and version, the
message type, the body against that type's schema, every buffer descriptor (numeric dtypes only,
sizes that match the frames) and the total size. Nothing is ever unpickled or eval'd; the msgpack
extension hook accepts only the two codes above. A message failing any check raises
:class:`ProtocolError`; the node drops it, counts it and keeps serving.

RPC requests name an *op*; each op has an argument schema in :data:`OPS` and an idempotent flag (only
idempotent ops are retried). :func:`check_request` checks a decoded request against it before dispatch; the
receiver answers a request that fails it (or any message of type ``req`` whose header was valid) with an error
at once, so no caller waits out its deadline for a request that was refused.

>>> frames = encode("req", src="127.0.0.1:54321", cloud="c", msg_id=7,
...                 body={"op": "echo", "args": {"x": np.arange(3)}, "timeout": 5.0})
>>> msg = decode(frames, max_bytes=1 << 20)
>>> check_request(msg.body)
>>> msg.type, msg.id, msg.body["args"]["x"].tolist()
('req', 7, [0, 1, 2])
"""
from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass
from typing import Any

import msgpack
import numpy as np

from .config import MAX_PORT, PROTOCOL_NAME, PROTOCOL_VERSION
from .errors import ProtocolError

EXT_NDARRAY = 1
EXT_BYTES = 2
INLINE_BYTES_LIMIT = 1 << 16     # bytes above this travel as their own frame (zero-copy; pyzmq copies
                                 # frames below zmq.COPY_THRESHOLD, 64 KiB, so smaller ones gain nothing)
PIECE_BYTES = 1 << 20            # a bigger buffer is sent as frames of this size (docs/benchmarks.md: a 10 MiB
                                 # echo with CURVE 60 -> 30 ms in raw libzmq, plain 7.8 -> 4.3 ms)

# numeric dtypes only: an object dtype could smuggle pickles (msgpack-numpy's old hole)
ALLOWED_DTYPES = frozenset(
    np.dtype(c).str for c in ("?", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f4", "f8"))


class Any_:
    """Schema marker: any msgpack value."""


ANY = Any_()
Number = (int, float)

# ---------------------------------------------------------------------------------------------------
# Message types and their body schemas. A key starting with "?" is optional.
# ---------------------------------------------------------------------------------------------------
MESSAGE_SCHEMAS: dict[str, dict[str, Any]] = {
    # heartbeat: membership state and node info, sent every heartbeat_interval to every known peer
    "hb": {
        "boot": int, "pid": int, "cores": int, "free_mem": int, "keys": int,
        "pkg": str, "members": list, "hash": str, "locked": bool, "formed": bool, "client": bool,
        # the locked member set's epoch, the replication factor, and this node's votes: members it finds dead,
        # removed members whose new process answered it (optional: a claim without them is still answered)
        "?epoch": int, "?repl": int, "?dead": list, "?back": list, "?copying": int,
        # the failure detector's settings (seconds; compared, a mismatch is warned about; optional as above)
        "?hb_interval": Number, "?suspect_after": Number, "?dead_after": Number,
    },
    "req": {"op": str, "args": dict, "timeout": Number, "?epoch": int},   # epoch: the sending member's set
    "rep": {"ok": bool, "?result": ANY, "?error": dict},
    "cancel": {},                                   # cancels request `id` of the sender
    "refuse": {"reason": str, "fatal": bool},       # you may not join this cloud (schema frozen forever)
    "bye": {"boot": int},                           # orderly shutdown of the sender
}
# types whose sender must be a member-to-be, named by its address (``ip:port``)
NODE_TYPES = frozenset({"hb", "refuse", "bye"})
MAX_TIMEOUT = 30 * 24 * 3600.0       # a request's deadline: finite, positive, at most a month

# RPC ops: argument schema and whether a retry is safe. Registered here, next to the wire format,
# so that callers and handlers read one table.
OPS: dict[str, tuple[dict[str, Any], bool]] = {}


def register_op(name: str, schema: dict[str, Any], *, idempotent: bool) -> None:
    """Declare an RPC op's argument schema (``"?name"`` keys optional, ``ANY`` any value)."""
    if name in OPS and OPS[name] != (schema, idempotent):
        raise ValueError(f"op {name!r} is already registered with another schema")
    OPS[name] = (schema, idempotent)


register_op("echo", {"?x": ANY}, idempotent=True)
register_op("cloud.status", {}, idempotent=True)
register_op("cloud.lock", {"reason": str}, idempotent=True)
register_op("node.shutdown", {}, idempotent=True)
register_op("cloud.shutdown", {}, idempotent=True)
register_op("node.stats", {}, idempotent=True)


@dataclass
class Message:
    type: str
    id: int
    src: str
    cloud: str
    version: int
    body: dict
    nbytes: int


def _check_value(where: str, value: Any, expected: Any) -> None:
    if expected is ANY:
        return
    if expected is float or expected == Number:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif expected is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, expected)
    if not ok:
        name = getattr(expected, "__name__", None) or "/".join(t.__name__ for t in expected)
        raise ProtocolError(f"{where}: expected {name}, got {type(value).__name__}")


def validate(where: str, data: Any, schema: dict[str, Any]) -> None:
    """Check ``data`` against a schema: required keys present, no unknown keys, value types."""
    if not isinstance(data, dict):
        raise ProtocolError(f"{where}: expected a map, got {type(data).__name__}")
    known = {k.lstrip("?") for k in schema}
    for key in data:
        if key not in known:
            raise ProtocolError(f"{where}: unknown field {key!r}")
    for key, expected in schema.items():
        optional = key.startswith("?")
        name = key.lstrip("?")
        if name not in data:
            if not optional:
                raise ProtocolError(f"{where}: missing field {name!r}")
            continue
        _check_value(f"{where}.{name}", data[name], expected)


# ---------------------------------------------------------------------------------------------------
# encoding
# ---------------------------------------------------------------------------------------------------
def encode(type: str, *, src: str, cloud: str, msg_id: int = 0, body: dict | None = None) -> list:
    """Build the frames of one message. Arrays and large bytes in ``body`` go out of band."""
    if type not in MESSAGE_SCHEMAS:
        raise ValueError(f"unknown message type {type!r}")
    buffers: list = []
    descriptors: list = []

    def add(desc: list, data) -> None:
        view = memoryview(data)
        n = view.nbytes
        if n > PIECE_BYTES:
            view = view.cast("B") if view.format != "B" or view.ndim != 1 else view
            desc.append(-(-n // PIECE_BYTES))
            buffers.extend(view[i:i + PIECE_BYTES] for i in range(0, n, PIECE_BYTES))
        else:
            buffers.append(data)
        descriptors.append(desc)

    def default(obj):
        if isinstance(obj, np.ndarray):
            arr = obj if obj.flags.c_contiguous else np.ascontiguousarray(obj)
            dt = arr.dtype.str
            if dt not in ALLOWED_DTYPES:
                raise TypeError(f"dtype {arr.dtype} cannot travel (numeric dtypes only)")
            add(["nd", dt, list(arr.shape)], arr.data if arr.size else b"")
            return msgpack.ExtType(EXT_NDARRAY, len(descriptors).to_bytes(4, "little"))
        if isinstance(obj, _OutOfBand):
            add(["b", "", [memoryview(obj.data).nbytes]], obj.data)
            return msgpack.ExtType(EXT_BYTES, len(descriptors).to_bytes(4, "little"))
        if isinstance(obj, np.generic):
            return obj.item()
        if isinstance(obj, (set, frozenset, tuple)):
            return list(obj)
        kind = "int beyond 64 bits" if isinstance(obj, int) else obj.__class__.__name__   # (`type` is the message's)
        raise TypeError(f"cannot send a {kind} ({obj!r:.60})")

    def pack_body(b):
        # small bytes stay inline; only big ones go out of band
        return msgpack.packb(b, default=default, use_bin_type=True, datetime=False)

    header = {"p": PROTOCOL_NAME, "v": PROTOCOL_VERSION, "t": type, "id": int(msg_id),
              "src": src, "cloud": cloud}
    # the body is packed first so that its buffers are known, then embedded as raw msgpack
    body_packed = pack_body(_outline(body or {}))
    header["bufs"] = descriptors
    head = msgpack.packb(header, use_bin_type=True)
    return [head, body_packed, *buffers]


def check_size(frames: list, max_bytes: int, what: str) -> None:
    """Refuse to send what the receiver would drop as oversized (the caller would wait out its deadline)."""
    total = sum(memoryview(f).nbytes for f in frames)
    if total > max_bytes:
        raise ValueError(f"{what} is {total:,} bytes, over the cloud's message limit of {max_bytes:,} bytes "
                         f"(NodeConfig.max_message_bytes)")


_PLAIN = frozenset({str, int, float, bool, type(None)})   # what can hold no bytes


class _OutOfBand:
    """Big bytes marked to travel as their own frame: msgpack packs bytes (and memoryviews) itself, so only a
    type it does not know reaches ``default``."""
    __slots__ = ("data",)

    def __init__(self, data) -> None:
        self.data = data


def _outline(obj):
    """Mark big bytes to travel out of band (see :class:`_OutOfBand`).

    Lists of plain values are passed as they are after a scan at C speed: a wide frame's task layout holds
    tens of thousands of chunk keys, and a Python call per key cost 10 ms per message.
    """
    if isinstance(obj, dict):
        return {k: v if type(v) in _PLAIN else _outline(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        if set(map(type, obj)) <= _PLAIN:
            return obj
        return [_outline(v) for v in obj]
    if isinstance(obj, (bytes, bytearray)) and len(obj) > INLINE_BYTES_LIMIT:
        return _OutOfBand(obj)
    if isinstance(obj, memoryview) and obj.nbytes > INLINE_BYTES_LIMIT:   # as received: passed on the same way
        return _OutOfBand(obj if obj.c_contiguous else obj.tobytes())
    return obj


# ---------------------------------------------------------------------------------------------------
# decoding
# ---------------------------------------------------------------------------------------------------
HEADER_SCHEMA = {"p": str, "v": int, "t": str, "id": int, "src": str, "cloud": str, "bufs": list}
MAX_HEADER_BYTES = 1 << 16


def _buf(frame) -> memoryview:
    return frame.buffer if hasattr(frame, "buffer") else memoryview(frame)


def valid_node_id(text: str) -> bool:
    """Whether ``text`` names a node as ``ipv4:port`` (what membership messages must come from).

    >>> valid_node_id("10.0.0.1:54321"), valid_node_id("evil:x"), valid_node_id("10.0.0.1:65535")
    (True, False, False)
    """
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 1 <= int(port) <= MAX_PORT or port != str(int(port)):
        return False
    try:
        return str(ipaddress.IPv4Address(host)) == host
    except ValueError:
        return False


def decode(frames: list, *, max_bytes: int) -> Message:
    """Parse and validate one received message; raise :class:`ProtocolError` on anything wrong.

    When the header itself was valid, the error carries it (``exc.header``), so that a request can be answered.
    """
    if len(frames) < 2:
        raise ProtocolError(f"expected at least 2 frames (header, body), got {len(frames)}")
    views = [_buf(f) for f in frames]
    header = _decode_header(views[0])
    try:
        return _decode_rest(header, frames, views, max_bytes)
    except ProtocolError as exc:
        exc.header = header
        raise


def _decode_header(view: memoryview) -> dict:
    if view.nbytes > MAX_HEADER_BYTES:
        raise ProtocolError(f"oversized header: {view.nbytes} bytes", "oversized")
    try:
        header = msgpack.unpackb(view, raw=False, strict_map_key=True, ext_hook=_no_ext)
    except ProtocolError:
        raise
    except Exception as exc:  # msgpack raises several types (ValueError, StackError, FormatError, ...)
        raise ProtocolError(f"malformed header: {type(exc).__name__}: {exc}") from None
    validate("header", header, HEADER_SCHEMA)
    if header["p"] != PROTOCOL_NAME:
        raise ProtocolError(f"not an {PROTOCOL_NAME} message (protocol {header['p']!r})")
    return header


def _decode_rest(header: dict, frames: list, views: list, max_bytes: int) -> Message:
    total = sum(v.nbytes for v in views)
    if total > max_bytes:
        raise ProtocolError(f"oversized message: {total} bytes > limit {max_bytes}", "oversized")
    # "refuse" is frozen across versions, so a node of another version can still be told why it is refused
    if header["v"] != PROTOCOL_VERSION and header["t"] != "refuse":
        raise ProtocolError(f"protocol version {header['v']} is not supported (this node speaks "
                            f"{PROTOCOL_VERSION})", "version")
    mtype = header["t"]
    if mtype not in MESSAGE_SCHEMAS:
        raise ProtocolError(f"unknown message type {mtype!r}", "unknown_type")
    if mtype in NODE_TYPES and not valid_node_id(header["src"]):
        raise ProtocolError(f"a {mtype} message must come from a node named ip:port, not {header['src']!r:.80}")
    payloads = _payloads(header["bufs"], views[2:])

    def ext_hook(code, data):
        if code not in (EXT_NDARRAY, EXT_BYTES) or len(data) != 4:
            raise ProtocolError(f"unknown msgpack extension {code}")
        idx = int.from_bytes(data, "little") - 1
        if not 0 <= idx < len(payloads):
            raise ProtocolError(f"buffer reference {idx} out of range")
        value = payloads[idx]
        if (code == EXT_NDARRAY) != isinstance(value, np.ndarray):
            raise ProtocolError(f"buffer {idx} kind does not match its reference")
        return value

    try:
        body = msgpack.unpackb(views[1], raw=False, strict_map_key=True, ext_hook=ext_hook)
    except ProtocolError:
        raise
    except Exception as exc:
        raise ProtocolError(f"malformed body: {type(exc).__name__}: {exc}") from None
    validate(f"{mtype} body", body, MESSAGE_SCHEMAS[mtype])
    return Message(mtype, header["id"], header["src"], header["cloud"], header["v"], body, total)


def check_request(body: dict) -> None:
    """Check a decoded request's op, arguments and deadline (``ProtocolError`` of kind ``unknown_op``,
    ``bad_args`` or ``bad_timeout``); the receiver answers a failing request with that error at once."""
    spec = OPS.get(body["op"])
    if spec is None:
        raise ProtocolError(f"unknown op {body['op']!r:.100}", "unknown_op")
    try:
        validate(f"op {body['op']} args", body["args"], spec[0])
    except ProtocolError as exc:
        raise ProtocolError(str(exc), "bad_args") from None
    timeout = body["timeout"]
    if not (math.isfinite(timeout) and 0 < timeout <= MAX_TIMEOUT):
        raise ProtocolError(f"request timeout must be in (0, {MAX_TIMEOUT:g}] seconds, got {timeout!r}",
                            "bad_timeout")


def _no_ext(code, data):
    raise ProtocolError(f"msgpack extension {code} not allowed in a header")


def _count(n) -> bool:
    return isinstance(n, int) and not isinstance(n, bool) and n >= 0


def _payloads(descriptors: list, views: list) -> list:
    """The buffers the descriptors announce, from the frames after header and body (pieces joined)."""
    out, at = [], 0
    for i, desc in enumerate(descriptors):
        if not (isinstance(desc, list) and len(desc) in (3, 4) and desc[0] in ("nd", "b")
                and isinstance(desc[1], str) and isinstance(desc[2], list) and all(map(_count, desc[2]))
                and (len(desc) == 3 or (_count(desc[3]) and desc[3] >= 2))):
            raise ProtocolError(f"buffer descriptor {i} is malformed: {desc!r:.80}")
        pieces = desc[3] if len(desc) == 4 else 1
        if at + pieces > len(views):
            raise ProtocolError(f"header lists more buffer frames than the {len(views)} that follow")
        view = views[at] if pieces == 1 else memoryview(b"".join(views[at:at + pieces]))
        at += pieces
        out.append(_payload(i, desc[:3], view))
    if at != len(views):
        raise ProtocolError(f"header lists {at} buffer frames but {len(views)} follow")
    return out


def _payload(i: int, desc, view: memoryview):
    kind, dt, shape = desc
    if kind == "b":
        if len(shape) != 1 or shape[0] != view.nbytes:
            raise ProtocolError(f"buffer {i}: declared {shape} bytes, got {view.nbytes}")
        return view.tobytes() if view.nbytes <= INLINE_BYTES_LIMIT else view
    if dt not in ALLOWED_DTYPES:
        raise ProtocolError(f"buffer {i}: dtype {dt!r} not allowed")
    dtype = np.dtype(dt)
    count = int(np.prod(shape, dtype=np.int64)) if shape else 1
    if count * dtype.itemsize != view.nbytes:
        raise ProtocolError(f"buffer {i}: shape {shape} of {dt} needs {count * dtype.itemsize} bytes, got {view.nbytes}")
    return np.frombuffer(view, dtype=dtype, count=count).reshape(shape)


def op_is_idempotent(op: str) -> bool:
    spec = OPS.get(op)
    return bool(spec and spec[1])
