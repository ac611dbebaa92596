# The queue when no frontier cap is set (docs/spec.md §5).
#
# A two-level bucket queue over the 23-bit prefix ``p = high >> PREFIX_SHIFT`` of the entries'
# high word (0x7FFFFFFF - |c| bits, 31 bits). ``limit`` bounds the queue from below: the 4-ary
# heap ``equal`` and the sorted ``run`` hold every entry whose prefix is <= limit (their full
# 64-bit order includes the rest of the high word and the tie order of the low word), so the
# smaller of their minima is the global minimum.
# Every other entry sits unordered in a bucket: in the sub-bucket ``p & (SUB_BUCKETS - 1)`` when
# its top digit ``p >> SUB_BITS`` is ``sub_top`` (the top bucket being worked through), else in
# the top bucket ``p >> SUB_BITS`` (1/16 of a binade of |c|: its exponent and first 4 mantissa
# bits).
#
# When ``equal`` and ``run`` run dry (radix_refill), the lowest non-empty sub-bucket moves there;
# when there is none, the lowest non-empty top bucket does if it holds at most SMALL_BUCKET
# entries, and is otherwise spread over the sub-buckets first: a stable counting sort into
# ``spread``, where sub-bucket ``s`` is a slice (``sub[s]`` holds only what is pushed to it after
# the spread). A slice of at most SORTED_SLICE entries (most of them: a sub-bucket is 1/32768 of a
# binade) is not heaped but sorted into ``run`` with no data-dependent branch, and a pop takes
# the smaller of ``run``'s first entry and ``equal``'s minimum: the heap's sift-downs, whose
# comparisons the CPU cannot predict, were the queue's largest cost. Occupancy bitmaps, each with
# a summary word, find the lowest bucket in a few instructions. An entry is placed at most twice
# and heaped or sorted once; a push at or below ``limit`` (contributions that grow, or equal |c|)
# goes straight into ``equal``, so the pop order is exact for every input. Buffers left empty by
# a bucket that has been worked through go to a spare list that empty buckets draw from, so the
# queue's memory follows the entries it holds, not the entries a query ever pushed.

from libc.stdint cimport UINT64_MAX, int64_t, uint32_t, uint64_t

from clematis._kernels._buffers cimport EntryBuffer, reserve
from clematis._kernels._quad_heap cimport quad_pop, quad_push


