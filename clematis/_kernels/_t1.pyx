# T1 heap kernel: the Cython twin of clematis/_reference.py, bit for bit (docs/spec.md §1-§6).
# Each step carries the same § label as the reference, so the two read side by side
# (docs/architecture.md has the step map).
#
# Inputs arrive validated and in the kernel's dtypes (clematis/_validation.py); this module
# only allocates outputs and runs the kernel inside ``with nogil:``. Scratch arrays of size n live
# in a reusable Workspace and only the entries a query touched are reset afterwards, so a query
# costs what it touches, not what the graph holds.
#
# The loop is interruptible (docs/spec.md §3.2): every CHECK_INTERVAL edges scanned it reads the caller's cancel flag and, on the main thread, takes the GIL briefly
# to run the signal handlers (Ctrl-C raises KeyboardInterrupt there). Building with
# ``-DCLEMATIS_INTERRUPT_CHECK=0`` leaves the check out (benchmarks/interrupt_overhead.py).

import threading

import numpy as np

from libc.math cimport fabsf
from libc.stdint cimport int32_t, int64_t, uint8_t, uint16_t, uint64_t
from libc.stdlib cimport calloc, free, malloc, qsort
from libc.string cimport memcpy, memset
from cpython.buffer cimport PyBUF_C_CONTIGUOUS, PyBuffer_Release, PyObject_GetBuffer
from cpython.exc cimport PyErr_Occurred

from clematis._kernels._buffers cimport EntryBuffer, grow, reserve
from clematis._kernels._entries cimport entry_tie_pos, entry_value, pack_entry
from clematis._kernels._minmax_heap cimport minmax_push, minmax_take, minmax_worst_index
from clematis._kernels._radix_queue cimport (
    SUB_BUCKETS, TOP_BUCKETS, RadixQueue, radix_clear, radix_first, radix_pop, radix_push,
    radix_ready, radix_take,
)
from clematis._kernels._rings cimport NodeRing, ring_push

cdef extern from *:
    """
    #ifndef CLEMATIS_INTERRUPT_CHECK
    #define CLEMATIS_INTERRUPT_CHECK 1
    #endif
    static inline void clematis_prefetch(const void* address) {
    #if defined(__GNUC__) || defined(__clang__)
        __builtin_prefetch(address);
    #endif
    }
    static inline int clematis_flag_is_set(const int32_t* flag) {
    #if defined(__GNUC__) || defined(__clang__)
        return __atomic_load_n(flag, __ATOMIC_RELAXED) != 0;
    #else
        return *(const volatile int32_t*)flag != 0;
    #endif
    }
    /* True when the caller set ``cancel``, or when ``check_signals`` (main thread only) and a
       signal handler raised: that exception (KeyboardInterrupt for Ctrl-C) is then left pending.
       Kept out of line and marked cold, so the kernel loop that calls it rarely is compiled as if
       it made no call. */
    #if defined(__GNUC__) || defined(__clang__)
    __attribute__((noinline, cold))
    #endif
    static int clematis_interrupted(const int32_t* cancel, int check_signals) {
        int raised;
        PyGILState_STATE state;
        if (cancel != NULL && clematis_flag_is_set(cancel)) return 1;
        if (!check_signals) return 0;
        state = PyGILState_Ensure();
        raised = PyErr_CheckSignals() < 0;
        PyGILState_Release(state);
        return raised;
    }
    """
    const bint INTERRUPT_CHECK "CLEMATIS_INTERRUPT_CHECK"
    void prefetch "clematis_prefetch" (const void* address) noexcept nogil
    bint interrupted "clematis_interrupted" (const int32_t* cancel, bint check_signals) noexcept nogil

ctypedef fused index_t:
    int32_t
    int64_t

# The multiplier of edge e (docs/spec.md §1), chosen at compile time: ``float``, the raw contract's
# per-edge ``rel_mult[e]``; ``uint8_t``/``uint16_t``, a ConceptGraph's ``rel_table[rel_code[e]]``.
ctypedef fused rel_t:
    float
    uint8_t
    uint16_t

# §2.3 thresholds
cdef double EPS = 1e-8          # skip threshold, compared in double
cdef float OUTPUT_EPS = 1e-8    # output filter, compared in float32

# Status of a kernel run.
cdef enum:
    KERNEL_OK = 0
    OUT_OF_MEMORY = -1
    INTERRUPTED = -2

# Edges of expanded rows between two interrupt checks: well under a millisecond of work, a few
# thousand pops on the perf-smoke graph.
cdef int64_t CHECK_INTERVAL = 1 << 15

# After a call, a workspace whose queue structures hold more than this many bytes releases them
# (they grow again on demand), so a pooled workspace keeps at most this much queue memory.
cdef int64_t QUEUE_BYTES_LIMIT = 1 << 20
QUEUE_BYTES_KEPT = QUEUE_BYTES_LIMIT

# What ``Graph.rel`` points to: one rel_t each.
cdef enum:
    REL_MULT = 0    # float32 rel_mult per edge
    REL_CODE8 = 1   # uint8 rel_code per edge, indexing rel_table
    REL_CODE16 = 2  # uint16 rel_code per edge, indexing rel_table


# One graph's validated arrays, their types erased (``wide``: int64 indices; ``rel_kind``).
cdef struct Graph:
    const void* indptr
    const void* indices
    const float* weights
    const void* rel
    const float* rel_table
    const int32_t* tie_pos
    const int32_t* node_of_pos
    bint wide
    int rel_kind


