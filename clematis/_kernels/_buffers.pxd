# Growable arrays of the kernel: the one buffer-growth helper, and the entry buffer the queues
# are built on (docs/spec.md §5).

from libc.stdint cimport int64_t, uint64_t
from libc.stdlib cimport realloc


cdef inline int grow(void** data, int64_t* capacity, int64_t needed, size_t item_size, int64_t first,
                     int64_t limit) noexcept nogil:
    """Grow ``data[0]`` (``capacity[0]`` items of ``item_size`` bytes) to hold ``needed`` items,
    doubling from ``first``, never past ``limit`` (0: no limit); -1 when memory runs out."""
    cdef int64_t size = capacity[0] if capacity[0] > 0 else first
    cdef void* grown
    if needed <= capacity[0]:
        return 0
    while size < needed:
        size *= 2
    if limit and size > limit:
        size = limit
    grown = realloc(data[0], size * item_size)
    if grown == NULL:
        return -1
    data[0] = grown
    capacity[0] = size
    return 0


cdef struct EntryBuffer:
    uint64_t* data
    int64_t size
    int64_t capacity


cdef inline int reserve(EntryBuffer* buf, int64_t needed) noexcept nogil:
    """Grow ``buf`` to hold ``needed`` entries; -1 when memory runs out."""
    return grow(<void**>&buf.data, &buf.capacity, needed, sizeof(uint64_t), 64, 0)
