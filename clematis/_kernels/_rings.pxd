# FIFO rings of node ids: the dedupe window and the visited set (docs/spec.md §4.1, §4.3).

from libc.stdint cimport int32_t, int64_t

from clematis._kernels._buffers cimport grow


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
    if r.size == r.limit:
        evicted[0] = r.data[r.head]
        r.data[r.head] = node
        r.head += 1
        if r.head == r.limit:
            r.head = 0
        return 1
    if grow(<void**>&r.data, &r.capacity, r.size + 1, sizeof(int32_t), 64, r.limit) < 0:
        return -1
    r.data[r.size] = node
    r.size += 1
    return 0