cdef struct Counters:
    int64_t pops
    int64_t layers_processed
    int64_t propagations
    int64_t radius_cap_hits
    int64_t layer_cap_hits
    int64_t node_budget_hits
    int64_t frontier_evicted
    int64_t dedupe_hits
    int64_t visited_evicted
    int64_t truncated   # 1: the queue budget or the relax cap ended the loop with work left (not a §6 metric)
    float max_delta


# The kernel's parameter record: the fields of clematis._params.PARAMETERS, in that order
# (tests/test_params.py checks it). Python fills one PARAMS_DTYPE element per call.
cdef struct Params:
    int64_t radius_cap
    int64_t iter_cap_layers
    float node_budget
    int64_t frontier_cap
    int64_t visited_cap
    int64_t dedupe_window
    int64_t queue_budget
    int64_t relax_cap


cdef struct NodeState:
    float acc            # activation; 0 outside a query
    int32_t dist1        # distance + 1; 0 (unseen) outside a query


cdef struct Scratch:
    int64_t n
    NodeState* node      # per node, side by side: a pop and an edge read both in one cache line
    int32_t* touched     # nodes seen by the running query
    float* out_vals      # output values, aligned with the compacted ``touched``
    int64_t n_touched
    int32_t* ring_count  # dedupe ring membership count per node
    uint8_t* visited     # visited-set membership per node
    RadixQueue radix     # the queue without a frontier cap
    EntryBuffer heap     # the min-max heap under a frontier cap
    NodeRing dedupe_ring
    NodeRing visited_ring


cdef class Workspace:
    """Reusable scratch for queries on graphs of ``n`` nodes; one per thread at a time.

    After each ``propagate_batch`` call it keeps at most ``QUEUE_BYTES_KEPT`` (1 MiB) of queue
    memory: structures grown past that by a big query are released at the end of the call.
    """

    cdef Scratch s

    def __cinit__(self, Py_ssize_t n):
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        cdef size_t slots = <size_t>n if n > 0 else 1
        self.s.n = n
        # calloc: pages are zeroed lazily by the OS, so a workspace costs what queries touch
        self.s.node = <NodeState*> calloc(slots, sizeof(NodeState))
        self.s.touched = <int32_t*> calloc(slots, sizeof(int32_t))
        self.s.out_vals = <float*> calloc(slots, sizeof(float))
        self.s.ring_count = <int32_t*> calloc(slots, sizeof(int32_t))
        self.s.visited = <uint8_t*> calloc(slots, sizeof(uint8_t))
        if (self.s.node == NULL or self.s.touched == NULL
                or self.s.out_vals == NULL or self.s.ring_count == NULL or self.s.visited == NULL):
            raise MemoryError(f"cannot allocate T1 scratch space for {n} nodes")

    def __dealloc__(self):
        free(self.s.node)
        free(self.s.touched)
        free(self.s.out_vals)
        free(self.s.ring_count)
        free(self.s.visited)
        release_queues(&self.s)

    @property
    def queue_bytes(self) -> int:
        """Bytes allocated for the queue structures: radix buckets, frontier heap and rings."""
        return queue_bytes(&self.s)


cdef int64_t queue_bytes(const Scratch* s) noexcept nogil:
    cdef int64_t entries = s.heap.capacity + s.radix.reserved
    return (entries * <int64_t>sizeof(uint64_t)
            + (s.dedupe_ring.capacity + s.visited_ring.capacity) * <int64_t>sizeof(int32_t))


cdef void free_entries(EntryBuffer* buf) noexcept nogil:
    free(buf.data)
    buf.data = NULL
    buf.size = 0
    buf.capacity = 0


cdef void free_ring(NodeRing* ring) noexcept nogil:
    free(ring.data)
    ring.data = NULL
    ring.size = 0
    ring.capacity = 0
    ring.head = 0


cdef void release_queues(Scratch* s) noexcept nogil:
    """Free the queue structures of an idle workspace; they grow again from empty when needed."""
    cdef int b
    free_entries(&s.heap)
    radix_clear(&s.radix)
    free_entries(&s.radix.equal)
    free_entries(&s.radix.spread)
    for b in range(TOP_BUCKETS):
        free_entries(&s.radix.top[b])
    for b in range(SUB_BUCKETS):
        free_entries(&s.radix.sub[b])
    for b in range(s.radix.n_spares):
        free_entries(&s.radix.spares[b])
    s.radix.n_spares = 0
    s.radix.reserved = 0
    free_ring(&s.dedupe_ring)
    free_ring(&s.visited_ring)


cdef inline void touch(Scratch* s, int32_t v, int32_t d) noexcept nogil:
    """Record distance ``d`` for ``v`` if it is the first or a smaller one."""
    cdef int32_t old = s.node[v].dist1
    if old == 0:
        s.touched[s.n_touched] = v
        s.n_touched += 1
        s.node[v].dist1 = d + 1
    elif d + 1 < old:
        s.node[v].dist1 = d + 1


cdef inline int32_t tie_position(const int32_t* tie_pos, int32_t v) noexcept nogil:
    """The tie position of node ``v`` (§5); ``tie_pos`` NULL means every position is the index."""
    return tie_pos[v] if tie_pos != NULL else v


cdef inline int32_t node_at(const int32_t* node_of_pos, int32_t pos) noexcept nogil:
    """The node at tie position ``pos``; ``node_of_pos`` NULL means the position is the node."""
    return node_of_pos[pos] if node_of_pos != NULL else pos


