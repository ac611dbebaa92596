# The queue under a frontier cap (docs/spec.md §4.2, §5): a min-max heap of entries, popping the
# best and evicting the worst both in O(log Q).

from libc.stdint cimport int64_t, uint64_t

from clematis._kernels._buffers cimport EntryBuffer


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
