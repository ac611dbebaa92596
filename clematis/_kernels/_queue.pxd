# T1 priority queue (spec §5) as 8-byte entries, plus the FIFO rings of the caps (spec §4).
#
# An entry packs one queued (node, c) pair into a uint64 that sorts ascending in queue order:
#   bits 63..32  0x7FFFFFFF - (bit pattern of |c|)   -> larger |c| first
#   bits 31..1   tie position of the node            -> key_rank ascending, then node ascending
#   bit  0       1 when c >= 0, 0 when c < 0         -> c ascending among equal |c| and node
# The tie position of a node is its rank in (key_rank, node) order, computed once per graph
# (clematis/_validation.py), so queue order is one unsigned integer comparison.
# -0.0 is stored as +0.0: only seeds can queue a zero, and a zero contributes nothing.

from libc.stdint cimport int32_t, int64_t, uint32_t, uint64_t
from libc.stdlib cimport realloc


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


cdef struct EntryBuffer:
    uint64_t* data
    int64_t size
    int64_t capacity


cdef inline int reserve(EntryBuffer* buf, int64_t needed) noexcept nogil:
    """Grow ``buf`` to hold ``needed`` entries; -1 when memory runs out."""
    cdef int64_t capacity = buf.capacity if buf.capacity > 0 else 64
    cdef uint64_t* grown
    if needed <= buf.capacity:
        return 0
    while capacity < needed:
        capacity *= 2
    grown = <uint64_t*> realloc(buf.data, capacity * sizeof(uint64_t))
    if grown == NULL:
        return -1
    buf.data = grown
    buf.capacity = capacity
    return 0


# ---- 4-ary min-heap (bucket 0 of the radix queue) ----------------------------------------------

cdef inline void quad_sift_up(uint64_t* a, int64_t i, uint64_t x) noexcept nogil:
    """Place ``x`` at the hole ``i`` or above it, moving larger parents down."""
    cdef int64_t parent
    while i > 0:
        parent = (i - 1) >> 2
        if x >= a[parent]:
            break
        a[i] = a[parent]
        i = parent
    a[i] = x


cdef inline void quad_push(EntryBuffer* h, uint64_t x) noexcept nogil:
    # capacity must already be reserved
    h.size += 1
    quad_sift_up(h.data, h.size - 1, x)


cdef inline uint64_t quad_pop(EntryBuffer* h) noexcept nogil:
    # Bottom-up deletion: walk the hole down along the best children to a leaf, then sift the
    # last entry up from there. The last entry usually belongs near the bottom, so this saves
    # the comparison against it at every level.
    cdef uint64_t* a = h.data
    cdef uint64_t top = a[0]
    cdef int64_t n, i, child, best, left, right
    cdef uint64_t best_entry
    h.size -= 1
    n = h.size
    if n == 0:
        return top
    cdef uint64_t x = a[n]
    i = 0
    while True:
        child = 4 * i + 1
        if child + 3 < n:  # a full group of four children: a branch-free tournament
            left = child if a[child] <= a[child + 1] else child + 1
            right = child + 2 if a[child + 2] <= a[child + 3] else child + 3
            best = left if a[left] <= a[right] else right
            best_entry = a[best]
        elif child < n:
            best = child
            best_entry = a[child]
            child += 1
            while child < n:
                if a[child] < best_entry:
                    best_entry = a[child]
                    best = child
                child += 1
        else:
            break
        a[i] = best_entry
        i = best
    quad_sift_up(a, i, x)
    return top


# ---- radix queue: the queue when no frontier cap is set ----------------------------------------
#
# A radix heap over the high word of the entries (0x7FFFFFFF - |c| bits). ``last`` is the high
# word of the latest minimum. Bucket 0 is a 4-ary heap of every entry whose high word is <= last
# (equal |c|: the tie order lives in the low word); bucket b >= 1 holds entries whose high word
# first differs from ``last`` at bit b - 1, so all of them are > last and bucket 0's minimum is
# the global minimum. When bucket 0 runs dry, the lowest non-empty bucket is split around its
# own minimum. When contributions never grow (|weight|, |multiplier|, decay <= 1) every push
# lands above ``last`` and each entry moves down at most 32 times in all; a push that does not
# is simply heaped in bucket 0, so the pop order is exact for every input.

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


# ---- min-max heap: the queue under a frontier cap (pop best, evict worst, both O(log Q)) -------

