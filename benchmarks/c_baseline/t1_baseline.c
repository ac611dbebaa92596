/* T1 propagation, perf-OFF (spec §2-§3, §5), written plainly in C as a speed baseline.
 *
 * The same algorithm as clematis/_reference.py without caps: float32 arithmetic in the same
 * order, EPS compared in double, decay looked up per distance, the queue order of spec §5.
 * The queue is a plain binary min-heap of 16-byte entries compared field by field.
 * Build with -ffp-contract=off so every float32 multiply and add is rounded on its own.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define EPS 1e-8              /* skip threshold, compared in double */
#define OUTPUT_EPS 1e-8f      /* output filter, compared in float32 */

/* Called for every pop whose row is expanded (node, popped c, layer); nonzero aborts as out of
 * memory. The queue-free floor (benchmarks/floor/floor.c) defines it to record the pops; in the
 * baseline itself it is the constant 0 and the compiler removes the call and its condition. */
#ifndef T1B_ON_EXPAND
#define T1B_ON_EXPAND(node, c, layer) 0
#endif

enum { POPS, LAYERS_PROCESSED, PROPAGATIONS, RADIUS_CAP_HITS, LAYER_CAP_HITS, NODE_BUDGET_HITS,
       N_COUNTERS };

typedef struct {
    float abs_c;
    int32_t rank;
    int32_t node;
    float c;
} Entry;

/* Scratch reused across queries on graphs of n nodes; queries leave it idle (acc 0, dist -1). */
typedef struct {
    int64_t n;
    float *acc;
    int32_t *dist;
    int32_t *touched;
    int64_t n_touched;
    Entry *heap;
    int64_t size;
    int64_t capacity;
} Workspace;

int64_t t1b_counter_count(void) { return N_COUNTERS; }

void t1b_workspace_free(Workspace *ws) {
    if (ws == NULL) return;
    free(ws->acc);
    free(ws->dist);
    free(ws->touched);
    free(ws->heap);
    free(ws);
}

Workspace *t1b_workspace_new(int64_t n) {
    size_t slots = n > 0 ? (size_t)n : 1;
    Workspace *ws = calloc(1, sizeof(Workspace));
    if (ws == NULL) return NULL;
    ws->n = n;
    ws->acc = calloc(slots, sizeof(float));
    ws->dist = malloc(slots * sizeof(int32_t));
    ws->touched = malloc(slots * sizeof(int32_t));
    if (ws->acc == NULL || ws->dist == NULL || ws->touched == NULL) {
        t1b_workspace_free(ws);
        return NULL;
    }
    for (int64_t i = 0; i < n; i++) ws->dist[i] = -1;
    return ws;
}

/* 1 when entry a pops strictly before entry b. */
static inline int before(const Entry *a, const Entry *b) {
    if (a->abs_c != b->abs_c) return a->abs_c > b->abs_c;
    if (a->rank != b->rank) return a->rank < b->rank;
    if (a->node != b->node) return a->node < b->node;
    return a->c < b->c;
}

static int heap_push(Workspace *ws, int32_t node, float c, const int32_t *key_rank) {
    if (ws->size == ws->capacity) {
        int64_t capacity = ws->capacity ? 2 * ws->capacity : 64;
        Entry *grown = realloc(ws->heap, (size_t)capacity * sizeof(Entry));
        if (grown == NULL) return -1;
        ws->heap = grown;
        ws->capacity = capacity;
    }
    Entry x = {fabsf(c), key_rank[node], node, c};
    Entry *h = ws->heap;
    int64_t i = ws->size++;
    while (i > 0) {
        int64_t parent = (i - 1) / 2;
        if (!before(&x, &h[parent])) break;
        h[i] = h[parent];
        i = parent;
    }
    h[i] = x;
    return 0;
}

static Entry heap_pop(Workspace *ws) {
    Entry *h = ws->heap;
    Entry top = h[0];
    int64_t n = --ws->size;
    if (n == 0) return top;
    Entry x = h[n];
    int64_t i = 0;
    for (;;) {
        int64_t child = 2 * i + 1;
        if (child >= n) break;
        if (child + 1 < n && before(&h[child + 1], &h[child])) child++;
        if (!before(&h[child], &x)) break;
        h[i] = h[child];
        i = child;
    }
    h[i] = x;
    return top;
}