cdef int enqueue(Scratch* s, const Params* caps, int32_t v, float c, const int32_t* tie_pos,
                 Counters* counters) noexcept nogil:
    """Queue (v, c) through the caps of §4 (§4.1, then §4.2); -1 when memory runs out."""
    cdef uint64_t entry
    cdef int64_t worst
    cdef int32_t evicted
    cdef int status
    # §4.1 dedupe window: a node still in the ring is dropped
    if caps.dedupe_window and s.ring_count[v] > 0:
        counters.dedupe_hits += 1
        return 0
    entry = pack_entry(tie_position(tie_pos, v), c)  # §5 queue order as one uint64
    # §4.2 frontier cap
    if caps.frontier_cap:
        if s.heap.size >= caps.frontier_cap:
            counters.frontier_evicted += 1
            worst = minmax_worst_index(&s.heap)
            if entry >= s.heap.data[worst]:
                return 0  # the newcomer is last in queue order: it is the one evicted
            minmax_take(&s.heap, worst)
        if reserve(&s.heap, s.heap.size + 1) < 0:
            return -1
        minmax_push(&s.heap, entry)
    elif radix_push(&s.radix, entry) < 0:
        return -1
    # §4.1 dedupe window: only an entry that was really queued enters the ring
    if caps.dedupe_window:
        status = ring_push(&s.dedupe_ring, v, &evicted)
        if status < 0:
            return -1
        if status == 1:
            s.ring_count[evicted] -= 1
        s.ring_count[v] += 1
    return 0


cdef inline int64_t queue_size(Scratch* s, const Params* caps) noexcept nogil:
    return s.heap.size if caps.frontier_cap else s.radix.size


cdef inline int dequeue(Scratch* s, const Params* caps, uint64_t* entry) noexcept nogil:
    """Pop the first entry in queue order into ``entry``; -1 when memory runs out."""
    if caps.frontier_cap:
        entry[0] = minmax_take(&s.heap, 0)
        return 0
    return radix_pop(&s.radix, entry)


