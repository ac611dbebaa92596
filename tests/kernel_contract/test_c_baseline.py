"""The C speed baseline of ``benchmarks/`` runs the same algorithm as clematis (same bits).

The benchmarks compare clematis with ``benchmarks/c_baseline``; these tests prove the two
compute the same thing, so the comparison is between two implementations of one algorithm.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from c_baseline import CBaseline, build_library, compiler
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from t1_workloads import first_seeds, smoke_graph

from clematis import ConceptGraph
from clematis.api import Query

pytestmark = pytest.mark.skipif(compiler() is None,
                                reason="no C compiler (gcc or $CC) to build the benchmark baseline")

SEED_WEIGHTS = st.sampled_from([-1.0, -0.5, 0.0, 0.25, 0.5, 1.0, 0.7])
# Few distinct values make priority ties likely. Walks are not bounded by the radius (it caps the
# smallest known distance), so the work must fade instead: out-degree <= 2 and
# |weight * multiplier * decay| <= 0.3 keep every query small.
EDGE_WEIGHTS = st.sampled_from([-0.5, -0.25, 0.0, 0.25, 0.5, 0.35])


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    return build_library(tmp_path_factory.mktemp("c_baseline"))


@pytest.fixture(scope="module")
def smoke():
    return smoke_graph()


@pytest.mark.parametrize("k", [1, 4])
def test_smoke_graph_matches_native(library, smoke, k, assert_identical, native_required):
    plan = Query(smoke, backend="native", queue_budget=0)
    native = plan.run_validated(*plan.seeds(first_seeds(k)))
    with CBaseline(library, smoke.n_nodes) as baseline:
        got = baseline.prepare(plan, first_seeds(k))()
    assert native.metrics["pops"] > k  # the query really propagated
    assert_identical(got, (native.nodes, native.values, native.metrics))


def test_prepared_query_is_reusable(library, smoke, assert_identical):
    plan = Query(smoke, backend="python", queue_budget=0)
    expected = plan.run_validated(*plan.seeds([5, 7], [1.0, -0.5]))
    with CBaseline(library, smoke.n_nodes) as baseline:
        query = baseline.prepare(plan, [5, 7], [1.0, -0.5])
        first = query()
        assert_identical(query(), first)  # the workspace was left idle
    assert_identical(first, (expected.nodes, expected.values, expected.metrics))


def test_tie_on_priority_pops_by_key_rank(library, assert_identical):
    # Two seeds of equal weight pointing at each other; ids make node 1 ("a") rank before node 0
    # ("b"). Node 1 pops first and pushes node 0 to 1 + 0.6 >= 1.5 (a budget hit, not queued);
    # then node 0 pops over budget (a second hit) and is not expanded.
    graph = ConceptGraph.from_csr(sp.csr_array(np.array([[0, 1], [1, 0]], dtype=np.float32)),
                                  node_ids=["b", "a"])
    plan = Query(graph, backend="python", queue_budget=0)
    with CBaseline(library, 2) as baseline:
        nodes, values, metrics = got = baseline.prepare(plan, [0, 1])()
    np.testing.assert_array_equal(nodes, [0, 1])
    expected = np.array([np.float32(1.0) + np.float32(0.6), 1.0], dtype=np.float32)
    np.testing.assert_array_equal(values.view(np.int32), expected.view(np.int32))
    assert (metrics["pops"], metrics["propagations"], metrics["node_budget_hits"]) == (2, 1, 2)
    reference = plan.run_validated(*plan.seeds([0, 1]))
    assert_identical(got, (reference.nodes, reference.values, reference.metrics))


def test_skip_threshold_is_compared_in_double(library):
    # float32(1e-8) < 1e-8 in double: a contribution of exactly float32(1e-8) is skipped,
    # while the seed holding float32(1e-8) passes the float32 output filter.
    graph = ConceptGraph.from_csr(sp.csr_array(np.array([[0, 1], [0, 0]], dtype=np.float32)))
    plan = Query(graph, backend="python", queue_budget=0, rate=1.0)
    with CBaseline(library, 2) as baseline:
        nodes, values, metrics = baseline.prepare(plan, [0], [1e-8])()
    np.testing.assert_array_equal(nodes, [0])
    assert values.view(np.int32)[0] == np.float32(1e-8).view(np.int32)
    assert (metrics["pops"], metrics["propagations"]) == (1, 0)


@st.composite
def graphs_and_queries(draw):
    n = draw(st.integers(1, 9))
    rows = [draw(st.lists(st.integers(0, n - 1), max_size=2)) for _ in range(n)]
    indptr = np.cumsum([0] + [len(r) for r in rows]).astype(np.int32)
    indices = np.array([v for r in rows for v in r], dtype=np.int32)
    m = indices.shape[0]
    weights = np.array(draw(st.lists(EDGE_WEIGHTS, min_size=m, max_size=m)), dtype=np.float32)
    rel_code = np.array(draw(st.lists(st.integers(0, 2), min_size=m, max_size=m)), dtype=np.int32)
    ids = draw(st.permutations([f"n{i:02d}" for i in range(n)]))
    graph = ConceptGraph.from_csr(sp.csr_array((weights, indices, indptr), shape=(n, n)),
                                  rel_code=rel_code, node_ids=ids)
    seeds = draw(st.lists(st.integers(0, n - 1), max_size=4))
    seed_weights = draw(st.lists(SEED_WEIGHTS, min_size=len(seeds), max_size=len(seeds)))
    params = {
        "radius_cap": draw(st.integers(0, 4)),
        "iter_cap_layers": draw(st.integers(0, 4)),
        "node_budget": draw(st.sampled_from([0.3, 1.0, 1.5, 4.0])),
        "rate": draw(st.sampled_from([0.6, 0.3])),
    }
    return graph, seeds, seed_weights, params


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=graphs_and_queries())
def test_matches_reference_on_tie_prone_graphs(library, assert_identical, case):
    graph, seeds, seed_weights, params = case
    plan = Query(graph, backend="python", **{"queue_budget": 0, **params})
    expected = plan.run_validated(*plan.seeds(seeds, seed_weights))
    with CBaseline(library, graph.n_nodes) as baseline:
        got = baseline.prepare(plan, seeds, seed_weights)()
    assert_identical(got, (expected.nodes, expected.values, expected.metrics))


@pytest.mark.parametrize("cap", ["frontier_cap", "visited_cap", "dedupe_window", "queue_budget",
                                 "relax_cap"])
def test_refuses_caps(library, smoke, cap):
    plan = Query(smoke, backend="python", **{"queue_budget": 0, cap: 3})
    with CBaseline(library, smoke.n_nodes) as baseline, pytest.raises(ValueError, match="perf-OFF"):
        baseline.prepare(plan, [0])


def test_refuses_a_graph_of_another_size(library, smoke):
    plan = Query(smoke, backend="python", queue_budget=0)
    with CBaseline(library, smoke.n_nodes + 1) as baseline, pytest.raises(ValueError, match="workspace"):
        baseline.prepare(plan, [0])
