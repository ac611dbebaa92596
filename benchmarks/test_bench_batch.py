"""propagate_many throughput: 1 vs 2 worker threads on a 1M-node graph; both backends on a small case.

Run with ``make bench`` (or ``pytest benchmarks/test_bench_batch.py --benchmark-group-by=group``);
the ratio of the two native rows is the thread scaling (see also ``batch_scaling.py``).
"""

from __future__ import annotations

import numpy as np
import pytest
from t1_workloads import uniform_graph

import clematis
from clematis.datasets import load_demo_graph

QUERIES = 400


@pytest.fixture(scope="module")
def large_graph() -> clematis.ConceptGraph:
    return uniform_graph(1_000_000, 6, seed=7)


@pytest.fixture(scope="module")
def demo_graph() -> clematis.ConceptGraph:
    return load_demo_graph()


@pytest.mark.benchmark(group=f"propagate_many: {QUERIES} queries of 3 seeds, 1M nodes, native")
@pytest.mark.parametrize("workers", [1, 2])
def test_many_small_queries(benchmark, large_graph, workers):
    seed_sets = np.random.default_rng(11).integers(0, large_graph.n_nodes, (QUERIES, 3))
    clematis.propagate_many(large_graph, seed_sets[:50], workers=workers)  # scratch spaces warm
    results = benchmark.pedantic(clematis.propagate_many, args=(large_graph, seed_sets),
                                 kwargs={"workers": workers}, rounds=3, iterations=1)
    assert len(results) == QUERIES


@pytest.mark.benchmark(group="propagate_many: 40 queries on the demo graph, queue_budget 300")
@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("backend", ["python", "native"])
def test_backends_on_a_small_case(benchmark, demo_graph, backend, workers):
    seed_sets = [[i, i + 1] for i in range(0, 80, 2)]
    results = benchmark(clematis.propagate_many, demo_graph, seed_sets, workers=workers, backend=backend,
                        queue_budget=300)
    assert {r.backend for r in results} == {backend}