static inline void record_distance(Workspace *ws, int32_t v, int32_t d) {
    if (ws->dist[v] < 0) {
        ws->touched[ws->n_touched++] = v;
        ws->dist[v] = d;
    } else if (d < ws->dist[v]) {
        ws->dist[v] = d;
    }
}

static int compare_int32(const void *a, const void *b) {
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* Touched nodes with |acc| >= 1e-8 in ascending order into out_*; the workspace back to idle. */
static int64_t collect_and_reset(Workspace *ws, int32_t *out_nodes, float *out_vals) {
    int64_t kept = 0;
    qsort(ws->touched, (size_t)ws->n_touched, sizeof(int32_t), compare_int32);
    for (int64_t i = 0; i < ws->n_touched; i++) {
        int32_t v = ws->touched[i];
        if (fabsf(ws->acc[v]) >= OUTPUT_EPS) {
            out_nodes[kept] = v;
            out_vals[kept] = ws->acc[v];
            kept++;
        }
        ws->acc[v] = 0.0f;
        ws->dist[v] = -1;
    }
    ws->n_touched = 0;
    ws->size = 0;
    return kept;
}

/* One query. out_nodes/out_vals hold n entries; counters holds N_COUNTERS.
 * Returns the number of output nodes, or -1 when memory runs out. */
int64_t t1b_propagate(const int32_t *indptr, const int32_t *indices, const float *weights,
                      const float *rel_mult, const int32_t *key_rank, const int32_t *seed_nodes,
                      const float *seed_weights, int64_t n_seeds, const float *decay,
                      int64_t radius_cap, int64_t iter_cap_layers, float node_budget, Workspace *ws,
                      int32_t *out_nodes, float *out_vals, int64_t *counters, float *max_delta) {
    float *acc = ws->acc;
    int64_t count[N_COUNTERS] = {0};
    float max_abs = 0.0f;
    int64_t kept;

    for (int64_t i = 0; i < n_seeds; i++) {
        int32_t s = seed_nodes[i];
        float w = seed_weights[i];
        acc[s] = acc[s] + w;
        record_distance(ws, s, 0);
        if (fabsf(w) > max_abs) max_abs = fabsf(w);
        if (heap_push(ws, s, w, key_rank) < 0) goto out_of_memory;
    }

    while (ws->size > 0) {
        Entry top = heap_pop(ws);
        int32_t u = top.node;
        float c = top.c;
        count[POPS]++;
        int64_t layer = ws->dist[u] > 0 ? ws->dist[u] : 0;
        if (layer > 0 && layer > count[LAYERS_PROCESSED]) {
            count[LAYERS_PROCESSED] = layer;
            if (layer > iter_cap_layers) continue;
        }
        if (fabsf(acc[u]) >= node_budget) {
            count[NODE_BUDGET_HITS]++;
            continue;
        }
        int64_t d = layer + 1;
        if (d <= radius_cap && d <= iter_cap_layers && T1B_ON_EXPAND(u, c, layer)) goto out_of_memory;
        int64_t end = indptr[u + 1];
        for (int64_t e = indptr[u]; e < end; e++) {
            int32_t v = indices[e];
            if (d > radius_cap) {
                count[RADIUS_CAP_HITS]++;
                continue;
            }
            if (d > iter_cap_layers) {
                count[LAYER_CAP_HITS]++;
                continue;
            }
            float contrib = ((c * weights[e]) * rel_mult[e]) * decay[d];
            if ((double)fabsf(contrib) < EPS) continue;
            float a = acc[v] + contrib;
            acc[v] = a;
            count[PROPAGATIONS]++;
            if (fabsf(contrib) > max_abs) max_abs = fabsf(contrib);
            record_distance(ws, v, (int32_t)d);
            if (fabsf(a) < node_budget) {
                if (heap_push(ws, v, contrib, key_rank) < 0) goto out_of_memory;
            } else {
                count[NODE_BUDGET_HITS]++;
            }
        }
    }
    kept = collect_and_reset(ws, out_nodes, out_vals);
    memcpy(counters, count, sizeof(count));
    *max_delta = max_abs;
    return kept;

out_of_memory:
    collect_and_reset(ws, out_nodes, out_vals);
    return -1;
}
