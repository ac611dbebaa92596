# The queue when no frontier cap is set (docs/spec.md §5).
#
# A radix heap over the high word of the entries (0x7FFFFFFF - |c| bits). ``last`` is the high
# word of the latest minimum. Bucket 0 is a 4-ary heap of every entry whose high word is <= last
# (equal |c|: the tie order lives in the low word); bucket b >= 1 holds entries whose high word
# first differs from ``last`` at bit b - 1, so all of them are > last and bucket 0's minimum is
# the global minimum. When bucket 0 runs dry, the lowest non-empty bucket is split around its
# own minimum. When contributions never grow (|weight|, |multiplier|, decay <= 1) every push
# lands above ``last`` and each entry moves down at most 32 times in all; a push that does not
# is simply heaped in bucket 0, so the pop order is exact for every input.

from libc.stdint cimport int64_t, uint32_t, uint64_t

from clematis._kernels._buffers cimport EntryBuffer, reserve
from clematis._kernels._quad_heap cimport quad_pop, quad_push


cdef extern from *:
    """
    static inline int clematis_bit_length32(uint32_t x) {
    #if defined(__GNUC__) || defined(__clang__)
        return x ? 32 - __builtin_clz(x) : 0;
    #elif defined(_MSC_VER)
        unsigned long i;
        return _BitScanReverse(&i, x) ? (int)i + 1 : 0;
    #else
        int n = 0;
        while (x) { n++; x >>= 1; }
        return n;
    #endif
    }
    """
    int bit_length32 "clematis_bit_length32" (uint32_t x) noexcept nogil


cdef enum:
    RADIX_BUCKETS = 33


cdef struct RadixQueue:
    EntryBuffer buckets[33]
    uint32_t last
    int64_t size


cdef inline int radix_place(RadixQueue* q, uint64_t x) noexcept nogil:
    """Put ``x`` in its bucket (``q.size`` is the caller's); -1 when memory runs out."""
    cdef uint32_t high = <uint32_t>(x >> 32)
    cdef int b = 0 if high <= q.last else bit_length32(high ^ q.last)
    cdef EntryBuffer* bucket = &q.buckets[b]
    if bucket.size == bucket.capacity and reserve(bucket, bucket.size + 1) < 0:
        return -1
    if b == 0:
        quad_push(bucket, x)
    else:
        bucket.data[bucket.size] = x
        bucket.size += 1
    return 0


cdef inline int radix_push(RadixQueue* q, uint64_t x) noexcept nogil:
    """Queue ``x``; -1 when memory runs out."""
    if radix_place(q, x) < 0:
        return -1
    q.size += 1
    return 0


cdef inline int radix_pop(RadixQueue* q, uint64_t* out) noexcept nogil:
    """Take the minimum entry (the queue must not be empty); -1 when memory runs out."""
    cdef EntryBuffer* bucket
    cdef int b = 1
    cdef int64_t i
    cdef uint32_t low = 0xFFFFFFFF
    if q.buckets[0].size == 0:
        while q.buckets[b].size == 0:
            b += 1
        bucket = &q.buckets[b]
        for i in range(bucket.size):
            if <uint32_t>(bucket.data[i] >> 32) < low:
                low = <uint32_t>(bucket.data[i] >> 32)
        q.last = low
        for i in range(bucket.size):  # every entry moves to a lower bucket
            if radix_place(q, bucket.data[i]) < 0:
                return -1
        bucket.size = 0
    out[0] = quad_pop(&q.buckets[0])
    q.size -= 1
    return 0


cdef inline void radix_clear(RadixQueue* q) noexcept nogil:
    cdef int b
    for b in range(RADIX_BUCKETS):
        q.buckets[b].size = 0
    q.last = 0
    q.size = 0
