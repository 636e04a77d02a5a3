"""Property tests (hypothesis) of the wire protocol's decoder and of every op's argument validation.

The decoder, given random frames, mutated real messages or well-formed msgpack of the wrong shape, either
returns a validated message or raises ProtocolError: nothing else. A live node, sent random and mutated requests
for every registered op, answers each one (a result, or an error of a known, clean kind) and keeps serving."""
import tempfile
from pathlib import Path

import msgpack
import numpy as np
import pytest
import zmq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cluster import protocol
from cluster.errors import ProtocolError
from cloudkit import Launcher

SETTINGS = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

leaves = (st.none() | st.booleans() | st.integers(-2**63, 2**64 - 1) | st.floats(allow_nan=True)
          | st.text(max_size=24) | st.binary(max_size=24))
values = st.recursive(leaves, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)


def valid_messages():
    body_hb = {"boot": 1, "pid": 2, "cores": 2, "free_mem": 3, "keys": 0, "pkg": "0.1.0", "members": ["a"],
               "hash": "x", "locked": False, "formed": True, "client": False}
    return [
        protocol.encode("req", src="c", cloud="n", msg_id=5, body={"op": "echo", "args": {"x": np.arange(4)},
                                                                  "timeout": 1.0}),
        protocol.encode("rep", src="10.0.0.1:1", cloud="n", msg_id=5, body={"ok": True, "result": b"y" * 70_000}),
        protocol.encode("hb", src="10.0.0.1:54321", cloud="n", body=body_hb),
        protocol.encode("refuse", src="10.0.0.1:54321", cloud="n", body={"reason": "r", "fatal": True}),
        protocol.encode("bye", src="10.0.0.1:54321", cloud="n", body={"boot": 1}),
    ]


def decode_cleanly(frames):
    try:
        msg = protocol.decode(frames, max_bytes=1 << 20)
    except ProtocolError:
        return None
    if msg.type == "req":
        try:
            protocol.check_request(msg.body)
        except ProtocolError:
            pass
    return msg


@settings(max_examples=600, **SETTINGS)
@given(st.lists(st.binary(max_size=300), min_size=0, max_size=5))
def test_random_frames_decode_or_raise_protocol_error(frames):
    decode_cleanly(frames)


@settings(max_examples=600, **SETTINGS)
@given(st.sampled_from(range(5)), st.data())
def test_mutated_real_messages_decode_or_raise_protocol_error(which, data):
    frames = [bytes(memoryview(f)) for f in valid_messages()[which]]
    i = data.draw(st.integers(0, len(frames) - 1))
    f = bytearray(frames[i])
    for _ in range(data.draw(st.integers(1, 4))):
        op = data.draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        pos = data.draw(st.integers(0, max(0, len(f) - 1)))
        if op == "flip" and f:
            f[pos] ^= data.draw(st.integers(1, 255))
        elif op == "insert":
            f[pos:pos] = data.draw(st.binary(min_size=1, max_size=8))
        elif op == "delete" and f:
            del f[pos]
        elif op == "truncate":
            del f[pos:]
    frames[i] = bytes(f)
    if data.draw(st.booleans()):
        frames = frames[:data.draw(st.integers(0, len(frames)))] + data.draw(st.lists(st.binary(max_size=40),
                                                                                       max_size=2))
    decode_cleanly(frames)


@settings(max_examples=600, **SETTINGS)
@given(st.dictionaries(st.sampled_from(["p", "v", "t", "id", "src", "cloud", "bufs", "x"]), values, max_size=8),
       values)
def test_wellformed_msgpack_of_the_wrong_shape_raises_protocol_error(header, body):
    header = {"p": "aquifer", "v": protocol.PROTOCOL_VERSION, **header}
    decode_cleanly([msgpack.packb(header, use_bin_type=True), msgpack.packb(body, use_bin_type=True)])


SELF = "@SELF"          # replaced by the fuzzed node's id when sent (so some keys and layouts name a member)
node_ids = st.sampled_from([SELF, "127.0.0.1:1", "not a node", ""])
keys = st.text(max_size=12) | st.builds(lambda n, k: f"@{n}@{k}", node_ids, st.text(max_size=8))
wire_values = st.fixed_dictionaries({"type": st.text(max_size=8), "meta": st.dictionaries(st.text(max_size=6), values,
                                                                                          max_size=3),
                                     "bufs": st.lists(st.binary(max_size=64), max_size=2),
                                     "immutable": st.booleans()})
chunks = st.fixed_dictionaries({"cidx": st.integers(-2, 5), "home": node_ids, "start": st.integers(-2, 100),
                                "nrows": st.integers(-2, 100)}, optional={"data": st.lists(values, max_size=2)})
layouts = st.fixed_dictionaries({"vecs": st.lists(st.text(max_size=10), max_size=3),
                                 "chunks": st.lists(chunks, max_size=3)}) | st.dictionaries(st.text(max_size=6),
                                                                                            values, max_size=2)
