"""Ops and atomics the test suite loads into node processes (python -m cluster.node --plugin aquifer_test_plugin)."""
import asyncio

import numpy as np

from cluster.dkv import Value, register_atomic
from cluster.protocol import ANY, Number, register_op

import mr_tasks  # noqa: F401  (the test MRTask classes, registered on import)

register_op("test.sleep", {"seconds": Number, "?pad": ANY}, idempotent=True)    # pad: bytes to carry
register_op("test.fail", {"message": str}, idempotent=True)
register_op("test.big", {"nbytes": int}, idempotent=True)


def _counter(old, by):
    n = (old.meta["n"] if old is not None else 0) + by
    return Value("counter", {"n": n}, immutable=False)


register_atomic("test.counter", _counter)


def register_node(node) -> None:
    async def sleep(seconds, pad=None):
        await asyncio.sleep(seconds)
        return seconds

    async def fail(message):
        raise RuntimeError(message)

    async def big(nbytes):
        return np.zeros(nbytes, dtype=np.uint8)

    node.register("test.big", big)
    node.register("test.sleep", sleep)
    node.register("test.fail", fail)
