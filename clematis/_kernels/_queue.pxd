# T1 priority queue (spec §5) as 8-byte entries, plus the FIFO rings of the caps (spec §4).
#
# An entry packs one queued (node, c) pair into a uint64 that sorts ascending in queue order
# except on ties of |c|:
#   bits 63..32  0x7FFFFFFF - (bit pattern of |c|)   -> larger |c| first
#   bits 31..1   node                                -> node ascending
#   bit  0       1 when c >= 0, 0 when c < 0         -> c ascending among equal |c| and node
# Equal high words (a tie on |c|) are settled by key_rank first, then by the low word; so the
# common case is one integer comparison, and key_rank is read only on ties.
# -0.0 is stored as +0.0: only seeds can queue a zero, and a zero contributes nothing.

from libc.stdint cimport int32_t, int64_t, uint8_t, uint32_t, uint64_t
from libc.stdlib cimport realloc


cdef union FloatBits:
    float f
    uint32_t u


cdef inline uint64_t pack_entry(int32_t node, float c) noexcept nogil:
    cdef FloatBits b
    b.f = c
    cdef uint64_t nonneg = 0 if c < 0 else 1
    return ((<uint64_t>(0x7FFFFFFF - (b.u & 0x7FFFFFFF))) << 32) | ((<uint64_t>node) << 1) | nonneg


cdef inline int32_t entry_node(uint64_t entry) noexcept nogil:
    return <int32_t>((<uint32_t>entry) >> 1)


cdef inline float entry_value(uint64_t entry) noexcept nogil:
    cdef FloatBits b
    b.u = (0x7FFFFFFF - <uint32_t>(entry >> 32)) | ((<uint32_t>((entry & 1) ^ 1)) << 31)
    return b.f


cdef inline bint before(uint64_t a, uint64_t b, const int32_t* key_rank) noexcept nogil:
    """True when entry ``a`` pops strictly before entry ``b``."""
    cdef int32_t ra, rb
    if ((a ^ b) >> 32) == 0:
        ra = key_rank[entry_node(a)]
        rb = key_rank[entry_node(b)]
        if ra != rb:
            return ra < rb
    return a < b


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


# ---- 4-ary min-heap: the queue when no frontier cap is set ------------------------------------

cdef inline void quad_push(EntryBuffer* h, uint64_t x, const int32_t* key_rank) noexcept nogil:
    # capacity must already be reserved
    cdef uint64_t* a = h.data
    cdef int64_t i = h.size
    cdef int64_t parent
    h.size += 1
    while i > 0:
        parent = (i - 1) >> 2
        if not before(x, a[parent], key_rank):
            break
        a[i] = a[parent]
        i = parent
    a[i] = x


cdef inline uint64_t quad_pop(EntryBuffer* h, const int32_t* key_rank) noexcept nogil:
    cdef uint64_t* a = h.data
    cdef uint64_t top = a[0]
    cdef int64_t n, i, child, best, last
    h.size -= 1
    n = h.size
    if n == 0:
        return top
    cdef uint64_t x = a[n]
    i = 0
    while True:
        child = 4 * i + 1
        if child >= n:
            break
        best = child
        last = child + 4 if child + 4 < n else n
        child += 1
        while child < last:
            if before(a[child], a[best], key_rank):
                best = child
            child += 1
        if not before(a[best], x, key_rank):
            break
        a[i] = a[best]
        i = best
    a[i] = x
    return top


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


cdef inline void _bubble_up_grand(uint64_t* a, int64_t i, bint toward_min,
                                  const int32_t* key_rank) noexcept nogil:
    cdef int64_t g
    while i > 2:
        g = (((i - 1) >> 1) - 1) >> 1
        if toward_min:
            if not before(a[i], a[g], key_rank):
                break
        elif not before(a[g], a[i], key_rank):
            break
        _swap(a, i, g)
        i = g


cdef inline void minmax_push(EntryBuffer* h, uint64_t x, const int32_t* key_rank) noexcept nogil:
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
        if before(a[parent], a[i], key_rank):
            _swap(a, i, parent)
            _bubble_up_grand(a, parent, False, key_rank)
        else:
            _bubble_up_grand(a, i, True, key_rank)
    else:
        if before(a[i], a[parent], key_rank):
            _swap(a, i, parent)
            _bubble_up_grand(a, parent, True, key_rank)
        else:
            _bubble_up_grand(a, i, False, key_rank)


cdef inline void _trickle_down(uint64_t* a, int64_t n, int64_t i, const int32_t* key_rank) noexcept nogil:
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
            if (before(a[k], a[m], key_rank) if toward_min else before(a[m], a[k], key_rank)):
                m = k
            k += 1
        first = 4 * i + 3
        last = first + 4
        k = first
        while k < last and k < n:
            if (before(a[k], a[m], key_rank) if toward_min else before(a[m], a[k], key_rank)):
                m = k
            k += 1
        if not (before(a[m], a[i], key_rank) if toward_min else before(a[i], a[m], key_rank)):
            return
        _swap(a, i, m)
        if m <= 2 * i + 2:  # a child: the heap below it is in order
            return
        parent = (m - 1) >> 1
        if (before(a[parent], a[m], key_rank) if toward_min else before(a[m], a[parent], key_rank)):
            _swap(a, m, parent)
        i = m


cdef inline int64_t minmax_worst_index(EntryBuffer* h, const int32_t* key_rank) noexcept nogil:
    if h.size <= 2:
        return h.size - 1
    return 2 if before(h.data[1], h.data[2], key_rank) else 1


cdef inline uint64_t minmax_take(EntryBuffer* h, int64_t i, const int32_t* key_rank) noexcept nogil:
    cdef uint64_t out = h.data[i]
    h.size -= 1
    if i < h.size:
        h.data[i] = h.data[h.size]
        _trickle_down(h.data, h.size, i, key_rank)
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
