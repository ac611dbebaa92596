"""The cheap-call paths of issue 15: propagate's plan cache, Query.run's fast seed paths, light
results and propagate_many's index rows; every one bit-identical to the general path."""

from __future__ import annotations

import gc
import json
import pickle
import weakref

import numpy as np
import pytest
import scipy.sparse as sp
from helpers import assert_same_results, csr_graph, demo_seed_sets

import clematis
import clematis.api
from clematis.parity import identical


def test_a_cached_plan_gives_the_same_results_and_keeps_no_graph_alive():
    indptr, indices, weights, *_ = csr_graph(50, 300, seed=2)
    graph = clematis.ConceptGraph.from_csr(sp.csr_array((weights, indices, indptr), shape=(50, 50)))
    first = clematis.propagate(graph, [0, 3], queue_budget=300)
    again = clematis.propagate(graph, [0, 3], queue_budget=300)
    assert identical(first, again)
    assert identical(first, clematis.Query(graph, queue_budget=300).run([0, 3]))
    ref = weakref.ref(graph)
    del first, again, graph
    gc.collect()
    assert ref() is None


def test_the_cache_keeps_only_recent_parameter_sets(demo_graph):
    for budget in range(1, clematis.api.PLANS_PER_GRAPH + 5):
        clematis.propagate(demo_graph, [0], queue_budget=budget)
    assert len(clematis.api._plans[demo_graph]) == clematis.api.PLANS_PER_GRAPH


@pytest.mark.parametrize(("params", "error"), [({"radius_cap": True}, TypeError),
                                                ({"radius_cap": 1.0}, TypeError),
                                                ({"node_budget": np.array([1.0])}, TypeError)])
def test_the_cache_does_not_let_a_bad_value_pass_as_a_good_one(demo_graph, params, error):
    clematis.propagate(demo_graph, [0], radius_cap=1, node_budget=1.0)
    with pytest.raises(error):
        clematis.propagate(demo_graph, [0], **params)


@pytest.mark.native
def test_the_cache_follows_the_backend_environment(monkeypatch, demo_graph):
    monkeypatch.setenv("CLEMATIS_NATIVE_T1", "0")
    assert clematis.propagate(demo_graph, [0], queue_budget=300).backend == "python"
    monkeypatch.setenv("CLEMATIS_NATIVE_T1", "1")
    assert clematis.propagate(demo_graph, [0], queue_budget=300).backend == "native"


@pytest.mark.parametrize("backend", ["native", "python"])
@pytest.mark.parametrize("seeds", [[0, 5, 5], np.array([2, 7]), [np.int64(4)], (1, 2), ["garden:clematis"]])
def test_fast_seed_paths_match_the_general_one(demo_graph, backend, seeds):
    if backend == "native":
        pytest.importorskip("clematis._kernels._t1")
    query = clematis.Query(demo_graph, backend=backend, queue_budget=300)
    got = query.run(seeds)
    assert identical(got, query.run_validated(*query.seeds(seeds)))
    assert got.backend == backend


@pytest.mark.parametrize(("seeds", "error", "message"), [
    ([0, 10**9], ValueError, r"seed_nodes\[1\] = 1000000000 is out of range"),
    ([-1], ValueError, r"seed_nodes\[0\] = -1 is out of range"),
    ([True], TypeError, "seed_nodes must hold integers"),
    ([1.5], TypeError, "seed_nodes must hold integers"),
])
def test_fast_paths_keep_the_error_messages(demo_graph, seeds, error, message):
    with pytest.raises(error, match=message):
        clematis.propagate(demo_graph, seeds)


def test_results_are_read_only_and_metrics_lazy(demo_graph):
    result = clematis.propagate(demo_graph, [0], queue_budget=5)
    assert result.truncated
    with pytest.raises(AttributeError):
        result.nodes = np.zeros(0)
    assert result.metrics is result.metrics
    python = clematis.propagate(demo_graph, [0], queue_budget=5, backend="python")
    assert result.metrics == python.metrics and python.truncated


@pytest.mark.parametrize("workers", [1, 2])
def test_index_rows_batch_like_the_general_path(demo_graph, workers):
    rows = np.random.default_rng(3).integers(0, demo_graph.n_nodes, size=(40, 3))
    expected = [clematis.propagate(demo_graph, row.tolist(), queue_budget=300) for row in rows]
    assert_same_results(clematis.propagate_many(demo_graph, rows, workers=workers, queue_budget=300),
                        expected)
    assert_same_results(clematis.propagate_many(demo_graph, rows.tolist(), workers=workers, queue_budget=300),
                        expected)
    mixed = demo_seed_sets(demo_graph, 10)
    assert_same_results(clematis.propagate_many(demo_graph, mixed, queue_budget=300),
                        [clematis.propagate_many(demo_graph, [s], queue_budget=300)[0] for s in mixed])


def test_a_bad_index_row_is_named(demo_graph):
    rows = np.zeros((5, 2), dtype=np.int64)
    rows[3, 1] = demo_graph.n_nodes
    with pytest.raises(ValueError, match=r"^seed_sets\[3\]: seed_nodes\[1\] = .* is out of range"):
        clematis.propagate_many(demo_graph, rows)
    with pytest.raises(ValueError, match=r"^seed_sets\[3\]: seed_nodes\[1\]"):
        clematis.propagate_many(demo_graph, rows.tolist())


@pytest.mark.native
def test_batch_results_read_their_counters_as_python_numbers(demo_graph):
    seed_sets = [[0], [1, 2], [3]]
    native = clematis.propagate_many(demo_graph, seed_sets, queue_budget=5, backend="native")
    python = clematis.propagate_many(demo_graph, seed_sets, queue_budget=5, backend="python")
    for result, reference in zip(native, python, strict=True):
        assert result.truncated is reference.truncated is True
        assert result.metrics == reference.metrics
        assert [type(v) for v in result.metrics.values()] == [type(v) for v in reference.metrics.values()]
        json.dumps(result.metrics)
    copy = pickle.loads(pickle.dumps(native[1]))
    assert identical(copy, python[1]) and copy.metrics == python[1].metrics


@pytest.mark.parametrize("rows", [[[0], [-1]], [[0], [True]], [[0], [np.int64(2)]], [[0], [2.0]]],
                         ids=["negative", "bool", "numpy-int", "float"])
def test_index_rows_leave_what_is_not_a_plain_index_to_the_general_path(demo_graph, rows):
    try:
        expected = [clematis.propagate(demo_graph, row, queue_budget=50) for row in rows]
    except (TypeError, ValueError) as exc:
        with pytest.raises(type(exc), match=r"^seed_sets\[1\]: "):
            clematis.propagate_many(demo_graph, rows, queue_budget=50)
    else:
        assert_same_results(clematis.propagate_many(demo_graph, rows, queue_budget=50), expected)
