"""The native queue (the bucket queue of ``clematis/_kernels/_radix_queue.pxd``) pops in exact
§5 order on workloads that reach every one of its paths: top buckets above the heaping threshold
that are spread over sub-buckets, long runs of equal |c| (the tie order then decides), entries
pushed at or below the range being popped (gains of 1 and above), and a queue budget that cuts
the order anywhere, so any entry popped out of turn changes the bits or the metrics.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from helpers import identical

import clematis
from clematis.t1 import propagate_one_graph

COMMON = dict(rate=0.9, floor=0.0, radius_cap=3, iter_cap_layers=3, node_budget=1e30)


def hub_graph(leaves: int, seed: int, *, back_weight: float):
    """Node 0 points at ``leaves`` leaves whose weights spread over 20 binades, with many exact
    repeats; each leaf points back at the hub with ``back_weight`` and at its neighbour."""
    rng = np.random.default_rng(seed)
    n = leaves + 1
    mantissas = rng.choice([1.0, 1.25, 1.5, 1.75], leaves) if seed % 2 else rng.uniform(1, 2, leaves)
    hub_weights = (mantissas * 2.0 ** -rng.integers(0, 20, leaves)).astype(np.float32)
    src = np.concatenate([np.zeros(leaves, np.int64), np.repeat(np.arange(1, n), 2)])
    dst = np.concatenate([np.arange(1, n), np.column_stack([np.zeros(leaves, np.int64),
                                                            np.arange(2, n + 1) % n]).ravel()])
    weights = np.concatenate([hub_weights, np.tile(np.float32([back_weight, 0.5]), leaves)])
    indptr = np.zeros(n + 1, np.int32)
    np.cumsum(np.bincount(src, minlength=n), out=indptr[1:])
    order = np.argsort(src, kind="stable")
    m = src.shape[0]
    key_rank = rng.integers(0, 7, n).astype(np.int32)  # repeated ranks: ties fall through to the node
    return (indptr, dst[order].astype(np.int32), weights[order].astype(np.float32),
            np.zeros(m, np.int32), np.full(m, 1.0, np.float32)), key_rank


@pytest.mark.native
@pytest.mark.parametrize("back_weight", [0.25, 3.0], ids=["shrinking", "gain above 1"])
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("queue_budget", [700, 5_000, 40_000])
def test_hub_workloads_pop_in_exact_order(seed, back_weight, queue_budget):
    graph, key_rank = hub_graph(3000, seed, back_weight=back_weight)
    seeds = np.array([0, 0, 5], np.int64)
    weights = np.float32([1.0, -0.75, 2.0])
    runs = {backend: propagate_one_graph(*graph, seeds, weights, key_rank, backend=backend,
                                         queue_budget=queue_budget, **COMMON)
            for backend in ("python", "native")}
    assert runs["python"][2]["pops"] == queue_budget  # the budget, not an empty queue, ended it
    assert identical(runs["python"], runs["native"])


@pytest.mark.native
@pytest.mark.parametrize("seed", range(6))
def test_equal_contributions_keep_the_tie_order(seed):
    """Every contribution has the same |c| per distance: one key holds thousands of entries."""
    graph, key_rank = hub_graph(2000, seed, back_weight=1.0)
    graph = (*graph[:2], np.where(graph[2] != 0, np.float32(0.5), graph[2]).astype(np.float32), *graph[3:])
    runs = {backend: propagate_one_graph(*graph, np.array([0, 3, 3], np.int64),
                                         np.float32([1.0, 0.5, -0.5]), key_rank, backend=backend,
                                         queue_budget=2_500 + 100 * seed, **COMMON)
            for backend in ("python", "native")}
    assert identical(runs["python"], runs["native"])


def relay_graph(seeds: int):
    """Nodes ``0, 1, 2``, then ``seeds`` seed nodes: the first seed points at 0 and 0 at 1, every
    other seed at 2, all with weight 1."""
    n = seeds + 3
    src = np.array([0] + list(range(3, n)), np.int64)
    dst = np.array([1, 0] + [2] * (seeds - 1), np.int32)
    indptr = np.zeros(n + 1, np.int32)
    np.cumsum(np.bincount(src, minlength=n), out=indptr[1:])
    m = src.shape[0]
    return (indptr, dst, np.ones(m, np.float32), np.zeros(m, np.int32), np.ones(m, np.float32))


@pytest.mark.native
@pytest.mark.parametrize("seeds", [4, 65, 300, 5000])
def test_a_push_equal_to_the_popped_key_comes_before_the_other_ties(seeds):
    """Gain 1: popping the first seed queues node 0 with the same |c|, and node 0 sorts before
    every other seed, so it is the second pop (it activates node 1; a second seed, node 2).
    Below and above the queue's heaping threshold, where the popped range is one exact key."""
    graph = relay_graph(seeds)
    params = dict(rate=1.0, floor=1.0, radius_cap=3, iter_cap_layers=3, node_budget=1e30, queue_budget=2)
    key_rank = np.zeros(seeds + 3, np.int32)
    seed_nodes = np.arange(3, seeds + 3, dtype=np.int64)
    runs = {backend: propagate_one_graph(*graph, seed_nodes, np.ones(seeds, np.float32), key_rank,
                                         backend=backend, **params)
            for backend in ("python", "native")}
    nodes = runs["python"][0].tolist()
    assert 1 in nodes and 2 not in nodes  # the reference: node 0 popped second
    assert identical(runs["python"], runs["native"])