cdef extern from *:
    """
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
    int lowest_bit64 "clematis_lowest_bit64" (uint64_t x) noexcept nogil


cdef enum:
    SUB_BITS = 11               # the prefix's low digit
    PREFIX_SHIFT = 8            # the prefix: the top 23 of the high word's 31 bits
    TOP_BUCKETS = 4096          # 2**(31 - PREFIX_SHIFT - SUB_BITS): one per top digit
    TOP_WORDS = 64              # top occupancy words: TOP_BUCKETS / 64 (one summary word)
    SUB_BUCKETS = 2048          # 2**SUB_BITS: one per low digit of the prefix
    SUB_WORDS = 32              # SUB_BUCKETS / 64 (one summary word)
    SPARES = 6145               # TOP_BUCKETS + SUB_BUCKETS + 1: every buffer the queue can hold
    SMALL_BUCKET = 64           # a top bucket of at most this many entries is heaped, not spread
    SORTED_SLICE = 32           # a slice of at most this many entries is sorted, not heaped
    MERGED_SLICE = 12           # ... in two halves merged, when it has more than this many
    MAX_SPREAD = 0x7FFFFFFF     # ... and of more than this many (beyond the slices' uint32), too


cdef struct RadixQueue:
    EntryBuffer equal                 # 4-ary heap of the entries whose prefix is <= limit
    EntryBuffer top[TOP_BUCKETS]      # the entries of each top digit above sub_top, unordered
    EntryBuffer sub[SUB_BUCKETS]      # entries of top digit sub_top above limit pushed after its spread
    EntryBuffer spread                # the spread top bucket sub_top, in sub-bucket order
    uint32_t slice_start[SUB_BUCKETS] # sub-bucket s's slice of it: spread.data[slice_start[s] :
    uint32_t slice_end[SUB_BUCKETS]   # slice_end[s]]; both 0 for a sub-bucket without one
    uint64_t sorted[SORTED_SLICE]     # the last small slice taken, in ascending order
    uint64_t* run                     # what is left of it to pop: run[0] .. run_end[-1] (none
    uint64_t* run_end                 # when run == run_end)
    EntryBuffer spares[SPARES]        # empty buffers for buckets that have none
    uint64_t top_occupied[TOP_WORDS]  # bit t % 64 of word t // 64: top bucket t is not empty
    uint64_t top_summary              # bit w: top_occupied[w] is not 0
    uint64_t sub_occupied[SUB_WORDS]  # bit s % 64 of word s // 64: sub-bucket s is not empty
    uint64_t sub_summary              # bit w: sub_occupied[w] is not 0
    uint32_t limit
    uint32_t sub_top
    int64_t n_spares
    int64_t size
    int64_t reserved                  # entries allocated in ``equal``, every bucket and the spares


cdef inline int reserve_entries(RadixQueue* q, EntryBuffer* bucket, int64_t needed) noexcept nogil:
    """Room for ``needed`` entries in ``bucket`` (a spare buffer first, when it has none), counted
    in ``q.reserved``; -1 when memory runs out."""
    cdef int64_t before
    if bucket.capacity == 0 and q.n_spares > 0:
        q.n_spares -= 1
        bucket[0] = q.spares[q.n_spares]
    before = bucket.capacity
    if reserve(bucket, needed) < 0:
        return -1
    q.reserved += bucket.capacity - before
    return 0


cdef inline int grow_bucket(RadixQueue* q, EntryBuffer* bucket) noexcept nogil:
    """Room for one more entry in ``bucket``; -1 when memory runs out."""
    return reserve_entries(q, bucket, bucket.size + 1)


cdef inline void retire(RadixQueue* q, EntryBuffer* bucket) noexcept nogil:
    """Hand the (empty) ``bucket``'s buffer to the spares."""
    if bucket.capacity > 0:
        bucket.size = 0
        q.spares[q.n_spares] = bucket[0]
        q.n_spares += 1
    bucket.data = NULL
    bucket.size = 0
    bucket.capacity = 0


cdef inline int append(RadixQueue* q, EntryBuffer* bucket, uint64_t x) noexcept nogil:
    if bucket.size == bucket.capacity and grow_bucket(q, bucket) < 0:
        return -1
    bucket.data[bucket.size] = x
    bucket.size += 1
    return 0


cdef inline int radix_place(RadixQueue* q, uint64_t x) noexcept nogil:
    """Put ``x`` in ``equal`` or its bucket (``q.size`` is the caller's); -1 when memory runs out."""
    cdef uint32_t p = <uint32_t>(x >> (32 + PREFIX_SHIFT))
    cdef uint32_t t = p >> SUB_BITS
    cdef uint32_t sub = p & (SUB_BUCKETS - 1)
    if p <= q.limit:
        if q.equal.size == q.equal.capacity and grow_bucket(q, &q.equal) < 0:
            return -1
        quad_push(&q.equal, x)
    elif t == q.sub_top:
        if append(q, &q.sub[sub], x) < 0:
            return -1
        q.sub_occupied[sub >> 6] |= (<uint64_t>1) << (sub & 63)
        q.sub_summary |= (<uint64_t>1) << (sub >> 6)
    else:
        if append(q, &q.top[t], x) < 0:
            return -1
        q.top_occupied[t >> 6] |= (<uint64_t>1) << (t & 63)
        q.top_summary |= (<uint64_t>1) << (t >> 6)
    return 0


cdef inline int radix_push(RadixQueue* q, uint64_t x) noexcept nogil:
    """Queue ``x``; -1 when memory runs out."""
    if radix_place(q, x) < 0:
        return -1
    q.size += 1
    return 0


cdef inline void become_equal(RadixQueue* q, EntryBuffer* bucket) noexcept nogil:
    """Make ``bucket``'s buffer the heap ``equal`` (which is empty), heaping its entries; the old
    ``equal`` buffer goes to the spares."""
    cdef int64_t i
    retire(q, &q.equal)
    q.equal = bucket[0]
    bucket.data = NULL
    bucket.size = 0
    bucket.capacity = 0
    for i in range(1, q.equal.size):
        q.equal.size = i
        quad_push(&q.equal, q.equal.data[i])


