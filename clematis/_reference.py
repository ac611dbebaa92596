"""The pure-Python reference of T1 propagation: docs/spec.md §2-§6 written as code.

Readable first. Every activation operation is a NumPy float32 scalar operation, so each one is
rounded to float32 exactly as in the Cython kernel, which must return the same bits. Each step
carries its docs/spec.md label (``# §3.2.4 node budget``); the kernel
(clematis/_kernels/_t1.pyx) carries the same labels, and docs/architecture.md maps them.
"""

from __future__ import annotations

import heapq
from collections import deque

import numpy as np

from ._metrics import shape_metrics
from ._params import T1Params
from ._validation import KernelArrays

# §2.3 thresholds
EPS = 1e-8  # contributions below this (compared in double) are skipped
OUTPUT_EPS = np.float32(1e-8)  # nodes below this (compared in float32) are left out of the output

CHECK_EVERY_POPS = 1024  # pops between two looks at the caller's cancellation (§3.2)


class _Queue:
    """The priority queue of docs/spec.md §5 with the caps of §4.1 and §4.2.

    Entries are tuples ``(-|c|, key_rank[node], node, c)``, so the smallest tuple pops first.
    """

    def __init__(self, key_rank: np.ndarray, params: T1Params) -> None:
        self.key_rank = key_rank
        self.frontier_cap = params.frontier_cap
        self.dedupe_window = params.dedupe_window
        self.heap: list[tuple] = []
        self.ring: deque[int] = deque()  # last accepted nodes, oldest first
        self.ring_counts: dict[int, int] = {}
        self.frontier_evicted = 0
        self.dedupe_hits = 0

    def __len__(self) -> int:
        return len(self.heap)

    def push(self, node: int, c: np.float32) -> None:
        # §4.1 dedupe window: a node still in the ring is dropped
        if self.dedupe_window and self.ring_counts.get(node, 0) > 0:
            self.dedupe_hits += 1
            return
        # §5 queue order
        entry = (-abs(float(c)), int(self.key_rank[node]), node, float(c))
        # §4.2 frontier cap
        if self.frontier_cap and len(self.heap) >= self.frontier_cap:
            # One entry too many: the last in queue order goes. A newcomer equal to the worst
            # entry already queued counts as last, so it is the one evicted.
            self.frontier_evicted += 1
            worst = max(self.heap)
            if entry >= worst:
                return
            self.heap.remove(worst)
            heapq.heapify(self.heap)
        heapq.heappush(self.heap, entry)
        # §4.1 dedupe window: only an entry that was really queued enters the ring
        if self.dedupe_window:
            self._remember(node)

    def _remember(self, node: int) -> None:
        if len(self.ring) == self.dedupe_window:
            oldest = self.ring.popleft()
            self.ring_counts[oldest] -= 1
        self.ring.append(node)
        self.ring_counts[node] = self.ring_counts.get(node, 0) + 1

    def pop(self) -> tuple[int, np.float32]:
        _, _, node, c = heapq.heappop(self.heap)
        return node, np.float32(c)


class _VisitedSet:
    """§4.3: nodes ordered by first insertion; adding one beyond the cap evicts the oldest."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.members: dict[int, None] = {}  # insertion-ordered
        self.evicted = 0

    def __contains__(self, node: int) -> bool:
        return node in self.members

    def add(self, node: int) -> None:
        if len(self.members) == self.cap:
            del self.members[next(iter(self.members))]
            self.evicted += 1
        self.members[node] = None


def propagate_reference(
    graph: KernelArrays,
    seed_nodes: np.ndarray,
    seed_weights: np.ndarray,
    decay: np.ndarray,
    params: T1Params,
    cancel=None,
) -> tuple[np.ndarray, np.ndarray, dict, bool]:
    """Run one query; inputs are already validated (docs/spec.md §1, see ``clematis.t1``).

    Returns ``(d_nodes, d_vals, metrics, truncated)``; ``truncated`` is True when the queue
    budget or the relax cap ended the loop with work left. ``cancel`` (an object with
    ``is_set()``, or None) is looked at every ``CHECK_EVERY_POPS`` pops: once set, the query
    stops with KeyboardInterrupt.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        return _propagate(graph, seed_nodes, seed_weights, decay, params, cancel)