cdef int run_t1(
    const index_t* indptr, const index_t* indices, const float* weights, const rel_t* rel,
    const float* rel_table, const int32_t* tie_pos, const int32_t* node_of_pos,
    const index_t* seed_nodes, const float* seed_weights, int64_t n_seeds, const float* decay,
    const Params* caps, Scratch* s, Counters* counters, const int32_t* cancel, bint check_signals,
) noexcept nogil:
    """§3: seeds, then pop-and-expand until the queue empties or a budget stops it. Edge ``e``'s
    multiplier is ``rel[e]`` (``rel_t`` float) or ``rel_table[rel[e]]`` (a code), chosen when
    the function is specialised: no branch per edge.

    Returns KERNEL_OK, OUT_OF_MEMORY, or INTERRUPTED when ``interrupted(cancel, check_signals)``
    fired; whatever it returns, ``s.n_touched`` covers every touched node, so the workspace can
    be reset. The hot loop keeps its pointers and counters in locals (extensions build with
    -fno-strict-aliasing, so stores through ``node`` would otherwise force reloads of every field
    of ``s`` and ``counters``).

    Deliberate transformations of the reference, each giving the same bits and counts:
    - §3.2.5.1/§3.2.5.2 per row: ``d`` is the same for every edge of row ``u``, so a row past
      the radius or layer cap adds its whole length to the hit counter at once;
    - §3.2.5.6 inlined: ``dist1`` holds distance + 1 (0 = unseen) and the first touch records
      the node in ``touched`` (what the reset and the output scan visit);
    - ``acc`` and ``dist1`` side by side per node (``NodeState``): a pop reads both, and so does
      an edge, from one cache line;
    - identity ties: ``tie_pos``/``node_of_pos`` NULL when every node's tie position is its index
      (integer ids), saving two table lookups per pushed and popped entry;
    - caps-off fast path: with no frontier cap and no dedupe window a push goes straight to the
      radix queue, skipping ``enqueue``;
    - int32 casts: node ids and ``d + 1`` fit int32 because validation caps n at
      ``MAX_NODES = 2**31 - 2`` (clematis/_validation.py), and ``d <= n``.
    """
    cdef NodeState* node = s.node
    cdef int32_t* touched = s.touched
    cdef int64_t i, e, end, layer, d
    cdef int64_t pops = 0, propagations = 0, layers_processed = 0
    cdef int64_t radius_cap_hits = 0, layer_cap_hits = 0, node_budget_hits = 0
    cdef int64_t n_touched
    cdef int64_t until_check = CHECK_INTERVAL
    cdef int32_t u, v, evicted, d1, old, next_u
    cdef uint64_t entry
    cdef float w, c, mult, contrib, a, dec, abs_contrib, max_delta = 0, budget = caps.node_budget
    cdef int status = KERNEL_OK, pushed
    cdef bint caps_on = caps.frontier_cap or caps.dedupe_window
    cdef bint stop = False, truncated = False

    # §3.1 seeds
    for i in range(n_seeds):
        u = <int32_t>seed_nodes[i]
        w = seed_weights[i]
        touch(s, u, 0)
        node[u].acc = node[u].acc + w
        if fabsf(w) > max_delta:
            max_delta = fabsf(w)
        if enqueue(s, caps, u, w, tie_pos, counters) < 0:
            return OUT_OF_MEMORY
    n_touched = s.n_touched

    # §3.2 the loop: until the queue is empty, §4.4 queue budget spent or §4.5 relax cap reached;
    # interruptible between pops
    while queue_size(s, caps) > 0 and not stop:
        if caps.queue_budget and pops >= caps.queue_budget:
            truncated = True
            break
        # §3.2.1 pop (the usual one inline: GCC keeps dequeue, with the refill, out of line)
        if not caps.frontier_cap and radix_ready(&s.radix):
            entry = radix_take(&s.radix)
        elif dequeue(s, caps, &entry) < 0:
            status = OUT_OF_MEMORY
            break
        u = node_at(node_of_pos, entry_tie_pos(entry))
        c = entry_value(entry)
        pops += 1
        # prefetch: the state and row of the likely next pop (the queue's minimum, unless this
        # row pushes one before it), so that their loads overlap this row's work
        if not caps.frontier_cap and radix_ready(&s.radix):
            next_u = node_at(node_of_pos, entry_tie_pos(radix_first(&s.radix)))
            prefetch(&node[next_u])
            e = indptr[next_u]
            prefetch(&indices[e])
            prefetch(&weights[e])
            prefetch(&rel[e])
        # §3.2.2 visited cap
        if caps.visited_cap:
            if s.visited[u]:
                continue
            pushed = ring_push(&s.visited_ring, u, &evicted)
            if pushed < 0:
                status = OUT_OF_MEMORY
                break
            if pushed == 1:
                s.visited[evicted] = 0
                counters.visited_evicted += 1
            s.visited[u] = 1
        # §3.2.3 layer cap
        layer = node[u].dist1 - 1
        if layer > 0 and layer > layers_processed:
            layers_processed = layer
            if layer > caps.iter_cap_layers:
                continue
        # §3.2.4 node budget
        if fabsf(node[u].acc) >= budget:
            node_budget_hits += 1
            continue
        # §3.2.5 edge loop
        d = layer + 1
        e = indptr[u]
        end = indptr[u + 1]
        if d > caps.radius_cap:  # §3.2.5.1 radius cap, for the whole row
            radius_cap_hits += end - e
            continue
        if d > caps.iter_cap_layers:  # §3.2.5.2 layer cap, for the whole row
            layer_cap_hits += end - e
            continue
        # interrupt check, counting the edges of expanded rows: every other pop takes an entry
        # that a counted edge (or a seed) queued, so the work between checks stays bounded
        if INTERRUPT_CHECK:
            if end - e >= until_check:
                until_check = CHECK_INTERVAL
                if interrupted(cancel, check_signals):
                    status = INTERRUPTED
                    break
            else:
                until_check -= end - e
        dec = decay[d]
        d1 = <int32_t>(d + 1)
        while e < end:
            # §3.2.5.3 contribution (§2.1 order, §2.2 decay table; §1 rel_mult[e])
            if rel_t is float:
                mult = rel[e]
            else:
                mult = rel_table[rel[e]]
            contrib = ((c * weights[e]) * mult) * dec
            abs_contrib = fabsf(contrib)
            # §3.2.5.4 skip threshold
            if <double>abs_contrib < EPS:
                e += 1
                continue
            # §3.2.5.5 accumulate
            v = <int32_t>indices[e]
            a = node[v].acc + contrib
            node[v].acc = a
            propagations += 1
            if abs_contrib > max_delta:
                max_delta = abs_contrib
            # §3.2.5.6 distance (inlined touch)
            old = node[v].dist1
            if old == 0:
                touched[n_touched] = v
                n_touched += 1
                node[v].dist1 = d1
            elif d1 < old:
                node[v].dist1 = d1
            # §3.2.5.7 queue or budget hit
            if fabsf(a) < budget:
                if caps_on:
                    if enqueue(s, caps, v, contrib, tie_pos, counters) < 0:
                        status = OUT_OF_MEMORY
                        stop = True
                        break
                elif radix_push(&s.radix, pack_entry(tie_position(tie_pos, v), contrib)) < 0:
                    status = OUT_OF_MEMORY
                    stop = True
                    break
            else:
                node_budget_hits += 1
            # §3.2.5.8 relax cap: truncated when edges of the row or queued entries remain
            if caps.relax_cap and propagations >= caps.relax_cap:
                stop = True
                truncated = e + 1 < end or queue_size(s, caps) > 0
                break
            e += 1

    s.n_touched = n_touched
    counters.pops = pops
    counters.layers_processed = layers_processed
    counters.propagations = propagations
    counters.radius_cap_hits = radius_cap_hits
    counters.layer_cap_hits = layer_cap_hits
    counters.node_budget_hits = node_budget_hits
    counters.truncated = truncated
    counters.max_delta = max_delta
    return status


cdef int compare_int32(const void* a, const void* b) noexcept nogil:
    cdef int32_t x = (<const int32_t*>a)[0]
    cdef int32_t y = (<const int32_t*>b)[0]
    return (x > y) - (x < y)


cdef void sort_touched(Scratch* s) noexcept nogil:
    """Put the touched nodes in ascending order, in O(touched) time either way: when they are
    at least 1/16 of the graph, an ascending scan of the distances is cheaper than a sort."""
    cdef int64_t v, count = 0
    if s.n_touched * 16 < s.n:
        qsort(s.touched, s.n_touched, sizeof(int32_t), compare_int32)
        return
    for v in range(s.n):
        if s.node[v].dist1 != 0:
            s.touched[count] = <int32_t>v
            count += 1


cdef int64_t collect_and_reset(Scratch* s) noexcept nogil:
    """§3.3 output: sort the touched nodes, keep those with |acc| >= 1e-8 (compacted in place,
    values in ``out_vals``), and return every scratch entry the query touched to its idle state."""
    cdef int64_t i, kept = 0
    cdef int32_t v
    cdef float a
    sort_touched(s)
    for i in range(s.n_touched):
        v = s.touched[i]
        a = s.node[v].acc
        if fabsf(a) >= OUTPUT_EPS:
            s.touched[kept] = v
            s.out_vals[kept] = a
            kept += 1
        s.node[v].acc = 0
        s.node[v].dist1 = 0
    s.n_touched = 0
    s.heap.size = 0
    radix_clear(&s.radix)
    for i in range(s.dedupe_ring.size):
        s.ring_count[s.dedupe_ring.data[i]] = 0
    s.dedupe_ring.size = 0
    s.dedupe_ring.head = 0
    for i in range(s.visited_ring.size):
        s.visited[s.visited_ring.data[i]] = 0
    s.visited_ring.size = 0
    s.visited_ring.head = 0
    return kept


