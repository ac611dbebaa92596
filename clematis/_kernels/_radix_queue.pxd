# The queue when no frontier cap is set (docs/spec.md §5).
#
# A radix heap over the high word of the entries (0x7FFFFFFF - |c| bits, 31 bits), in base
# 2**DIGIT_BITS. ``last`` bounds the queue from below: the 4-ary heap ``equal`` holds every entry
# whose high word is <= last (its full 64-bit order includes the tie order of the low word). Any
# other entry sits in the bucket of (level, digit): ``level`` is the digit position at which its
# high word first differs from ``last``, ``digit`` its own digit there (which is greater than
# last's), so every bucket holds entries > last and ``equal``'s minimum is the global minimum.
# When ``equal`` runs dry, the lowest non-empty bucket (the lowest level, then the lowest digit:
# an occupancy bitmap per level finds it) holds the next minimum (radix_refill): a bucket of
# level 0 or of at most SMALL_BUCKET entries becomes ``equal`` whole, ``last`` moving to the top
# of its range; a bigger one is split into lower levels around the bottom of its range. When
# contributions never grow (|weight|, |multiplier|, decay <= 1) every push lands above ``last``
# and each entry moves down at most LEVELS times in all; a push that does not is simply heaped
# in ``equal``, so the pop order is exact for every input.

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
    static inline int clematis_lowest_bit64(uint64_t x) {  /* x != 0 */
    #if defined(__GNUC__) || defined(__clang__)
        return __builtin_ctzll(x);
    #elif defined(_MSC_VER) && defined(_WIN64)
        unsigned long i;
        _BitScanForward64(&i, x);
        return (int)i;
    #else
        int n = 0;
        while (!(x & 1)) { n++; x >>= 1; }
        return n;
    #endif
    }
    """
    int bit_length32 "clematis_bit_length32" (uint32_t x) noexcept nogil
    int lowest_bit64 "clematis_lowest_bit64" (uint64_t x) noexcept nogil


cdef enum:
    DIGIT_BITS = 8
    DIGITS = 256                # 2**DIGIT_BITS
    WORDS = 4                   # occupancy words per level: DIGITS / 64
    LEVELS = 4                  # ceil(31 / DIGIT_BITS)
    RADIX_BUCKETS = 1024        # LEVELS * DIGITS
    SMALL_BUCKET = 128          # a bucket of at most this many entries is heaped, not split


cdef struct RadixQueue:
    EntryBuffer equal           # 4-ary heap of the entries whose high word is <= last
    EntryBuffer buckets[1024]   # bucket (level, digit) at level * DIGITS + digit
    uint64_t occupied[16]       # bit d % 64 of word level * WORDS + d // 64: bucket (level, d) is not empty
    uint32_t last
    int64_t size
    int64_t reserved            # entries allocated in ``equal`` and every bucket


cdef inline int grow_bucket(RadixQueue* q, EntryBuffer* bucket) noexcept nogil:
    """Room for one more entry in ``bucket``; -1 when memory runs out."""
    cdef int64_t before = bucket.capacity
    if reserve(bucket, bucket.size + 1) < 0:
        return -1
    q.reserved += bucket.capacity - before
    return 0


cdef inline int radix_place(RadixQueue* q, uint64_t x) noexcept nogil:
    """Put ``x`` in ``equal`` or its bucket (``q.size`` is the caller's); -1 when memory runs out."""
    cdef uint32_t high = <uint32_t>(x >> 32)
    cdef int level, slot
    cdef EntryBuffer* bucket
    if high <= q.last:
        bucket = &q.equal
        if bucket.size == bucket.capacity and grow_bucket(q, bucket) < 0:
            return -1
        quad_push(bucket, x)
        return 0
    level = (bit_length32(high ^ q.last) - 1) // DIGIT_BITS
    slot = level * DIGITS + ((high >> (level * DIGIT_BITS)) & (DIGITS - 1))
    bucket = &q.buckets[slot]
    if bucket.size == bucket.capacity and grow_bucket(q, bucket) < 0:
        return -1
    bucket.data[bucket.size] = x
    bucket.size += 1
    q.occupied[slot >> 6] |= (<uint64_t>1) << (slot & 63)
    return 0


cdef inline int radix_push(RadixQueue* q, uint64_t x) noexcept nogil:
    """Queue ``x``; -1 when memory runs out."""
    if radix_place(q, x) < 0:
        return -1
    q.size += 1
    return 0


cdef inline void become_equal(RadixQueue* q, EntryBuffer* bucket) noexcept nogil:
    """Swap the (empty) ``equal`` with ``bucket`` and heap the entries it brings."""
    cdef EntryBuffer swapped = q.equal
    cdef int64_t i
    q.equal = bucket[0]
    bucket[0] = swapped
    for i in range(1, q.equal.size):
        q.equal.size = i
        quad_push(&q.equal, q.equal.data[i])


cdef inline int radix_refill(RadixQueue* q) noexcept nogil:
    """Move the lowest non-empty bucket towards ``equal`` until ``equal`` holds the minimum
    (the queue must not be empty); -1 when memory runs out.

    The bucket (level, digit) spans the high words from ``start`` (last's digits above ``level``,
    then ``digit``, then zeros) to ``start | span``. A bucket of level 0 or of at most
    SMALL_BUCKET entries becomes ``equal`` with ``last = start | span``: every other entry is
    above that. A larger one is split around ``last = start``, its entries moving to lower levels
    (or to ``equal`` when equal to ``start``)."""
    cdef EntryBuffer* bucket
    cdef int word, slot, level
    cdef int64_t i
    cdef uint64_t start, span
    while q.equal.size == 0:
        word = 0
        while q.occupied[word] == 0:
            word += 1
        slot = word * 64 + lowest_bit64(q.occupied[word])
        q.occupied[word] &= q.occupied[word] - 1
        bucket = &q.buckets[slot]
        level = slot // DIGITS
        span = ((<uint64_t>1) << (level * DIGIT_BITS)) - 1
        start = (((<uint64_t>q.last) >> ((level + 1) * DIGIT_BITS)) << ((level + 1) * DIGIT_BITS)
                 | (<uint64_t>(slot % DIGITS)) << (level * DIGIT_BITS))
        if level == 0 or bucket.size <= SMALL_BUCKET:
            q.last = <uint32_t>(start | span)
            become_equal(q, bucket)
            return 0
        q.last = <uint32_t>start
        for i in range(bucket.size):  # every entry moves to a lower level, or to ``equal``
            if radix_place(q, bucket.data[i]) < 0:
                return -1
        bucket.size = 0
    return 0


cdef inline int radix_pop(RadixQueue* q, uint64_t* out) noexcept nogil:
    """Take the minimum entry (the queue must not be empty); -1 when memory runs out."""
    if q.equal.size == 0 and radix_refill(q) < 0:
        return -1
    out[0] = quad_pop(&q.equal)
    q.size -= 1
    return 0


cdef inline void radix_clear(RadixQueue* q) noexcept nogil:
    """Empty the queue, keeping its buffers."""
    cdef int word
    cdef uint64_t bits
    for word in range(LEVELS * WORDS):
        bits = q.occupied[word]
        while bits:
            q.buckets[word * 64 + lowest_bit64(bits)].size = 0
            bits &= bits - 1
        q.occupied[word] = 0
    q.equal.size = 0
    q.last = 0
    q.size = 0
