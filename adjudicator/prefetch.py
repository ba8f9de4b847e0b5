"""A software prefetch for numba kernels that read large arrays in an order the hardware cannot predict.

A kernel that looks up each claim line's member in an index of millions of rows waits on one cache miss after
another: a data-dependent inner loop ends each line with a branch the CPU cannot foresee, so it rarely has the next
line's miss in flight. ``prefetch(arr, i)`` asks for the cache line of ``arr[i]`` (the first element of row ``i``
of a 2-D array) without waiting for it; issued some lines ahead, the misses of many lines overlap. It has no effect
on results and does nothing for an index outside the array (a prefetch never faults).
"""

from __future__ import annotations

from llvmlite import binding, ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

__all__ = ["prefetch"]

# opaque pointers (LLVM 15+) changed the intrinsic's mangled name
_NAME = "llvm.prefetch.p0" if binding.llvm_version_info >= (15,) else "llvm.prefetch.p0i8"


@intrinsic
def prefetch(typingctx, arr, idx):
    """Prefetch ``arr[idx]`` (row ``idx`` of a 2-D array) into all cache levels, for reading."""
    if not isinstance(arr, types.Array) or not isinstance(idx, types.Integer):
        return None
    sig = types.void(arr, idx)

    def codegen(context, builder, signature, args):
        aryty, idxty = signature.args
        ary = context.make_array(aryty)(context, builder, args[0])
        index = context.cast(builder, args[1], idxty, types.intp)
        zero = context.get_constant(types.intp, 0)
        ptr = cgutils.get_item_pointer2(context, builder, data=ary.data, shape=cgutils.unpack_tuple(builder, ary.shape),
                                        strides=cgutils.unpack_tuple(builder, ary.strides), layout=aryty.layout,
                                        inds=[index] + [zero] * (aryty.ndim - 1), wraparound=False,
                                        boundscheck=False)
        i8p = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]),
                                            _NAME)
        # (address, read, locality 3 = keep in all levels, data cache)
        builder.call(fn, [builder.bitcast(ptr, i8p), ir.Constant(i32, 0), ir.Constant(i32, 3), ir.Constant(i32, 1)])
        return context.get_dummy_value()

    return sig, codegen
