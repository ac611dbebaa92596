/* The queue-free floor of T1 (issue 15): a recorded pop sequence replayed with no queue.
 *
 * Recording: this file includes the C baseline (../c_baseline/t1_baseline.c) with its
 * T1B_ON_EXPAND hook defined, so that t1b_propagate, between floor_log_start and floor_log_stop,
 * logs every pop whose row it expands: (node, popped c, layer), in pop order.
 *
 * Replay: floor_replay does the seeds and then, for each logged pop in order, the kernel's edge
 * work - the contribution ((c * w) * rel_mult) * decay[d], the EPS skip in double, the acc
 * update, the dist1 update with first-touch recording, the budget check and one sequential
 * 8-byte store of the packed queue entry (clematis/_kernels/_entries.pxd) per pushed entry - but
 * no priority queue at all. It adds the same contributions in the same order as the reference,
 * so it reproduces its acc bits; its time is the floor any queue discipline starts from.
 * Build with -ffp-contract=off, as the baseline.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int32_t node;
    float c;
    int32_t layer;
} ExpandedPop;

typedef struct {
    ExpandedPop *pops;
    int64_t size;
    int64_t capacity;
    int active;
    int out_of_memory;
} PopLog;

/* One log per loaded library: recording is a single-threaded benchmark step. */
static PopLog pop_log;

static int log_expanded_pop(int32_t node, float c, int64_t layer) {
    if (!pop_log.active) return 0;
    if (pop_log.size == pop_log.capacity) {
        int64_t capacity = pop_log.capacity ? 2 * pop_log.capacity : 1024;
        ExpandedPop *grown = realloc(pop_log.pops, (size_t)capacity * sizeof(ExpandedPop));
        if (grown == NULL) {
            pop_log.out_of_memory = 1;
            return -1;
        }
        pop_log.pops = grown;
        pop_log.capacity = capacity;
    }
    pop_log.pops[pop_log.size++] = (ExpandedPop){node, c, (int32_t)layer};
    return 0;
}

#define T1B_ON_EXPAND(node, c, layer) log_expanded_pop(node, c, layer)
#include "../c_baseline/t1_baseline.c"

int64_t floor_pop_size(void) { return sizeof(ExpandedPop); }

void floor_log_start(void) {
    pop_log.size = 0;
    pop_log.out_of_memory = 0;
    pop_log.active = 1;
}

/* Stops logging; the number of logged pops, or -1 when the log ran out of memory. */
int64_t floor_log_stop(void) {
    pop_log.active = 0;
    return pop_log.out_of_memory ? -1 : pop_log.size;
}

/* Copies the logged pops to dst (floor_log_stop() entries) and frees the log. */
void floor_log_take(ExpandedPop *dst) {
    if (pop_log.size) memcpy(dst, pop_log.pops, (size_t)pop_log.size * sizeof(ExpandedPop));
    free(pop_log.pops);
    memset(&pop_log, 0, sizeof(pop_log));
}

/* acc and dist1 of a node side by side, as in the kernel's NodeState (clematis/_kernels/_t1.pyx). */
typedef struct {
    float acc;
    int32_t dist1;
} NodeState;

/* The replay's scratch, idle between queries (acc 0, dist1 0 = unseen), like the kernel's. */
typedef struct {
    int64_t n;
    NodeState *node;
    int32_t *touched;
} FloorWorkspace;

void floor_workspace_free(FloorWorkspace *ws) {
    if (ws == NULL) return;
    free(ws->node);
    free(ws->touched);
    free(ws);
}

FloorWorkspace *floor_workspace_new(int64_t n) {
    size_t slots = n > 0 ? (size_t)n : 1;
    FloorWorkspace *ws = calloc(1, sizeof(FloorWorkspace));
    if (ws == NULL) return NULL;
    ws->n = n;
    ws->node = calloc(slots, sizeof(NodeState));
    ws->touched = malloc(slots * sizeof(int32_t));
    if (ws->node == NULL || ws->touched == NULL) {
        floor_workspace_free(ws);
        return NULL;
    }
    return ws;
}

/* The kernel's 8-byte queue entry (clematis/_kernels/_entries.pxd, pack_entry). */
static inline uint64_t pack_entry(int32_t tie_pos, float c) {
    uint32_t bits;
    memcpy(&bits, &c, sizeof(bits));
    uint64_t nonneg = c < 0 ? 0 : 1;
    return ((uint64_t)(0x7FFFFFFFu - (bits & 0x7FFFFFFFu)) << 32) | ((uint64_t)tie_pos << 1) | nonneg;
}

static inline void touch(FloorWorkspace *ws, int64_t *n_touched, int32_t v, int32_t d1) {
    int32_t seen = ws->node[v].dist1;
    if (seen == 0) {
        ws->touched[(*n_touched)++] = v;
        ws->node[v].dist1 = d1;
    } else if (d1 < seen) {
        ws->node[v].dist1 = d1;
    }
}

enum { REPLAY_PROPAGATIONS, REPLAY_PUSHED, N_REPLAY_COUNTERS };

int64_t floor_replay_counter_count(void) { return N_REPLAY_COUNTERS; }

/* Replays pops[0 .. n_pops-1]; entries holds entries_capacity pushed entries. Writes every
 * touched node and its acc (first-touch order, unfiltered) to out_*, leaves the workspace idle
 * and returns the number of touched nodes, or -1 when entries is too small. */
int64_t floor_replay(const int32_t *indptr, const int32_t *indices, const float *weights,
                     const float *rel_mult, const int32_t *tie_pos, const int32_t *seed_nodes,
                     const float *seed_weights, int64_t n_seeds, const float *decay,
                     float node_budget, const ExpandedPop *pops, int64_t n_pops, uint64_t *entries,
                     int64_t entries_capacity, FloorWorkspace *ws, int32_t *out_nodes,
                     float *out_vals, int64_t *counters) {
    NodeState *node = ws->node;
    int64_t n_touched = 0, pushed = 0, propagations = 0;
    if (n_seeds > entries_capacity) return -1;

    for (int64_t i = 0; i < n_seeds; i++) {
        int32_t s = seed_nodes[i];
        float w = seed_weights[i];
        node[s].acc = node[s].acc + w;
        touch(ws, &n_touched, s, 1);
        entries[pushed++] = pack_entry(tie_pos[s], w);
    }
    for (int64_t p = 0; p < n_pops; p++) {
        float c = pops[p].c;
        int32_t d1 = pops[p].layer + 2;  /* dist1 of the targets: distance d = layer + 1, plus 1 */
        float dec = decay[d1 - 1];
        int64_t end = indptr[pops[p].node + 1];
        if (pushed + (end - indptr[pops[p].node]) > entries_capacity) return -1;
        for (int64_t e = indptr[pops[p].node]; e < end; e++) {
            float contrib = ((c * weights[e]) * rel_mult[e]) * dec;
            if ((double)fabsf(contrib) < EPS) continue;
            int32_t v = indices[e];
            float a = node[v].acc + contrib;
            node[v].acc = a;
            propagations++;
            touch(ws, &n_touched, v, d1);
            if (fabsf(a) < node_budget) entries[pushed++] = pack_entry(tie_pos[v], contrib);
        }
    }
    for (int64_t i = 0; i < n_touched; i++) {
        int32_t v = ws->touched[i];
        out_nodes[i] = v;
        out_vals[i] = node[v].acc;
        node[v].acc = 0.0f;
        node[v].dist1 = 0;
    }
    counters[REPLAY_PROPAGATIONS] = propagations;
    counters[REPLAY_PUSHED] = pushed;
    return n_touched;
}