cdef Counters _counters_layout
cdef Params _params_layout
# The per-query counters and the parameter record as NumPy structured dtypes laid out exactly
# like the structs.
COUNTERS_DTYPE = np.asarray(<Counters[:1]> &_counters_layout).dtype
PARAMS_DTYPE = np.asarray(<Params[:1]> &_params_layout).dtype


cdef struct Output:
    int32_t* nodes    # the kept nodes of every query so far, concatenated
    float* values
    int64_t size
    int64_t capacity


cdef int append_output(Output* out, const Scratch* s, int64_t kept) noexcept nogil:
    """Append the ``kept`` compacted results of ``s``; OUT_OF_MEMORY when memory runs out."""
    cdef int64_t values_capacity = out.capacity
    if kept == 0:
        return 0  # nothing to copy (and memcpy must not see the NULL of an empty output)
    if (grow(<void**>&out.values, &values_capacity, out.size + kept, sizeof(float), 1024, 0) < 0
            or grow(<void**>&out.nodes, &out.capacity, out.size + kept, sizeof(int32_t), 1024, 0) < 0):
        return OUT_OF_MEMORY
    memcpy(out.nodes + out.size, s.touched, kept * sizeof(int32_t))
    memcpy(out.values + out.size, s.out_vals, kept * sizeof(float))
    out.size += kept
    return 0


cdef inline int run_t1_typed(
    const Graph* g, const index_t* indptr, const index_t* indices, const index_t* seed_nodes,
    const float* seed_weights, int64_t n_seeds, const float* decay, const Params* caps, Scratch* s,
    Counters* counters, const int32_t* cancel, bint check_signals,
) noexcept nogil:
    """``run_t1`` on ``g`` for its multiplier kind, given its arrays in their index type."""
    if g.rel_kind == REL_CODE8:
        return run_t1(indptr, indices, g.weights, <const uint8_t*>g.rel, g.rel_table, g.tie_pos,
                      g.node_of_pos, seed_nodes, seed_weights, n_seeds, decay, caps, s, counters,
                      cancel, check_signals)
    if g.rel_kind == REL_CODE16:
        return run_t1(indptr, indices, g.weights, <const uint16_t*>g.rel, g.rel_table, g.tie_pos,
                      g.node_of_pos, seed_nodes, seed_weights, n_seeds, decay, caps, s, counters,
                      cancel, check_signals)
    return run_t1(indptr, indices, g.weights, <const float*>g.rel, g.rel_table, g.tie_pos,
                  g.node_of_pos, seed_nodes, seed_weights, n_seeds, decay, caps, s, counters,
                  cancel, check_signals)


cdef int run_query(
    const Graph* g, const void* seed_nodes, const float* seed_weights, int64_t n_seeds,
    const float* decay, const Params* caps, Scratch* s, Counters* counters, const int32_t* cancel,
    bint check_signals,
) noexcept nogil:
    """One query: ``run_t1`` specialised for the index and multiplier types of ``g`` (seeds in
    its index type)."""
    if g.wide:
        return run_t1_typed(g, <const int64_t*>g.indptr, <const int64_t*>g.indices,
                            <const int64_t*>seed_nodes, seed_weights, n_seeds, decay, caps, s,
                            counters, cancel, check_signals)
    return run_t1_typed(g, <const int32_t*>g.indptr, <const int32_t*>g.indices,
                        <const int32_t*>seed_nodes, seed_weights, n_seeds, decay, caps, s, counters,
                        cancel, check_signals)


cdef int run_t1_batch(
    const Graph* g, const int64_t* seed_ptr, const void* seed_nodes, const float* seed_weights,
    int64_t n_queries, const float* decay, const Params* caps, Scratch* s, Counters* counters,
    int64_t* offsets, Output* out, const int32_t* cancel, bint check_signals,
) noexcept nogil:
    """Query ``q`` is seeds ``seed_ptr[q] .. seed_ptr[q + 1] - 1``; its output lands in
    ``out[offsets[q] .. offsets[q + 1] - 1]``. Returns the status of ``run_t1`` (the first that
    is not KERNEL_OK stops the batch) or OUT_OF_MEMORY; the workspace is left idle either way."""
    cdef int64_t q, first, count, kept
    cdef int status
    cdef size_t seed_size = sizeof(int64_t) if g.wide else sizeof(int32_t)
    offsets[0] = 0
    for q in range(n_queries):
        first = seed_ptr[q]
        count = seed_ptr[q + 1] - first
        status = run_query(g, <const char*>seed_nodes + first * seed_size if count else NULL,
                           seed_weights + first if count else NULL, count, decay, caps, s,
                           &counters[q], cancel, check_signals)
        kept = collect_and_reset(s)  # always: the workspace must be idle for the next query
        if status != KERNEL_OK:
            return status
        if append_output(out, s, kept) < 0:
            return OUT_OF_MEMORY
        offsets[q + 1] = out.size
    return KERNEL_OK


cdef int raise_interrupt() except -1:
    """Raise what stopped the kernel: the exception a signal handler left pending
    (KeyboardInterrupt for Ctrl-C), else KeyboardInterrupt for a call cancelled by its caller."""
    if PyErr_Occurred() != NULL:
        return -1
    raise KeyboardInterrupt("T1 query cancelled")