def _propagate(graph, seed_nodes, seed_weights, decay, params, cancel):
    indptr, indices = graph.indptr, graph.indices
    weights, rel_mult = graph.weights, graph.multiplier  # rel_mult(e): §1, per edge or by relation
    budget = params.node_budget
    zero = np.float32(0.0)
    acc: dict[int, np.float32] = {}  # a sparse acc = zeros(n, float32)
    dist: dict[int, int] = {}  # a sparse dist = full(n, -1)
    queue = _Queue(graph.key_rank, params)
    visited = _VisitedSet(params.visited_cap) if params.visited_cap else None
    m = dict.fromkeys(("pops", "propagations", "radius_cap_hits", "layer_cap_hits",
                       "node_budget_hits"), 0)
    layers_processed = 0
    max_delta = 0.0

    # §3.1 seeds
    for s, w in zip(seed_nodes.tolist(), seed_weights, strict=True):
        acc[s] = acc.get(s, zero) + w
        dist[s] = 0
        max_delta = max(max_delta, float(abs(w)))
        queue.push(s, w)

    # §3.2 the loop: until the queue is empty, §4.4 queue budget spent or §4.5 relax cap reached;
    # interruptible between pops
    stopped = truncated = False
    while len(queue) and not stopped:
        if params.queue_budget and m["pops"] >= params.queue_budget:
            truncated = True
            break
        if cancel is not None and m["pops"] % CHECK_EVERY_POPS == 0 and cancel.is_set():
            raise KeyboardInterrupt("T1 query cancelled")
        # §3.2.1 pop
        u, c = queue.pop()
        m["pops"] += 1
        # §3.2.2 visited cap
        if visited is not None:
            if u in visited:
                continue
            visited.add(u)
        # §3.2.3 layer cap
        layer = max(dist.get(u, -1), 0)
        if layer > 0 and layer > layers_processed:
            layers_processed = layer
            if layers_processed > params.iter_cap_layers:
                continue
        # §3.2.4 node budget
        if abs(acc.get(u, zero)) >= budget:
            m["node_budget_hits"] += 1
            continue
        # §3.2.5 edge loop
        d = layer + 1
        end = int(indptr[u + 1])
        for e in range(int(indptr[u]), end):
            v = int(indices[e])
            # §3.2.5.1 radius cap
            if d > params.radius_cap:
                m["radius_cap_hits"] += 1
                continue
            # §3.2.5.2 layer cap
            if d > params.iter_cap_layers:
                m["layer_cap_hits"] += 1
                continue
            # §3.2.5.3 contribution (§2.1 order, §2.2 decay table)
            contrib = ((c * weights[e]) * rel_mult(e)) * decay[d]
            # §3.2.5.4 skip threshold
            if float(abs(contrib)) < EPS:
                continue
            # §3.2.5.5 accumulate
            acc[v] = acc.get(v, zero) + contrib
            m["propagations"] += 1
            max_delta = max(max_delta, float(abs(contrib)))
            # §3.2.5.6 distance
            if dist.get(v, -1) < 0 or d < dist[v]:
                dist[v] = d
            # §3.2.5.7 queue or budget hit
            if abs(acc[v]) < budget:
                queue.push(v, contrib)
            else:
                m["node_budget_hits"] += 1
            # §3.2.5.8 relax cap: truncated when edges of the row or queued entries remain
            if params.relax_cap and m["propagations"] >= params.relax_cap:
                stopped = True
                truncated = e + 1 < end or len(queue) > 0
                break

    # §3.3 output, with the §6 metrics
    out_dtype = indices.dtype
    kept = sorted(v for v, a in acc.items() if abs(a) >= OUTPUT_EPS)
    d_nodes = np.array(kept, dtype=out_dtype)
    d_vals = np.array([acc[v] for v in kept], dtype=np.float32)
    metrics = shape_metrics(
        **m, layers_processed=layers_processed, frontier_evicted=queue.frontier_evicted,
        dedupe_hits=queue.dedupe_hits, visited_evicted=visited.evicted if visited is not None else 0,
        max_delta=max_delta, iter_cap_layers=params.iter_cap_layers,
    )
    return d_nodes, d_vals, metrics, truncated


def decay_weights_reference(weights: np.ndarray, factor: np.float32, ticks: int) -> np.ndarray:
    """GEL (docs/spec.md §12): ``ticks`` elementwise float32 multiplications by ``factor`` (new array)."""
    out = np.array(weights, dtype=np.float32, copy=True)
    for _ in range(ticks):
        out = out * np.float32(factor)
    return out