cdef inline uint32_t sub_digit(uint64_t x) noexcept nogil:
    """The sub-bucket of entry ``x``: the low SUB_BITS of its prefix."""
    return <uint32_t>(x >> (32 + PREFIX_SHIFT)) & (SUB_BUCKETS - 1)


cdef inline int spread_top(RadixQueue* q, EntryBuffer* bucket) noexcept nogil:
    """Spread ``bucket``, the top bucket ``q.sub_top``, over the sub-buckets (every one empty,
    every slice 0): its entries into ``q.spread`` in sub-bucket order, first-come first within
    each (a counting sort), marking the sub-buckets that get any; -1 when memory runs out."""
    cdef int64_t i, n = bucket.size
    cdef uint32_t* start = q.slice_start
    cdef uint32_t* end = q.slice_end
    cdef uint32_t count, total = 0
    cdef uint64_t x, bits
    cdef int s, word
    if reserve_entries(q, &q.spread, n) < 0:
        return -1
    for i in range(n):  # counts, in slice_end
        s = sub_digit(bucket.data[i])
        end[s] += 1
        q.sub_occupied[s >> 6] |= (<uint64_t>1) << (s & 63)
    for word in range(SUB_WORDS):  # the counts of the marked sub-buckets become their starts
        bits = q.sub_occupied[word]
        if bits:
            q.sub_summary |= (<uint64_t>1) << word
        while bits:
            s = (word << 6) | lowest_bit64(bits)
            count = end[s]
            start[s] = total
            end[s] = total
            total += count
            bits &= bits - 1
    for i in range(n):  # each slice's end moves from its start to its end
        x = bucket.data[i]
        s = sub_digit(x)
        q.spread.data[end[s]] = x
        end[s] += 1
    q.spread.size = n
    return 0


cdef inline void rank_entries(const uint64_t* a, int64_t n, uint64_t* out) noexcept nogil:
    """Put ``a[0 .. n-1]`` in ``out`` in ascending order: each entry at its rank, the number of
    entries before it in order (equal ones by position), counted with no data-dependent branch."""
    cdef int64_t i, j, rank
    cdef uint64_t x
    for i in range(n):
        x = a[i]
        rank = 0
        for j in range(i):
            rank += a[j] <= x
        for j in range(i + 1, n):
            rank += a[j] < x
        out[rank] = x


cdef inline void sort_entries(const uint64_t* a, int64_t n, uint64_t* out) noexcept nogil:
    """Put ``a[0 .. n-1]`` (n <= SORTED_SLICE) in ``out`` in ascending order: by rank, or for a
    larger slice each half by rank and then a merge without branches."""
    cdef uint64_t halves[SORTED_SLICE + 2]
    cdef int64_t h = n >> 1, i = 0, j, k
    cdef uint64_t x, y
    cdef bint left
    if n <= MERGED_SLICE:
        rank_entries(a, n, out)
        return
    rank_entries(a, h, halves)
    halves[h] = UINT64_MAX  # no entry is this large (the high word is at most 0x7FFFFFFF)
    rank_entries(a + h, n - h, halves + h + 1)
    halves[n + 1] = UINT64_MAX
    j = h + 1
    for k in range(n):
        x = halves[i]
        y = halves[j]
        left = x <= y
        out[k] = x if left else y
        i += left
        j += 1 - left


cdef inline int take_sub(RadixQueue* q, int s) noexcept nogil:
    """Move sub-bucket ``s`` into ``equal`` and ``run`` (both empty): the entries pushed to it
    since the spread are heaped, its slice of the spread sorted into ``run`` when it is small
    and heaped too otherwise (the slice is 0 again after); -1 when memory runs out."""
    cdef int64_t i, start = q.slice_start[s], stop = q.slice_end[s]
    q.slice_start[s] = 0
    q.slice_end[s] = 0
    if q.sub[s].size:
        become_equal(q, &q.sub[s])
    if stop - start <= SORTED_SLICE:
        sort_entries(q.spread.data + start, stop - start, q.sorted)
        q.run = q.sorted
        q.run_end = q.sorted + (stop - start)
        return 0
    if stop > start:
        if reserve_entries(q, &q.equal, q.equal.size + (stop - start)) < 0:
            return -1
        for i in range(start, stop):
            quad_push(&q.equal, q.spread.data[i])
    return 0