cdef int raise_for(int status) except -1:
    """Raise what a kernel status other than KERNEL_OK means."""
    if status == INTERRUPTED:
        return raise_interrupt()
    if status == OUT_OF_MEMORY:
        raise MemoryError("out of memory while running a T1 query")
    return 0


# Ctrl-C is delivered to the main thread only, so only there does the kernel run the handlers.
cdef object MAIN_THREAD_ID = threading.main_thread().ident


cdef inline bint on_main_thread():
    return threading.get_ident() == MAIN_THREAD_ID


cdef const int32_t* cancel_address(const int32_t[::1] cancel) except? NULL:
    """The flag of ``cancel`` (one int32), or NULL for None."""
    if cancel is None:
        return NULL
    if cancel.shape[0] != 1:
        raise ValueError("cancel must hold one int32 flag")
    return &cancel[0]


cdef int check_tie_tables(bint tie_pos_given, bint node_of_pos_given) except -1:
    """Both tie tables, or neither (identity ties): never one without the other."""
    if tie_pos_given != node_of_pos_given:
        raise ValueError("tie_pos and node_of_pos must both be arrays or both be None")
    return 0


cdef const int32_t* int32_address(const int32_t[::1] view) noexcept:
    """The first element of ``view``; NULL for None (or an empty array)."""
    return &view[0] if view is not None and view.shape[0] else NULL


cdef void prepare_workspace(Scratch* s, const Params* caps) noexcept nogil:
    s.dedupe_ring.limit = caps.dedupe_window
    s.visited_ring.limit = caps.visited_cap


cdef void finish_call(Scratch* s) noexcept nogil:
    """What every call leaves behind: at most QUEUE_BYTES_LIMIT of queue memory."""
    if queue_bytes(s) > QUEUE_BYTES_LIMIT:
        release_queues(s)


cdef object node_array(const int32_t* nodes, int64_t size, bint wide):
    """The output nodes as a new array of the graph's index dtype."""
    cdef int64_t i
    cdef int64_t* wide_nodes
    if not wide:
        out = np.empty(size, dtype=np.int32)
        if size:
            memcpy(buffer_address(out), nodes, size * sizeof(int32_t))
        return out
    out = np.empty(size, dtype=np.int64)
    if size:
        wide_nodes = <int64_t*>buffer_address(out)
        for i in range(size):
            wide_nodes[i] = nodes[i]
    return out


cdef object float_array(const float* values, int64_t size):
    out = np.empty(size, dtype=np.float32)
    if size:
        memcpy(buffer_address(out), values, size * sizeof(float))
    return out


cdef tuple batch_arrays(int64_t n_queries, int64_t** offsets, Counters** counters):
    """The new ``offsets`` and ``counters`` arrays of a batch, and their data."""
    offsets_array = np.empty(n_queries + 1, dtype=np.int64)
    counters_array = np.zeros(n_queries, dtype=COUNTERS_DTYPE)
    offsets[0] = <int64_t*>buffer_address(offsets_array)
    counters[0] = <Counters*>buffer_address(counters_array)  # NULL for no query
    return offsets_array, counters_array


cdef object batch_outputs(int status, Output* out, Scratch* s, bint wide):
    """``(d_nodes, d_vals)`` of a finished batch, or its error; frees ``out`` either way."""
    try:
        raise_for(status)
        return node_array(out.nodes, out.size, wide), float_array(out.values, out.size)
    finally:
        free(out.nodes)
        free(out.values)
        finish_call(s)


cdef int check_seed_ptr(const int64_t* seed_ptr, Py_ssize_t size, Py_ssize_t n_seeds,
                        Py_ssize_t n_weights) except -1:
    """``seed_ptr`` (``size`` entries) bounds the queries of ``n_seeds`` seeds and weights."""
    cdef int64_t q, n_queries = size - 1
    if n_queries < 0 or seed_ptr[0] != 0 or seed_ptr[n_queries] != n_seeds:
        raise ValueError("seed_ptr must run from 0 to len(seed_nodes)")
    if n_weights != n_seeds:
        raise ValueError("seed_weights must have one entry per seed")
    for q in range(n_queries):
        if seed_ptr[q + 1] < seed_ptr[q]:
            raise ValueError("seed_ptr must be non-decreasing")
    return 0