# well-typed values of the fields that lead deepest into the handlers
DEEP = {"key": keys, "keys": st.lists(keys, max_size=4), "prefix": st.text(max_size=6),
        "prefixes": st.lists(st.text(max_size=6), max_size=3), "value": wire_values,
        "items": st.lists(st.tuples(keys, wire_values).map(list) | values, max_size=3),
        "fn": st.sampled_from(["job.update", "test.counter", "os.system"]),
        "task": st.sampled_from(["mr_tasks.Empty", "mr_tasks.ColSum", "frame.importer.ParseTask", "no.Task"]),
        "state": st.dictionaries(st.sampled_from(["path", "sums", "n", "x"]), values, max_size=2),
        "layout": layouts, "outputs": st.lists(st.sampled_from(["numeric", "enum", "x"]), max_size=2),
        "job": st.none() | st.text(max_size=8), "nodes": st.lists(node_ids, max_size=3),
        "run_id": st.text(max_size=8), "reason": st.text(max_size=10), "x": values}


def args_for(op: str):
    """Arguments for ``op``: of the declared shape with deep-reaching values, with wrong types mixed in, or any
    map at all (missing and unknown keys)."""
    schema = protocol.OPS[op][0]
    required = {k: DEEP.get(k, values) for k in schema if not k.startswith("?")}
    optional = {k[1:]: DEEP.get(k[1:], values) for k in schema if k.startswith("?")}
    typed = st.fixed_dictionaries(required, optional=optional)
    mixed = st.fixed_dictionaries({k: v | values for k, v in required.items()},
                                  optional={k: v | values for k, v in optional.items()})
    return typed | typed | mixed | st.dictionaries(st.text(max_size=8), values, max_size=3)


def _name_self(obj, node_id):
    if isinstance(obj, str):
        return obj.replace(SELF, node_id)
    if isinstance(obj, list):
        return [_name_self(v, node_id) for v in obj]
    if isinstance(obj, dict):
        return {k: _name_self(v, node_id) for k, v in obj.items()}
    return obj


# the ops of the product (the test plugin's test.* ops sleep or allocate on request by design)
# every op of the product, but the two that stop nodes by design (an admitted caller may shut the cloud down, as
# H2O's /3/Shutdown; they are tested in tests/test_web_api.py)
STOPPING_OPS = {"node.shutdown", "cloud.shutdown"}
PRODUCT_OPS = sorted(op for op in protocol.OPS if not op.startswith("test.") and op not in STOPPING_OPS)
CLEAN_ERRORS = {"RequestRefusedError", "ProtocolError", "LookupError", "KeyError", "ValueError", "PermissionError",
                "QuotaExceededError", "RpcTimeoutError", "NodeLostError", "JobCancelledError"}


@pytest.fixture(scope="module")
def fuzz_node():
    kit = Launcher(Path(tempfile.mkdtemp(prefix="aquifer-fuzz-")))
    try:
        (node,) = kit.cloud(1)
        ctx = zmq.Context()
        sock = ctx.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(f"tcp://127.0.0.1:{node.port + 1}")
        yield node, sock
        sock.close(0)
        ctx.term()
    finally:
        kit.cleanup()


def ask(sock, msg_id: int, op: str, args, timeout=2.0, wait_ms=10_000):
    sock.send_multipart(protocol.encode("req", src="fuzzer", cloud="testcloud", msg_id=msg_id,
                                        body={"op": op, "args": args, "timeout": timeout}))
    while sock.poll(wait_ms):
        msg = protocol.decode(sock.recv_multipart(), max_bytes=1 << 26)
        if msg.id == msg_id:
            return msg
    return None


_ids = iter(range(1, 10**9))


@settings(max_examples=400, **SETTINGS)
@given(st.sampled_from(PRODUCT_OPS + ["no.such.op"]), st.data())
def test_every_op_answers_random_arguments_with_a_result_or_a_clean_refusal(fuzz_node, op, data):
    node, sock = fuzz_node
    args = data.draw(args_for(op)) if op in protocol.OPS else data.draw(values)
    if not isinstance(args, dict):
        args = {"x": args}
    args = _name_self(args, node.address)
    msg_id = next(_ids)
    msg = ask(sock, msg_id, op, args)
    assert msg is not None, f"no answer to {op} {args!r:.200}"
    body = msg.body
    if not body["ok"]:
        err = body["error"]
        assert err["type"] in CLEAN_ERRORS, f"{op} {args!r:.200} -> {err['type']}: {err['message']}\n" \
                                            f"{err.get('traceback', '')}"
    assert node.proc.poll() is None


def test_the_node_still_serves_after_the_fuzzing(fuzz_node):
    node, sock = fuzz_node
    msg = ask(sock, next(_ids), "echo", {"x": "still here"})
    assert msg.body == {"ok": True, "result": "still here"}
    assert node.proc.poll() is None and "Traceback" not in node.log().replace("traceback", "")


def test_a_value_that_cannot_travel_is_named():
    """encode's parameter ``type`` shadowed the builtin in its fallback: an int beyond 64 bits (a parameter a
    REST caller sent) raised "'str' object is not callable" instead of saying what could not be sent."""
    from cluster.protocol import MESSAGE_SCHEMAS, encode
    with pytest.raises(TypeError, match=r"cannot send a int beyond 64 bits \(10000000000"):
        encode(next(iter(MESSAGE_SCHEMAS)), src="a", cloud="c", body={"x": 10 ** 30})
