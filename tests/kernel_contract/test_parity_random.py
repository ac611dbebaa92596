"""Native vs Python on random inputs: same node ids, same float32 bits, same metrics.

``make test`` runs a fixed (derandomized) set of examples; ``make parity-sweep`` runs many more,
randomized, including the slow large-graph sweep.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
import scipy.sparse as sp
from helpers import csr_graph, identical, smoke_graph
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import clematis
from clematis.t1 import propagate_one_graph

SWEEP = int(os.environ.get("CLEMATIS_PARITY_EXAMPLES", "0"))
PARITY_SETTINGS = settings(
    max_examples=SWEEP or 300,
    derandomize=not SWEEP,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

TIE_PRONE = [0.0, 0.25, 0.5, 1.0, -0.5, -1.0, 2.0]
floats32 = st.floats(-1.0, 1.0, width=32, allow_subnormal=False)
weight = st.one_of(st.sampled_from(TIE_PRONE), floats32)


@st.composite
def problems(draw):
    """A random graph, seeds and parameters; work stays bounded (a budget, or a sparse DAG)."""
    n = draw(st.integers(0, 24))
    dag = draw(st.booleans())
    m = draw(st.integers(0, (2 * n if dag else 4 * n) if n > 1 else 0))
    src = sorted(draw(st.lists(st.integers(0, max(n - 2, 0)), min_size=m, max_size=m)))
    if dag:
        dst = [draw(st.integers(s + 1, n - 1)) for s in src]
    else:
        dst = draw(st.lists(st.integers(0, max(n - 1, 0)), min_size=m, max_size=m))
    index_dtype = draw(st.sampled_from([np.int32, np.int64]))
    indptr = np.zeros(n + 1, dtype=index_dtype)
    if n:
        np.cumsum(np.bincount(np.array(src, dtype=np.int64), minlength=n), out=indptr[1:])
    weights = np.array(draw(st.lists(weight, min_size=m, max_size=m)), dtype=np.float32)
    rel_mult = np.array(draw(st.lists(st.sampled_from([1.0, 0.8, 0.6, 0.5]), min_size=m, max_size=m)),
                        dtype=np.float32)
    if draw(st.booleans()):
        key_rank = np.array(draw(st.permutations(range(n))), dtype=np.int32)
    else:  # repeated ranks: ties fall through to the node id
        key_rank = np.array(draw(st.lists(st.integers(0, 2), min_size=n, max_size=n)), dtype=np.int32)
    k = draw(st.integers(0, 6)) if n else 0
    seed_nodes = np.array(draw(st.lists(st.integers(0, n - 1), min_size=k, max_size=k)) if k else [],
                          dtype=np.int64)
    seed_weights = np.array(draw(st.lists(st.one_of(st.sampled_from([1.0, -1.0, 0.0, 0.5, 2.0]),
                                                    floats32), min_size=k, max_size=k)), dtype=np.float32)
    unbounded_ok = dag and m <= 3 * n // 2
    params = dict(
        rate=draw(st.one_of(st.sampled_from([0.0, 0.25, 0.5, 0.6, 1.0]), st.floats(0, 1))),
        floor=draw(st.sampled_from([0.0, 0.05, 0.5])),
        radius_cap=draw(st.integers(0, 6)),
        iter_cap_layers=draw(st.integers(0, 6)),
        node_budget=draw(st.sampled_from([0.25, 1.0, 1.5, 3.0, 100.0])),
        frontier_cap=draw(st.sampled_from([0, 0, 1, 2, 5, 20])),
        visited_cap=draw(st.sampled_from([0, 0, 1, 3, 10])),
        dedupe_window=draw(st.sampled_from([0, 0, 1, 2, 8])),
        queue_budget=draw(st.sampled_from([0] if unbounded_ok else [1]) | st.integers(1, 3000)),
        relax_cap=draw(st.sampled_from([0, 0, 1, 10, 100])),
    )
    graph = (indptr, np.array(dst, dtype=index_dtype), weights, np.zeros(m, np.int32), rel_mult)
    return graph, seed_nodes, seed_weights, key_rank, params


@pytest.mark.native
@PARITY_SETTINGS
@given(problems())
def test_random_problems_are_bit_identical(problem):
    graph, seed_nodes, seed_weights, key_rank, params = problem
    python = propagate_one_graph(*graph, seed_nodes, seed_weights, key_rank, backend="python", **params)
    native = propagate_one_graph(*graph, seed_nodes, seed_weights, key_rank, backend="native", **params)
    assert identical(python, native), (python, native)


@st.composite
def coded_problems(draw):
    """A problem of :func:`problems` as a ConceptGraph: every edge one of 3, 256 (uint8 codes), 257
    or 300 (uint16) relations, each with its own multiplier."""
    (indptr, indices, weights, _, _), seed_nodes, seed_weights, _, params = draw(problems())
    n, m = indptr.shape[0] - 1, indices.shape[0]
    n_relations = draw(st.sampled_from([3, 256, 257, 300]))
    codes = np.array(draw(st.lists(st.integers(0, n_relations - 1), min_size=m, max_size=m)), np.int64)
    pool = draw(st.lists(st.one_of(st.sampled_from([1.0, 0.8, 0.6, 0.5, -0.7]), floats32), min_size=1,
                         max_size=6))
    relations = [f"r{i}" for i in range(n_relations)]
    multipliers = {r: pool[i % len(pool)] for i, r in enumerate(relations)}
    graph = clematis.ConceptGraph.from_csr(sp.csr_array((weights, indices, indptr), shape=(n, n)),
                                           rel_code=codes, relations=relations,
                                           relation_multipliers=multipliers)
    return graph, seed_nodes, seed_weights, params


@pytest.mark.native
@PARITY_SETTINGS
@given(coded_problems())
def test_table_multipliers_give_the_bits_of_per_edge_multipliers(problem):
    """A graph's multiplier of edge e is rel_table[rel_code[e]] (uint8 or uint16 codes) on both
    backends: the bits of the raw contract given rel_mult[e] per edge."""
    graph, seed_nodes, seed_weights, params = problem
    a = graph.arrays
    assert a.rel_code.dtype == (np.uint8 if len(graph.relations) <= 256 else np.uint16)
    per_edge = propagate_one_graph(a.indptr, a.indices, a.weights, a.rel_code, a.rel_mult, seed_nodes,
                                   seed_weights, a.key_rank, backend="python", **params)
    for backend in ("python", "native"):
        coded = clematis.propagate(graph, seed_nodes, seed_weights, backend=backend, **params)
        assert identical(per_edge, (coded.nodes, coded.values, coded.metrics)), backend


@pytest.mark.native
@PARITY_SETTINGS
@given(problems(), st.sampled_from(["python", "native"]))
def test_caps_that_never_bind_equal_perf_off(problem, backend):
    """A frontier cap above the queue length never evicts: the min-max heap must pop in the same
    order as the plain heap; and every cap at 0 is exactly perf-OFF."""
    graph, seed_nodes, seed_weights, key_rank, params = problem
    perf_off = {k: v for k, v in params.items()
                if k not in ("frontier_cap", "visited_cap", "dedupe_window")}
    off = propagate_one_graph(*graph, seed_nodes, seed_weights, key_rank, backend=backend, **perf_off)
    zeros = propagate_one_graph(*graph, seed_nodes, seed_weights, key_rank, backend=backend,
                                **{**perf_off, "frontier_cap": 0, "visited_cap": 0, "dedupe_window": 0})
    wide = propagate_one_graph(*graph, seed_nodes, seed_weights, key_rank, backend=backend,
                               **{**perf_off, "frontier_cap": 10**9})
    assert identical(off, zeros)
    assert identical(off, wide)


@pytest.mark.native
def test_perf_smoke_graph_four_seeds_is_bit_identical():
    graph = smoke_graph()
    python = clematis.propagate(graph, range(4), backend="python", queue_budget=0)
    native = clematis.propagate(graph, range(4), backend="native", queue_budget=0)
    assert python.metrics["pops"] > 10_000  # a real workload, not a trivial one
    assert identical((python.nodes, python.values, python.metrics),
                     (native.nodes, native.values, native.metrics))


@pytest.mark.native
@pytest.mark.parametrize("decay", [dict(decay="attn_quad", alpha=0.8), dict(decay="exp_floor", rate=0.9)])
def test_demo_graph_decay_modes_are_bit_identical(demo_graph, decay):
    seeds = ["garden:clematis", "weather:storm", "emotion:hope"]
    common = dict(queue_budget=10_000, frontier_cap=500, dedupe_window=16, **decay)
    python = clematis.propagate(demo_graph, seeds, backend="python", **common)
    native = clematis.propagate(demo_graph, seeds, backend="native", **common)
    assert python.metrics["pops"] > 1_000 and python.metrics["frontier_evicted"] > 0
    assert identical((python.nodes, python.values, python.metrics),
                     (native.nodes, native.values, native.metrics))


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(40))
def test_sweep_larger_random_graphs(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(50, 400))
    arrays = csr_graph(n, int(rng.integers(0, 8 * n)), seed, index_dtype=[np.int32, np.int64][seed % 2],
                       low=-1.0, high=1.0)
    key_rank = rng.integers(0, n // 3 + 1, n).astype(np.int32)
    seeds = rng.integers(0, n, int(rng.integers(1, 30)))
    params = dict(rate=0.6, floor=0.05, radius_cap=int(rng.integers(0, 8)), iter_cap_layers=50,
                  node_budget=1.5, queue_budget=int(rng.integers(1, 30_000)),
                  frontier_cap=int(rng.choice([0, 8, 256])), visited_cap=int(rng.choice([0, 32])),
                  dedupe_window=int(rng.choice([0, 4, 64])), relax_cap=int(rng.choice([0, 5000])))
    python = propagate_one_graph(*arrays[:5], seeds, None, key_rank, backend="python", **params)
    native = propagate_one_graph(*arrays[:5], seeds, None, key_rank, backend="native", **params)
    assert identical(python, native)