def propagate_batch(
    const index_t[::1] indptr, const index_t[::1] indices, const float[::1] weights,
    const rel_t[::1] rel, const float[::1] rel_table, const int32_t[::1] tie_pos,
    const int32_t[::1] node_of_pos, const int64_t[::1] seed_ptr,
    const index_t[::1] seed_nodes, const float[::1] seed_weights, const float[::1] decay,
    Workspace workspace not None, const Params[::1] params, const int32_t[::1] cancel=None,
):
    """Run many validated queries on one graph; query ``q`` is seeds ``seed_ptr[q]:seed_ptr[q+1]``.

    Returns ``(d_nodes, d_vals, offsets, counters)``: the outputs of every query concatenated,
    query ``q`` owning ``offsets[q]:offsets[q + 1]``, and one ``COUNTERS_DTYPE`` record per query.
    Each query returns the same bits as the reference (``clematis._reference``) with the same
    arguments. ``rel`` is the float32 ``rel_mult`` of each edge (``rel_table`` is then not read),
    or the uint8/uint16 ``rel_code`` of each edge, every code an index into ``rel_table``.
    ``params`` is one ``PARAMS_DTYPE`` record (``clematis._params.T1Params.record``).
    ``tie_pos`` and ``node_of_pos`` are both None when every node's tie position is its index.

    The call is interruptible: on the main thread a signal handler's exception (KeyboardInterrupt
    for Ctrl-C) stops it within a few thousand pops; anywhere, ``cancel[0]`` set non-zero by
    another thread stops it with KeyboardInterrupt. The workspace stays reusable either way.
    """
    cdef Scratch* s = &workspace.s
    cdef Graph g
    cdef Params caps
    cdef Output out
    cdef int status
    cdef const int32_t* cancel_flag = cancel_address(cancel)
    cdef bint check_signals = on_main_thread()
    cdef int64_t n = indptr.shape[0] - 1
    cdef int64_t n_queries = seed_ptr.shape[0] - 1
    cdef int64_t* offsets_data
    cdef Counters* counters_data
    if n != s.n:
        raise ValueError(f"workspace is for {s.n} nodes, the graph has {n}")
    check_tie_tables(tie_pos is not None, node_of_pos is not None)
    check_seed_ptr(&seed_ptr[0] if seed_ptr.shape[0] else NULL, seed_ptr.shape[0], seed_nodes.shape[0],
                   seed_weights.shape[0])
    if params.shape[0] != 1:
        raise ValueError("params must hold one PARAMS_DTYPE record")
    caps = params[0]
    prepare_workspace(s, &caps)
    memset(&out, 0, sizeof(Output))

    offsets, counters = batch_arrays(n_queries, &offsets_data, &counters_data)
    g.indptr = &indptr[0]
    g.indices = &indices[0] if indices.shape[0] else NULL
    g.weights = &weights[0] if weights.shape[0] else NULL
    g.rel = &rel[0] if rel.shape[0] else NULL
    g.rel_table = &rel_table[0] if rel_table.shape[0] else NULL
    g.tie_pos = int32_address(tie_pos)
    g.node_of_pos = int32_address(node_of_pos)
    g.wide = index_t is int64_t
    if rel_t is float:
        g.rel_kind = REL_MULT
    elif rel_t is uint8_t:
        g.rel_kind = REL_CODE8
    else:
        g.rel_kind = REL_CODE16
    with nogil:
        status = run_t1_batch(&g, &seed_ptr[0], &seed_nodes[0] if seed_nodes.shape[0] else NULL,
                              &seed_weights[0] if seed_weights.shape[0] else NULL, n_queries,
                              &decay[0], &caps, s,
                              counters_data, offsets_data, &out,
                              cancel_flag, check_signals)
    d_nodes, d_vals = batch_outputs(status, &out, s, index_t is int64_t)
    return d_nodes, d_vals, offsets, counters


cdef void* buffer_address(obj) except? NULL:
    """The first byte of ``obj``'s C-contiguous buffer, NULL when it is empty. The buffer is
    released at once, so the address is valid while ``obj`` lives (a NumPy array's data does not
    move). The buffer protocol directly: a typed memoryview costs microseconds per call under the
    Limited API, a fixed cost of every small query."""
    cdef Py_buffer view
    cdef void* address
    PyObject_GetBuffer(obj, &view, PyBUF_C_CONTIGUOUS)
    address = view.buf if view.len else NULL
    PyBuffer_Release(&view)
    return address


cdef const void* array_address(array, dtype, str name) except? NULL:
    """The data of ``array``, a contiguous array of exactly ``dtype`` (never converted: the
    address must stay valid as long as ``array`` lives); NULL when it is empty."""
    if not isinstance(array, np.ndarray) or array.dtype != dtype:
        raise TypeError(f"{name} must be a {np.dtype(dtype).name} array")
    try:
        return buffer_address(array)
    except (BufferError, ValueError) as exc:  # NumPy's word for a strided array
        raise ValueError(f"{name}: {exc}") from None


cdef tuple counters_tuple(const Counters* c):
    """One query's counters in ``COUNTERS_DTYPE`` field order (as ``counters.tolist()`` rows)."""
    return (c.pops, c.layers_processed, c.propagations, c.radius_cap_hits, c.layer_cap_hits,
            c.node_budget_hits, c.frontier_evicted, c.dedupe_hits, c.visited_evicted, c.truncated,
            c.max_delta)


# CompiledQuery: the dtype of ``rel`` -> what Graph.rel points to
_REL_KINDS = {np.dtype(np.float32): REL_MULT, np.dtype(np.uint8): REL_CODE8,
             np.dtype(np.uint16): REL_CODE16}


