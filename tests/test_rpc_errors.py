"""RPC error paths without sockets: which error a caller gets, and no failed future left unread.

A handler that raises a TimeoutError of its own (a nested call that timed out, the cloud not forming) is a
failure of the handler, not of the request's deadline: the caller must get that error and its message, not
"<op> exceeded its deadline of <timeout> s" (operator sweep, section 5: an import into a cloud that had not
formed failed after 30 s as "mr.run exceeded its deadline of 86400 s")."""
import asyncio
import gc

import pytest

from cluster import CloudNotFormedError
from cluster.errors import NodeLostError, RpcTimeoutError
from cluster.protocol import Message
from cluster.rpc import Rpc, exception_from_map


def serve(handler, timeout=5.0):
    """Serve one ``echo`` request with ``handler`` on a callee; the error map its reply carries."""
    async def run():
        replies = []

        async def reply(to, msg_id, body):
            replies.append(body)

        async def send(*a, **kw):
            raise AssertionError("the callee sends nothing")

        rpc = Rpc("10.0.0.1:1", send, reply, default_timeout=timeout)
        rpc.register("echo", handler)
        msg = Message("req", 7, "10.0.0.2:1", "c", 0, {"op": "echo", "args": {}, "timeout": timeout}, 10)
        rpc.on_request(msg, b"conn")
        for _ in range(200):
            if replies:
                break
            await asyncio.sleep(0.01)
        (body,) = replies
        assert not body["ok"]
        return body["error"]
    return asyncio.run(run())


def test_a_handler_raising_its_own_timeout_error_is_not_reported_as_the_request_deadline():
    async def nested_call_timed_out(**_):
        raise RpcTimeoutError("mr.local on node 10.0.0.3:1 did not answer within 2 s")

    err = serve(nested_call_timed_out, timeout=86400.0)
    assert err["type"] == "RpcTimeoutError" and "mr.local on node 10.0.0.3:1" in err["message"]
    assert "exceeded its deadline" not in err["message"]

    async def builtin_timeout(**_):
        raise TimeoutError("something inside gave up")

    err = serve(builtin_timeout)
    assert err["type"] == "TimeoutError" and err["message"] == "something inside gave up"


def test_the_request_deadline_is_still_reported_as_such():
    async def slow(**_):
        await asyncio.sleep(10)

    err = serve(slow, timeout=0.2)
    assert err["type"] == "RpcTimeoutError" and err["message"] == "echo exceeded its deadline of 0.2 s"


def test_a_cloud_that_did_not_form_reaches_the_caller_with_its_type_and_message():
    text = ("cloud 'ops' did not form within 30 s: members agreeing so far ['127.0.0.1:1', '127.0.0.1:3'], "
            "expected at least 3")

    async def not_formed(**_):
        raise CloudNotFormedError(text)

    err = serve(not_formed, timeout=86400.0)
    exc = exception_from_map(err, "10.0.0.1:1")
    assert isinstance(exc, CloudNotFormedError) and str(exc) == text
    assert not isinstance(exc, TimeoutError)


def test_a_call_whose_node_is_lost_while_it_is_being_sent_leaves_no_unread_future():
    """The replica fan-out's 'Future exception was never retrieved' (sweep section 11): the send waits for a
    connection, the detector declares the node dead meanwhile (failing the call's future), then the send gives up
    with its own NodeLostError; the future's exception must still be read."""
    unread = []

    async def run():
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda loop, ctx: unread.append(ctx))
        rpc = None

        async def send(node, mtype, msg_id, body, *, deadline, droppable=False):
            await asyncio.sleep(0.05)
            rpc.fail_node(node, "no heartbeat for 60.2 s")         # the detector fires while the send waits
            await asyncio.sleep(0.05)
            raise NodeLostError(node, f"cannot send {mtype}")

        async def reply(*a):
            pass

        rpc = Rpc("10.0.0.1:1", send, reply, default_timeout=5.0)
        with pytest.raises(NodeLostError):
            await rpc.call("10.0.0.2:1", "echo", {"x": 1})
        gc.collect()
        await asyncio.sleep(0.05)

    asyncio.run(run())
    gc.collect()
    assert not [c for c in unread if "never retrieved" in c.get("message", "")], unread
