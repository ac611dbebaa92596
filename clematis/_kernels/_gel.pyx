# GEL edge-weight decay: the Cython twin of clematis.gel.decay_weights_reference, bit for bit.
#
# Each tick multiplies every weight by one float32 factor, rounded to float32 (the build turns
# off floating-point contraction, so nothing fuses or reorders the multiplications).

import numpy as np

from libc.stdint cimport int64_t
from libc.string cimport memcpy


cdef void decay_ticks(const float* weights, float* out, int64_t m, float factor,
                      int64_t ticks) noexcept nogil:
    # tick by tick over the whole array: each pass is a plain loop the compiler vectorizes
    cdef int64_t e, t
    if ticks == 0:
        memcpy(out, weights, m * sizeof(float))
        return
    for e in range(m):
        out[e] = weights[e] * factor
    for t in range(1, ticks):
        for e in range(m):
            out[e] = out[e] * factor


def decay(const float[::1] weights, float factor, int64_t ticks):
    """New float32 weights after ``ticks`` ticks of ``w = float32(w * factor)``.

    Inputs arrive validated (``clematis.gel``); ``weights`` is never written.
    """
    if ticks < 0:
        raise ValueError(f"ticks must be >= 0, got {ticks}")
    cdef int64_t m = weights.shape[0]
    out = np.empty(m, dtype=np.float32)
    cdef float[::1] out_view = out
    if m:
        with nogil:
            decay_ticks(&weights[0], &out_view[0], m, factor, ticks)
    return out
