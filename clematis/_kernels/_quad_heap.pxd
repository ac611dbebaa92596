# The 4-ary min-heap of entries (the radix queue's ``equal``, docs/spec.md §5).

from libc.stdint cimport int64_t, uint64_t

from clematis._kernels._buffers cimport EntryBuffer


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
        if child + 3 < n:  # a full group of four children: a tournament on comparison results
            left = child + (a[child + 1] < a[child])  # (Cython's ``x if c else y`` branches)
            right = child + 2 + (a[child + 3] < a[child + 2])
            best = left + (right - left) * (a[right] < a[left])
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
