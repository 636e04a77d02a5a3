"""Small LLVM intrinsics for Numba kernels: bit counts, raw pointers, prefetch, atomics, yielding the core.

One module for the hand-written IR that Numba itself does not offer, shared by the chunk codecs
(:mod:`frame.codecs`) and the Deep Learning kernels (:mod:`algos.deeplearning.kernels`). It lives in ``frame/``
because both layers may import it (``algos`` imports ``frame``, never the other way round). Each function is
an ``@intrinsic``: callable from ``@njit`` code only, compiled inline, and of no effect on results except
where its docstring says what it computes.

>>> import numpy as np
>>> from numba import njit
>>> @njit
... def bits(x):
...     return popcount(x)
>>> bits(np.int64(0b1011))
3
"""
from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = ["atomic_add", "atomic_load", "pointer", "popcount", "prefetch", "sched_yield", "vector_splat"]


def _item_pointer(context, builder, aryty, ary_value, idx):
    """The address of ``ary[idx]`` (1-D array, no negative-index wraparound)."""
    ary = context.make_array(aryty)(context, builder, ary_value)
    return cgutils.get_item_pointer(context, builder, aryty, ary, [idx], wraparound=False)


@intrinsic
def popcount(typingctx, x):
    """Set bits of an int64 (one ``popcnt`` instruction)."""
    def codegen(context, builder, signature, args):
        return builder.call(builder.module.declare_intrinsic("llvm.ctpop", [ir.IntType(64)]), [args[0]])
    return types.int64(types.int64), codegen


@intrinsic
def pointer(typingctx, address):
    """An int64 address as ``void*``, for ``numba.carray`` to view memory where it lies."""
    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], cgutils.voidptr_t)
    return types.voidptr(types.int64), codegen


@intrinsic
def prefetch(typingctx, arr, idx):
    """Hint the CPU to pull the cache line holding ``arr[idx]`` (1-D array) into L2: LLVM's prefetch.

    No effect on results; ``idx`` is not bounds-checked (a prefetch never faults).
    """
    sig = types.void(arr, idx)

    def codegen(context, builder, sig, args):
        ptr = _item_pointer(context, builder, sig.args[0], args[0], args[1])
        i8p, i32 = ir.IntType(8).as_pointer(), ir.IntType(32)
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]),
                                            "llvm.prefetch.p0i8")
        # (address, read=0, locality 2 = prefetcht1 (L2), data cache=1)
        builder.call(fn, [builder.bitcast(ptr, i8p), i32(0), i32(2), i32(1)])
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def atomic_add(typingctx, arr, idx, val):
    """``arr[idx] += val`` as one sequentially consistent atomic step on an int64 array; returns the old
    value. Also a full compiler and CPU fence, which a spinning barrier relies on."""
    sig = types.int64(arr, idx, val)

    def codegen(context, builder, sig, args):
        ptr = _item_pointer(context, builder, sig.args[0], args[0], args[1])
        v = context.cast(builder, args[2], sig.args[2], types.int64)
        return builder.atomic_rmw("add", ptr, v, "seq_cst")

    return sig, codegen


@intrinsic
def atomic_load(typingctx, arr, idx):
    """``arr[idx]`` read atomically with acquire ordering (int64 array): never hoisted out of a spin loop."""
    sig = types.int64(arr, idx)

    def codegen(context, builder, sig, args):
        ptr = _item_pointer(context, builder, sig.args[0], args[0], args[1])
        return builder.load_atomic(ptr, "acquire", 8)

    return sig, codegen


@intrinsic
def sched_yield(typingctx):
    """libc's ``sched_yield()``: give the core away while waiting (a node may have more threads than cores,
    e.g. several nodes on one machine)."""
    sig = types.int32()

    def codegen(context, builder, sig, args):
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.IntType(32), []), "sched_yield")
        return builder.call(fn, [])

    return sig, codegen


def vector_splat(builder, value, lanes: int = 8):
    """IR helper for intrinsics' code generators: a vector of ``lanes`` copies of ``value``."""
    vec = ir.Constant(ir.VectorType(value.type, lanes), ir.Undefined)
    for k in range(lanes):
        vec = builder.insert_element(vec, value, ir.Constant(ir.IntType(32), k))
    return vec