cdef inline bint on_min_level(int64_t i) noexcept nogil:
    cdef int64_t level = 0
    i += 1
    while i > 1:
        i >>= 1
        level += 1
    return (level & 1) == 0


cdef inline void _swap(uint64_t* a, int64_t i, int64_t j) noexcept nogil:
    cdef uint64_t t = a[i]
    a[i] = a[j]
    a[j] = t


cdef inline void _bubble_up_grand(uint64_t* a, int64_t i, bint toward_min) noexcept nogil:
    cdef int64_t g
    while i > 2:
        g = (((i - 1) >> 1) - 1) >> 1
        if (a[i] >= a[g]) if toward_min else (a[g] >= a[i]):
            break
        _swap(a, i, g)
        i = g


cdef inline void minmax_push(EntryBuffer* h, uint64_t x) noexcept nogil:
    # capacity must already be reserved
    cdef uint64_t* a = h.data
    cdef int64_t i = h.size
    cdef int64_t parent
    a[i] = x
    h.size += 1
    if i == 0:
        return
    parent = (i - 1) >> 1
    if on_min_level(i):
        if a[parent] < a[i]:
            _swap(a, i, parent)
            _bubble_up_grand(a, parent, False)
        else:
            _bubble_up_grand(a, i, True)
    else:
        if a[i] < a[parent]:
            _swap(a, i, parent)
            _bubble_up_grand(a, parent, True)
        else:
            _bubble_up_grand(a, i, False)


cdef inline void _trickle_down(uint64_t* a, int64_t n, int64_t i) noexcept nogil:
    cdef bint toward_min = on_min_level(i)
    cdef int64_t m, k, first, last, parent
    while True:
        # m: the extreme (smallest on a min level, largest on a max level) of children and grandchildren
        first = 2 * i + 1
        if first >= n:
            return
        m = first
        last = first + 2
        k = first + 1
        while k < last and k < n:
            if (a[k] < a[m]) if toward_min else (a[m] < a[k]):
                m = k
            k += 1
        first = 4 * i + 3
        last = first + 4
        k = first
        while k < last and k < n:
            if (a[k] < a[m]) if toward_min else (a[m] < a[k]):
                m = k
            k += 1
        if (a[m] >= a[i]) if toward_min else (a[i] >= a[m]):
            return
        _swap(a, i, m)
        if m <= 2 * i + 2:  # a child: the heap below it is in order
            return
        parent = (m - 1) >> 1
        if (a[parent] < a[m]) if toward_min else (a[m] < a[parent]):
            _swap(a, m, parent)
        i = m


cdef inline int64_t minmax_worst_index(EntryBuffer* h) noexcept nogil:
    if h.size <= 2:
        return h.size - 1
    return 2 if h.data[1] < h.data[2] else 1


cdef inline uint64_t minmax_take(EntryBuffer* h, int64_t i) noexcept nogil:
    cdef uint64_t out = h.data[i]
    h.size -= 1
    if i < h.size:
        h.data[i] = h.data[h.size]
        _trickle_down(h.data, h.size, i)
    return out


# ---- FIFO rings (dedupe window, visited set) ---------------------------------------------------

cdef struct NodeRing:
    int32_t* data
    int64_t capacity   # allocated slots; grows up to limit before the first wrap
    int64_t limit      # the cap (W or V)
    int64_t head       # index of the oldest member once the ring has wrapped
    int64_t size


cdef inline int ring_push(NodeRing* r, int32_t node, int32_t* evicted) noexcept nogil:
    """Append ``node``; when full, overwrite the oldest and store it in ``evicted``.

    Returns 1 when a member was evicted, 0 when not, -1 when memory runs out.
    """
    cdef int64_t capacity
    cdef int32_t* grown
    if r.size == r.limit:
        evicted[0] = r.data[r.head]
        r.data[r.head] = node
        r.head += 1
        if r.head == r.limit:
            r.head = 0
        return 1
    if r.size == r.capacity:
        capacity = r.capacity * 2 if r.capacity > 0 else 64
        if capacity > r.limit:
            capacity = r.limit
        grown = <int32_t*> realloc(r.data, capacity * sizeof(int32_t))
        if grown == NULL:
            return -1
        r.data = grown
        r.capacity = capacity
    r.data[r.size] = node
    r.size += 1
    return 0
