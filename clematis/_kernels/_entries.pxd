# Queue entries (docs/spec.md §5): one queued (node, c) pair as 8 bytes.
#
# An entry packs one queued (node, c) pair into a uint64 that sorts ascending in queue order:
#   bits 63..32  0x7FFFFFFF - (bit pattern of |c|)   -> larger |c| first
#   bits 31..1   tie position of the node            -> key_rank ascending, then node ascending
#   bit  0       1 when c >= 0, 0 when c < 0         -> c ascending among equal |c| and node
# The tie position of a node is its rank in (key_rank, node) order, computed once per graph
# (clematis/_validation.py), so queue order is one unsigned integer comparison.
# -0.0 is stored as +0.0: only seeds can queue a zero, and a zero contributes nothing.

from libc.stdint cimport int32_t, uint32_t, uint64_t


cdef union FloatBits:
    float f
    uint32_t u


cdef inline uint64_t pack_entry(int32_t tie_pos, float c) noexcept nogil:
    cdef FloatBits b
    b.f = c
    cdef uint64_t nonneg = 0 if c < 0 else 1
    return ((<uint64_t>(0x7FFFFFFF - (b.u & 0x7FFFFFFF))) << 32) | ((<uint64_t>tie_pos) << 1) | nonneg


cdef inline int32_t entry_tie_pos(uint64_t entry) noexcept nogil:
    return <int32_t>((<uint32_t>entry) >> 1)


cdef inline float entry_value(uint64_t entry) noexcept nogil:
    cdef FloatBits b
    b.u = (0x7FFFFFFF - <uint32_t>(entry >> 32)) | ((<uint32_t>((entry & 1) ^ 1)) << 31)
    return b.f