cdef inline int take_lowest(uint64_t* occupied, uint64_t* summary) noexcept nogil:
    """Clear and return the lowest set bit of ``occupied`` (not all 0), keeping its ``summary``."""
    cdef int word = lowest_bit64(summary[0])
    cdef int bit = word * 64 + lowest_bit64(occupied[word])
    occupied[word] &= occupied[word] - 1
    if occupied[word] == 0:
        summary[0] &= summary[0] - 1
    return bit


cdef inline int radix_refill(RadixQueue* q) noexcept nogil:
    """Move the lowest buckets towards ``equal`` and ``run`` until one of them holds the minimum
    (the queue must not be empty); -1 when memory runs out."""
    cdef int s, t
    cdef EntryBuffer* bucket
    while q.equal.size == 0 and q.run == q.run_end:
        if q.sub_summary:
            s = take_lowest(q.sub_occupied, &q.sub_summary)
            q.limit = (q.sub_top << SUB_BITS) | <uint32_t>s
            return take_sub(q, s)
        t = take_lowest(q.top_occupied, &q.top_summary)
        bucket = &q.top[t]
        if bucket.size <= SMALL_BUCKET or bucket.size > MAX_SPREAD:
            q.limit = (<uint32_t>t << SUB_BITS) | (SUB_BUCKETS - 1)
            become_equal(q, bucket)
            return 0
        q.sub_top = <uint32_t>t
        q.limit = (<uint32_t>t << SUB_BITS) - 1
        if spread_top(q, bucket) < 0:
            bucket.size = 0  # the query ends: radix_clear must find no entry left here
            return -1
        retire(q, bucket)
    return 0


cdef inline bint radix_ready(RadixQueue* q) noexcept nogil:
    """Whether ``equal`` or ``run`` holds the minimum entry (no refill needed)."""
    return q.run != q.run_end or q.equal.size > 0


cdef inline bint minimum_in_heap(RadixQueue* q) noexcept nogil:
    """Whether ``equal`` rather than ``run`` holds the minimum entry, when ``radix_ready``."""
    return q.run == q.run_end or (q.equal.size > 0 and q.equal.data[0] < q.run[0])


cdef inline uint64_t radix_first(RadixQueue* q) noexcept nogil:
    """The minimum entry, when ``radix_ready``."""
    return q.equal.data[0] if minimum_in_heap(q) else q.run[0]


cdef inline uint64_t radix_take(RadixQueue* q) noexcept nogil:
    """Take the minimum entry, when ``radix_ready``."""
    cdef uint64_t x
    q.size -= 1
    if minimum_in_heap(q):
        return quad_pop(&q.equal)
    x = q.run[0]
    q.run += 1
    return x


cdef inline int radix_pop(RadixQueue* q, uint64_t* out) noexcept nogil:
    """Take the minimum entry (the queue must not be empty); -1 when memory runs out."""
    if not radix_ready(q) and radix_refill(q) < 0:
        return -1
    out[0] = radix_take(q)
    return 0


cdef inline void clear_buckets(EntryBuffer* buckets, uint64_t* occupied, uint64_t* summary,
                               uint32_t* slice_start, uint32_t* slice_end) noexcept nogil:
    """Empty the occupied buckets, visiting only the non-zero words ``summary`` names.

    When ``slice_start`` is not NULL the buckets' slices are set to 0 on the same walk.
    """
    cdef int word, b
    cdef uint64_t bits
    while summary[0]:
        word = lowest_bit64(summary[0])
        bits = occupied[word]
        while bits:
            b = (word << 6) | lowest_bit64(bits)
            buckets[b].size = 0
            if slice_start != NULL:
                slice_start[b] = 0
                slice_end[b] = 0
            bits &= bits - 1
        occupied[word] = 0
        summary[0] &= summary[0] - 1


cdef inline void radix_clear(RadixQueue* q) noexcept nogil:
    """Empty the queue, keeping its buffers."""
    clear_buckets(q.top, q.top_occupied, &q.top_summary, NULL, NULL)
    clear_buckets(q.sub, q.sub_occupied, &q.sub_summary, q.slice_start, q.slice_end)
    q.equal.size = 0
    q.spread.size = 0
    q.run = NULL
    q.run_end = NULL
    q.limit = 0
    q.sub_top = 0
    q.size = 0