def star_graph(leaves: int) -> clematis.ConceptGraph:
    """Node 0 points at ``leaves`` leaves with weights inside one 1/16 binade (one top bucket,
    spread over the sub-buckets when the hub pops); each leaf points back at the hub."""
    weights = np.random.default_rng(7).uniform(0.5, 0.53, leaves).astype(np.float32)
    rows = np.concatenate([np.zeros(leaves, np.int64), np.arange(1, leaves + 1)])
    cols = np.concatenate([np.arange(1, leaves + 1), np.zeros(leaves, np.int64)])
    values = np.concatenate([weights, np.full(leaves, 0.25, np.float32)])
    return clematis.ConceptGraph.from_csr(sp.csr_array((values, (rows, cols)), shape=(leaves + 1,) * 2))


@pytest.mark.native
@pytest.mark.parametrize("queue_budget", [3, 40, 2_000])
def test_a_query_cut_inside_a_spread_bucket_leaves_the_workspace_clean(queue_budget):
    """The first query stops while sub-buckets of a spread bucket still hold entries; the next
    queries of the batch run on the same workspace and must not see them."""
    graph = star_graph(3000)
    seed_sets = [[0], [0, 17], [5], [0]]
    runs = {backend: clematis.propagate_many(graph, seed_sets, queue_budget=queue_budget, workers=1,
                                             backend=backend)
            for backend in ("python", "native")}
    assert runs["python"][0].truncated
    for native, python in zip(runs["native"], runs["python"], strict=True):
        assert identical(native, python)


def twin_seed_graph(seeds: int):
    """Seed ``i`` (nodes ``0 .. seeds-1``) points at its own sink ``seeds + i`` with weight 1."""
    n = 2 * seeds
    indptr = np.concatenate([np.arange(seeds + 1), np.full(seeds, seeds)]).astype(np.int32)
    indices = np.arange(seeds, n, dtype=np.int32)
    return (indptr, indices, np.ones(seeds, np.float32), np.zeros(seeds, np.int32),
            np.ones(seeds, np.float32))


@pytest.mark.native
@pytest.mark.parametrize("step", [1e-4, 3e-6, 1e-6],
                         ids=["two per sub-bucket", "about ten", "about thirty"])
@pytest.mark.parametrize("queue_budget", [0, 57])
def test_identical_entries_of_a_small_sub_bucket_all_pop(step, queue_budget):
    """Every seed is listed twice with the same weight: identical queue entries, one top bucket
    (|c| in [0.5, 0.53)) spread over sub-buckets small enough to be sorted rather than heaped
    (by rank, or by halves merged).
    An entry lost or duplicated there expands another row and changes a sink's value."""
    seeds = 150
    graph = twin_seed_graph(seeds)
    params = dict(rate=0.9, floor=0.0, radius_cap=3, iter_cap_layers=3, node_budget=1e30,
                  queue_budget=queue_budget)
    seed_nodes = np.repeat(np.arange(seeds, dtype=np.int64), 2)
    weights = np.repeat(np.float32(0.5) + np.float32(step) * np.arange(seeds, dtype=np.float32), 2)
    runs = {backend: propagate_one_graph(*graph, seed_nodes, weights, np.zeros(2 * seeds, np.int32),
                                         backend=backend, **params)
            for backend in ("python", "native")}
    assert runs["python"][2]["pops"] == (queue_budget or 4 * seeds)
    assert identical(runs["python"], runs["native"])
