"""The Numba compilation options every Deep Learning kernel uses.

``error_model="numpy"``: Numba's default adds a zero-division branch that blocks vectorisation.
``fastmath`` reassoc/contract: lets LLVM vectorise the float32 dot-product reductions (and use FMA); results
stay deterministic for a given machine, they only differ from a strict left-to-right sum.

>>> JIT["cache"], JIT["nogil"]
(True, True)
"""

JIT = dict(nogil=True, cache=True, error_model="numpy", fastmath={"reassoc", "contract"})
