"""propagate_many: order, bit-identity with one-by-one propagate, validation before work, progress."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import scipy.sparse as sp
from helpers import PARAM_SETS, assert_same_results, demo_seed_sets, one_by_one, smoke_graph

import clematis
import clematis._kernel_calls
import clematis._platform
import clematis.api
import clematis.batch
from clematis._kernel_calls import workspaces_for
from clematis._kernels import _t1
from clematis._params import T1Params

CONTRACT = T1Params.build("contract", decay="exp_floor", rate=0.6, floor=0.05, radius_cap=4,
                          iter_cap_layers=50, node_budget=1.5)


@pytest.fixture(scope="module")
def big_graph() -> clematis.ConceptGraph:
    return smoke_graph()


@pytest.mark.parametrize("params", list(PARAM_SETS.values()), ids=list(PARAM_SETS))
@pytest.mark.parametrize("workers", [1, 2, 0])
@pytest.mark.parametrize("backend", ["native", "python"])
def test_bit_identical_to_one_by_one(demo_graph, backend, workers, params):
    seed_sets = demo_seed_sets(demo_graph, 60 if backend == "native" else 25)
    got = clematis.propagate_many(demo_graph, seed_sets, workers=workers, backend=backend, **params)
    assert_same_results(got, one_by_one(demo_graph, seed_sets, backend=backend, **params))
    assert {r.backend for r in got} == {backend}


@pytest.mark.parametrize("workers", [1, 2])
def test_bit_identical_on_a_larger_graph(big_graph, workers):
    rng = np.random.default_rng(3)
    seed_sets = [rng.integers(0, big_graph.n_nodes, int(k)) for k in rng.integers(0, 6, 150)]
    got = clematis.propagate_many(big_graph, seed_sets, workers=workers, frontier_cap=64)
    assert sum(len(r) for r in got) > 10_000  # the kernel's output buffer grew many times
    assert_same_results(got, one_by_one(big_graph, seed_sets, frontier_cap=64))


def test_int64_graph_keeps_its_index_dtype():
    n = 300
    rng = np.random.default_rng(8)
    indptr = np.arange(0, 4 * n + 1, 4, dtype=np.int64)
    matrix = sp.csr_array((rng.uniform(0.2, 1.0, 4 * n), rng.integers(0, n, 4 * n).astype(np.int64), indptr),
                          shape=(n, n))
    graph = clematis.ConceptGraph.from_csr(matrix)
    assert graph.arrays.indptr.dtype == np.int64
    seed_sets = [rng.integers(0, n, 3) for _ in range(40)]
    got = clematis.propagate_many(graph, seed_sets, workers=2, queue_budget=500)
    assert {r.nodes.dtype for r in got} == {np.dtype(np.int64)}
    assert_same_results(got, one_by_one(graph, seed_sets, queue_budget=500))


def test_results_follow_input_order(big_graph):
    order = np.random.default_rng(1).permutation(big_graph.n_nodes)[:500]
    got = clematis.propagate_many(big_graph, [[int(i)] for i in order], workers=2, radius_cap=0)
    assert [r.nodes.tolist() for r in got] == [[int(i)] for i in order]


def test_accepts_any_iterable_and_empty_input(demo_graph):
    assert clematis.propagate_many(demo_graph, []) == []
    assert clematis.propagate_many(demo_graph, iter([])) == []
    seed_sets = demo_seed_sets(demo_graph, 12)
    got = clematis.propagate_many(demo_graph, (s for s in seed_sets), workers=2, queue_budget=500)
    assert_same_results(got, one_by_one(demo_graph, seed_sets, queue_budget=500))


def test_an_empty_seed_set_gives_an_empty_result(demo_graph):
    (result,) = clematis.propagate_many(demo_graph, [[]])
    assert len(result) == 0
    assert set(result.metrics.values()) == {0}
    assert result.metrics == clematis.propagate(demo_graph, []).metrics


@pytest.mark.parametrize(("n_queries", "n_workers"), [(0, 2), (1, 2), (7, 1), (1000, 2), (5000, 3)])
def test_chunks_cover_the_batch_and_shrink_towards_the_end(n_queries, n_workers):
    bounds = clematis.batch.guided_bounds(n_queries, n_workers)
    assert [q for start, stop in bounds for q in range(start, stop)] == list(range(n_queries))
    sizes = [stop - start for start, stop in bounds]
    assert all(1 <= size <= clematis.batch.MAX_CHUNK for size in sizes)
    assert sizes == sorted(sizes, reverse=True)
    assert not sizes or sizes[-1] == 1


def test_workers_zero_uses_every_visible_cpu(big_graph, monkeypatch):
    sizes = []
    real = clematis._kernel_calls.ThreadPoolExecutor

    def recording(max_workers, **kwargs):
        sizes.append(max_workers)
        return real(max_workers, **kwargs)

    monkeypatch.setattr(clematis._kernel_calls, "ThreadPoolExecutor", recording)
    clematis.propagate_many(big_graph, [[i] for i in range(400)], radius_cap=1)
    cpus = clematis._platform.available_cpus()
    assert sizes == ([cpus] if cpus > 1 else [])
    clematis.propagate_many(big_graph, [[i] for i in range(400)], workers=3, radius_cap=1)
    assert sizes[-1] == 3


@pytest.mark.parametrize(("seed_sets", "error", "message"), [
    ([["garden:clematis"], ["x"]], ValueError, r"^seed_sets\[1\]: seed_nodes\[0\]: unknown node id .x."),
    ([[0], [1], {0: 1.0, 2: float("nan")}], ValueError, r"^seed_sets\[2\]: seed_weights must be finite"),
    ([[0], ([0, 1], [1.0, np.inf])], ValueError, r"^seed_sets\[1\]: seed_weights must be finite"),
    ([[0], ([0, 1], [1.0])], ValueError, r"^seed_sets\[1\]: seed_weights must have one entry per seed"),
    ([[0], [1], [2], [9999]], ValueError, r"^seed_sets\[3\]: .*9999 is out of range"),
    ([[0], "garden:clematis"], TypeError, r"^seed_sets\[1\]: seed_nodes must be a sequence"),
    ([[0], [1.5]], TypeError, r"^seed_sets\[1\]: seed_nodes must hold integers"),
    ("c1", TypeError, "seed_sets must be an iterable of seed sets"),
    ({"c1": 1.0}, TypeError, "seed_sets must be an iterable of seed sets"),
])
def test_bad_query_raises_before_any_work(demo_graph, monkeypatch, seed_sets, error, message):
    calls = []
    monkeypatch.setattr(clematis.api.QueryPlan, "run_batch_output", lambda *args: calls.append(args))
    with pytest.raises(error, match=message):
        clematis.propagate_many(demo_graph, seed_sets, workers=2)
    assert calls == []


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"workers": -1}, ValueError, "workers must be >= 0"),
    ({"workers": 1.5}, TypeError, "workers must be an integer"),
    ({"backend": "gpu"}, ValueError, "backend must be one of"),
    ({"radius": 3}, TypeError, "unknown T1 parameter"),
    ({"node_budget": 0}, ValueError, "node_budget must be > 0"),
])
def test_bad_arguments(demo_graph, kwargs, error, message):
    with pytest.raises(error, match=message):
        clematis.propagate_many(demo_graph, [[0]], **kwargs)


def test_graph_must_be_a_concept_graph():
    with pytest.raises(TypeError, match="graph must be a ConceptGraph"):
        clematis.propagate_many(sp.eye(3, format="csr"), [[0]])


def test_progress_bar_only_when_asked(demo_graph, capsys):
    seed_sets = [[i] for i in range(40)]
    clematis.propagate_many(demo_graph, seed_sets, workers=2, queue_budget=50)
    assert capsys.readouterr().err == ""
    clematis.propagate_many(demo_graph, seed_sets, workers=2, progress=True, queue_budget=50)
    err = capsys.readouterr().err
    assert "propagate_many" in err and "40/40" in err


def test_kernel_refuses_inconsistent_seed_offsets(demo_graph):
    a = demo_graph.arrays
    workspace = _t1.Workspace(demo_graph.n_nodes)
    decay = np.ones(5, np.float32)
    nodes = np.array([0, 1, 2], a.indptr.dtype)
    weights = np.ones(3, np.float32)
    for ptr in ([0, 2], [1, 3], [0, 2, 1, 3]):
        with pytest.raises(ValueError, match="seed_ptr"):
            _t1.propagate_batch(a.indptr, a.indices, a.weights, a.rel_code, a.rel_table, a.tie_pos,
                                a.node_of_pos, np.array(ptr, np.int64), nodes, weights, decay, workspace,
                                CONTRACT.record(_t1.PARAMS_DTYPE))


def test_kernel_runs_a_batch_of_no_queries(demo_graph):
    a = demo_graph.arrays
    nodes, values, offsets, counters = _t1.propagate_batch(
        a.indptr, a.indices, a.weights, a.rel_code, a.rel_table, a.tie_pos, a.node_of_pos,
        np.zeros(1, np.int64), np.zeros(0, a.indptr.dtype), np.zeros(0, np.float32), np.ones(5, np.float32),
        _t1.Workspace(demo_graph.n_nodes), CONTRACT.record(_t1.PARAMS_DTYPE))
    assert (nodes.shape, values.shape, offsets.tolist(), counters.shape) == ((0,), (0,), [0], (0,))


def test_concept_graph_pickles_without_its_scratch_state(demo_graph):
    assert demo_graph.label_scan_order  # computed and cached: must not travel with the pickle
    copy = pickle.loads(pickle.dumps(demo_graph))
    for name, original in vars(demo_graph.arrays).items():
        restored = getattr(copy.arrays, name)
        assert restored.dtype == original.dtype and restored.tobytes() == original.tobytes(), name
        assert not restored.flags.writeable, name
    assert (copy.node_ids, copy.labels, copy.relations, copy.relation_multipliers) == (
        demo_graph.node_ids, demo_graph.labels, demo_graph.relations, demo_graph.relation_multipliers)
    assert "label_scan_order" not in vars(copy)
    assert copy.label_scan_order == demo_graph.label_scan_order
    assert workspaces_for(copy.arrays) is not workspaces_for(demo_graph.arrays)
    assert copy.index_of(demo_graph.node_ids[7]) == 7
    seed_sets = demo_seed_sets(demo_graph, 10)
    got = clematis.propagate_many(copy, seed_sets, queue_budget=500)
    expected = one_by_one(demo_graph, seed_sets, queue_budget=500)
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_array_equal(a.nodes, b.nodes)
        np.testing.assert_array_equal(a.values.view(np.int32), b.values.view(np.int32))
        assert a.metrics == b.metrics