cdef class CompiledQuery:
    """One graph's validated arrays, a decay table and a parameter record, held once, so that a
    query costs only its seeds and its work (no buffer acquisition of the graph per call).

    The arrays are those of ``propagate_batch`` (``tie_pos`` and ``node_of_pos`` both None for
    identity ties), for the same bits; they are kept alive here and
    must not be written to while the object lives (a ConceptGraph's arrays are read-only).
    """

    cdef tuple arrays          # keeps every buffer below alive
    cdef Graph graph
    cdef const float* decay
    cdef Params caps
    cdef readonly int64_t n_nodes
    cdef object index_dtype

    def __cinit__(self, indptr, indices, weights, rel, rel_table, tie_pos, node_of_pos, decay,
                  const Params[::1] params not None):
        index_dtype = np.asarray(indptr).dtype
        if index_dtype not in (np.int32, np.int64):
            raise TypeError("indptr must be an int32 or int64 array")
        rel_dtype = np.asarray(rel).dtype
        if rel_dtype not in _REL_KINDS:
            raise TypeError("rel must be a float32 rel_mult or a uint8 or uint16 rel_code array")
        if params.shape[0] != 1:
            raise ValueError("params must hold one PARAMS_DTYPE record")
        cdef const float[::1] decay_view = decay
        if decay_view.shape[0] == 0:
            raise ValueError("decay must not be empty")
        self.arrays = (indptr, indices, weights, rel, rel_table, tie_pos, node_of_pos, decay)
        self.graph.indptr = array_address(indptr, index_dtype, "indptr")
        self.graph.indices = array_address(indices, index_dtype, "indices")
        self.graph.weights = <const float*>array_address(weights, np.float32, "weights")
        self.graph.rel = array_address(rel, rel_dtype, "rel")
        self.graph.rel_table = <const float*>array_address(rel_table, np.float32, "rel_table")
        check_tie_tables(tie_pos is not None, node_of_pos is not None)
        if tie_pos is not None:
            self.graph.tie_pos = <const int32_t*>array_address(tie_pos, np.int32, "tie_pos")
            self.graph.node_of_pos = <const int32_t*>array_address(node_of_pos, np.int32, "node_of_pos")
        self.graph.wide = index_dtype == np.int64
        self.graph.rel_kind = _REL_KINDS[rel_dtype]
        self.decay = &decay_view[0]
        self.caps = params[0]
        self.n_nodes = indptr.shape[0] - 1
        self.index_dtype = index_dtype

    cdef tuple single(self, const void* seed_nodes, const float* seed_weights, int64_t n_seeds,
                      Workspace workspace, const int32_t[::1] cancel):
        cdef Scratch* s = &workspace.s
        cdef Counters counters
        cdef int status
        cdef int64_t kept
        cdef const int32_t* cancel_flag = cancel_address(cancel)
        cdef bint check_signals = on_main_thread()
        if s.n != self.n_nodes:
            raise ValueError(f"workspace is for {s.n} nodes, the graph has {self.n_nodes}")
        memset(&counters, 0, sizeof(Counters))
        prepare_workspace(s, &self.caps)
        with nogil:
            status = run_query(&self.graph, seed_nodes, seed_weights, n_seeds, self.decay, &self.caps,
                               s, &counters, cancel_flag, check_signals)
            kept = collect_and_reset(s)  # always: the workspace must be idle for the next query
            finish_call(s)
        raise_for(status)
        return (node_array(s.touched, kept, self.graph.wide), float_array(s.out_vals, kept),
                counters_tuple(&counters))

    def run(self, seed_nodes, seed_weights, Workspace workspace not None, const int32_t[::1] cancel=None):
        """One query from validated seeds (the graph's index dtype, in range) and float32 weights.

        Returns ``(nodes, values, counters)``, ``counters`` a tuple in ``COUNTERS_DTYPE`` order.
        """
        cdef const void* nodes = array_address(seed_nodes, self.index_dtype, "seed_nodes")
        cdef const float* weights = <const float*>array_address(seed_weights, np.float32, "seed_weights")
        cdef int64_t n_seeds = len(seed_weights)
        if len(seed_nodes) != n_seeds:
            raise ValueError("seed_weights must have one entry per seed")
        return self.single(nodes, weights, n_seeds, workspace, cancel)

    def run_indices(self, list seed_nodes not None, Workspace workspace not None,
                    const int32_t[::1] cancel=None):
        """One query from a list of Python ints, each of weight 1.0: the fast path for seeds
        given as indices. Returns None, running nothing, unless every item is an ``int`` in
        ``[0, n)`` (the caller then validates them the usual way, with its error messages)."""
        cdef Py_ssize_t i, n_seeds = len(seed_nodes)
        cdef int64_t v
        cdef void* nodes = malloc(n_seeds * 8 + 1)
        cdef float* weights = <float*> malloc(n_seeds * sizeof(float) + 1)
        try:
            if nodes == NULL or weights == NULL:
                raise MemoryError("cannot allocate the seeds of a T1 query")
            for i in range(n_seeds):
                item = seed_nodes[i]
                if type(item) is not int or not 0 <= item < self.n_nodes:
                    return None
                v = item
                if self.graph.wide:
                    (<int64_t*>nodes)[i] = v
                else:
                    (<int32_t*>nodes)[i] = <int32_t>v
                weights[i] = 1.0
            return self.single(nodes, weights, n_seeds, workspace, cancel)
        finally:
            free(nodes)
            free(weights)

    def run_batch(self, seed_ptr, seed_nodes, seed_weights, Workspace workspace not None,
                  const int32_t[::1] cancel=None):
        """``propagate_batch`` on the held graph, decay and parameters."""
        cdef Scratch* s = &workspace.s
        cdef Output out
        cdef int status
        cdef const int64_t* ptr = <const int64_t*>array_address(seed_ptr, np.int64, "seed_ptr")
        cdef const void* nodes = array_address(seed_nodes, self.index_dtype, "seed_nodes")
        cdef const float* weights = <const float*>array_address(seed_weights, np.float32, "seed_weights")
        cdef const int32_t* cancel_flag = cancel_address(cancel)
        cdef bint check_signals = on_main_thread()
        cdef int64_t n_queries = len(seed_ptr) - 1
        cdef int64_t* offsets_data
        cdef Counters* counters_data
        if s.n != self.n_nodes:
            raise ValueError(f"workspace is for {s.n} nodes, the graph has {self.n_nodes}")
        check_seed_ptr(ptr, len(seed_ptr), len(seed_nodes), len(seed_weights))
        prepare_workspace(s, &self.caps)
        memset(&out, 0, sizeof(Output))
        offsets, counters = batch_arrays(n_queries, &offsets_data, &counters_data)
        with nogil:
            status = run_t1_batch(&self.graph, ptr, nodes, weights, n_queries, self.decay, &self.caps, s,
                                  counters_data, offsets_data, &out, cancel_flag, check_signals)
        d_nodes, d_vals = batch_outputs(status, &out, s, self.graph.wide)
        return d_nodes, d_vals, offsets, counters
