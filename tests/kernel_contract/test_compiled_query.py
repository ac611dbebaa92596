"""The compiled query (``_t1.CompiledQuery``): the same bits as ``propagate_batch``, from arrays,
from lists of ints and in batches, on int32 and int64 graphs; refusals of what it cannot hold."""

from __future__ import annotations

import pathlib
import shutil
import sys

import numpy as np
import pytest
import scipy.sparse as sp
from helpers import PARAM_SETS, csr_graph

import clematis
from clematis._kernel_calls import COUNTER_NAMES, compile_query, run_batch, workspaces_for
from clematis._params import T1Params
from clematis.parity import identical

pytestmark = pytest.mark.native
_t1 = pytest.importorskip("clematis._kernels._t1")


def test_counter_names_are_the_kernel_fields():
    assert _t1.COUNTERS_DTYPE.names == COUNTER_NAMES


@pytest.fixture(params=[np.int32, np.int64], ids=["int32", "int64"])
def graph(request) -> clematis.ConceptGraph:
    indptr, indices, weights, *_ = csr_graph(300, 2400, seed=4, index_dtype=request.param)
    return clematis.ConceptGraph.from_csr(sp.csr_array((weights, indices, indptr), shape=(300, 300)))


def seed_sets(n: int, count: int, seed: int) -> list[list[int]]:
    rng = np.random.default_rng(seed)
    return [rng.choice(n, size=int(rng.integers(0, 5)), replace=True).tolist() for _ in range(count)]


@pytest.mark.parametrize("params", list(PARAM_SETS.values()), ids=list(PARAM_SETS))
def test_every_entry_point_gives_the_bits_of_propagate_batch(graph, params):
    plan = clematis.Query(graph, backend="native", **params).plan
    compiled = compile_query(graph.arrays, plan.decay, plan.params)
    sets = seed_sets(graph.n_nodes, 12, seed=len(params))
    index_dtype = graph.arrays.indptr.dtype
    nodes = np.array([s for row in sets for s in row], dtype=index_dtype)
    weights = np.linspace(-0.5, 1.5, nodes.shape[0]).astype(np.float32)
    ptr = np.cumsum([0] + [len(row) for row in sets]).astype(np.int64)
    expected = run_batch(graph.arrays, ptr, nodes, weights, plan.decay, plan.params, "native")
    with workspaces_for(graph.arrays).acquire() as workspace:
        d_nodes, d_vals, offsets, counters = compiled.run_batch(ptr, nodes, weights, workspace)
        for q, output in enumerate(expected):
            a, b = offsets[q], offsets[q + 1]
            batched = clematis.T1Result.from_counters(d_nodes[a:b], d_vals[a:b], counters[q].tolist(),
                                                      plan.params.iter_cap_layers, "native", graph)
            single = compiled.run(nodes[ptr[q]:ptr[q + 1]], weights[ptr[q]:ptr[q + 1]], workspace)
            single = clematis.T1Result.from_counters(*single, plan.params.iter_cap_layers, "native", graph)
            want = (output.nodes, output.values, output.metrics)
            assert identical(want, batched) and identical(want, single), f"query {q}"
            assert batched.truncated == single.truncated == output.truncated
        for row in sets:
            listed = compiled.run_indices(row, workspace)
            ones = np.ones(len(row), dtype=np.float32)
            direct = compiled.run(np.array(row, dtype=index_dtype), ones, workspace)
            assert listed[0].dtype == direct[0].dtype == index_dtype
            assert np.array_equal(listed[0], direct[0]) and listed[2] == direct[2]
            assert np.array_equal(listed[1].view(np.uint32), direct[1].view(np.uint32))


@pytest.mark.parametrize("row", [[0, 300], [-1], [True], [1.0], [np.int64(3)], [2**70]])
def test_run_indices_declines_what_it_does_not_take(graph, row):
    plan = clematis.Query(graph, backend="native").plan
    compiled = compile_query(graph.arrays, plan.decay, plan.params)
    with workspaces_for(graph.arrays).acquire() as workspace:
        assert compiled.run_indices(row, workspace) is None


def test_arrays_of_another_dtype_are_refused_not_converted(graph):
    a = graph.arrays
    params = T1Params.build("user").record(_t1.PARAMS_DTYPE)
    decay = np.ones(5, dtype=np.float32)
    with pytest.raises(TypeError, match="weights must be a float32 array"):
        _t1.CompiledQuery(a.indptr, a.indices, a.weights.astype(np.float64), a.rel_code, a.rel_table,
                          a.tie_pos, a.node_of_pos, decay, params)
    with pytest.raises(TypeError, match="indices must be"):
        _t1.CompiledQuery(a.indptr, a.indices.astype(np.int16), a.weights, a.rel_code, a.rel_table,
                          a.tie_pos, a.node_of_pos, decay, params)
    for rel in (a.rel_code.astype(np.int32), a.rel_mult.astype(np.float64)):
        with pytest.raises(TypeError, match="rel must be a float32 rel_mult or a uint8 or uint16 rel_code"):
            _t1.CompiledQuery(a.indptr, a.indices, a.weights, rel, a.rel_table, a.tie_pos, a.node_of_pos,
                              decay, params)
    with pytest.raises(TypeError, match="rel_table must be a float32 array"):
        _t1.CompiledQuery(a.indptr, a.indices, a.weights, a.rel_code, a.rel_table.astype(np.float64),
                          a.tie_pos, a.node_of_pos, decay, params)
    compiled = _t1.CompiledQuery(a.indptr, a.indices, a.weights, a.rel_code, a.rel_table, a.tie_pos,
                                 a.node_of_pos, decay, params)
    other = np.int64 if a.indptr.dtype == np.int32 else np.int32
    with workspaces_for(a).acquire() as workspace, pytest.raises(TypeError, match="seed_nodes must be"):
        compiled.run(np.zeros(1, dtype=other), np.ones(1, dtype=np.float32), workspace)
    with pytest.raises(ValueError, match="workspace is for 7 nodes"):
        compiled.run_indices([0], _t1.Workspace(7))


def test_seed_arrays_of_another_dtype_or_layout_are_refused_by_name(graph):
    plan = clematis.Query(graph, backend="native").plan
    compiled = compile_query(graph.arrays, plan.decay, plan.params)
    dtype = graph.arrays.indptr.dtype
    nodes, weights, ptr = np.arange(2, dtype=dtype), np.ones(2, dtype=np.float32), np.array([0, 2])
    with workspaces_for(graph.arrays).acquire() as workspace:
        for bad in (weights.astype(np.float64), [1.0, 1.0], None):
            with pytest.raises(TypeError, match="^seed_weights must be a float32 array"):
                compiled.run(nodes, bad, workspace)
        with pytest.raises(TypeError, match="^seed_ptr must be a int64 array"):
            compiled.run_batch(ptr.astype(np.int32), nodes, weights, workspace)
        with pytest.raises(ValueError, match="^seed_nodes: .*contiguous"):
            compiled.run(np.arange(4, dtype=dtype)[::2], weights, workspace)
        with pytest.raises(ValueError, match="^seed_weights: .*contiguous"):
            compiled.run_batch(ptr, nodes, np.ones(4, dtype=np.float32)[::2], workspace)
        with pytest.raises(ValueError, match="^seed_ptr must run from 0"):
            compiled.run_batch(np.zeros(0, dtype=np.int64), nodes, weights, workspace)


def test_every_form_of_the_multipliers_gives_the_same_bits(graph):
    """``rel`` as float32 ``rel_mult`` per edge, uint8 or uint16 codes into ``rel_table``: the same
    result from both entry points."""
    codes = np.random.default_rng(1).integers(0, 3, graph.n_edges)
    a = clematis.ConceptGraph.from_csr(graph.matrix, rel_code=codes).arrays
    plan = clematis.Query(graph, backend="native", queue_budget=600).plan
    record = plan.params.record(_t1.PARAMS_DTYPE)
    forms = [(a.rel_mult, np.zeros(0, np.float32)), (a.rel_code, a.rel_table),
             (a.rel_code.astype(np.uint16), a.rel_table)]
    seeds, weights = np.array([0, 5, 17], dtype=a.indptr.dtype), np.ones(3, np.float32)
    results = []
    with workspaces_for(a).acquire() as workspace:
        for rel, table in forms:
            compiled = _t1.CompiledQuery(a.indptr, a.indices, a.weights, rel, table, a.tie_pos, a.node_of_pos,
                                         plan.decay, record)
            nodes, values, counters = compiled.run(seeds, weights, workspace)
            results.append((nodes.tolist(), values.view(np.uint32).tolist(), counters))
            nodes, values, _, rows = _t1.propagate_batch(
                a.indptr, a.indices, a.weights, rel, table, a.tie_pos, a.node_of_pos,
                np.array([0, 3], np.int64), seeds, weights, plan.decay, workspace, record)
            results.append((nodes.tolist(), values.view(np.uint32).tolist(), tuple(rows[0].tolist())))
    assert a.rel_code.dtype == np.uint8 and set(codes.tolist()) == {0, 1, 2}
    assert results[0][2][COUNTER_NAMES.index("propagations")] > 100
    assert all(r == results[0] for r in results[1:])


@pytest.mark.skipif(shutil.which("nm") is None or not sys.platform.startswith("linux"),
                    reason="the ELF symbol table: Linux with binutils' nm")
def test_the_callgrind_pattern_names_the_compiled_query_entry_points():
    sys.path.insert(0, str(pathlib.Path(__file__).parents[2] / "benchmarks"))
    from callgrind import NATIVE_QUERY_ENTRY, function_symbols, matching_functions

    entries = matching_functions(NATIVE_QUERY_ENTRY, function_symbols(pathlib.Path(_t1.__file__)))
    assert sorted(name.split("CompiledQuery_", 1)[1].lstrip("0123456789") for name in entries) == [
        "run", "run_batch", "run_indices"]
    assert all(name.startswith("__pyx_pw_") for name in entries)


@pytest.mark.parametrize("node_ids", [None, "sorted", "shuffled"])
def test_identity_ties_skip_the_tables_with_the_same_bits(node_ids):
    """Integer ids (or ids already in sorted order) make every tie position the node's index:
    the kernel is then given no tables, and returns what it returns with the tables."""
    indptr, indices, weights, *_ = csr_graph(200, 1600, seed=9)
    ids = None if node_ids is None else [f"n{i:04d}" for i in range(200)]
    if node_ids == "shuffled":
        ids = ids[::-1]
    graph = clematis.ConceptGraph.from_csr(sp.csr_array((weights, indices, indptr), shape=(200, 200)),
                                           node_ids=ids)
    assert (workspaces_for(graph.arrays).tie_tables[0] is None) == (node_ids != "shuffled")
    plan = clematis.Query(graph, backend="native", queue_budget=3000).plan
    record = plan.params.record(_t1.PARAMS_DTYPE)
    a = graph.arrays
    with_tables = _t1.CompiledQuery(a.indptr, a.indices, a.weights, *a.kernel_multipliers(), a.tie_pos,
                                    a.node_of_pos, plan.decay, record)
    seeds = np.array([3, 3, 150, 7], dtype=np.int32)
    seed_weights = np.float32([1.0, -0.5, 0.75, 2.0])
    with workspaces_for(a).acquire() as workspace:
        nodes, values, counters = with_tables.run(seeds, seed_weights, workspace)
        got = compile_query(a, plan.decay, plan.params).run(seeds, seed_weights, workspace)
    assert counters[COUNTER_NAMES.index("pops")] == 3000
    assert np.array_equal(got[0], nodes) and np.array_equal(got[1].view(np.int32), values.view(np.int32))
    assert got[2] == counters
    python = clematis.Query(graph, backend="python", queue_budget=3000).run(seeds, seed_weights)
    assert np.array_equal(python.nodes, nodes) and np.array_equal(python.values.view(np.int32),
                                                                  values.view(np.int32))


def test_tie_tables_come_in_pairs():
    a = clematis.ConceptGraph.from_csr(sp.csr_array(np.eye(3, dtype=np.float32))).arrays
    decay = np.ones(3, np.float32)
    record = T1Params.build("user").record(_t1.PARAMS_DTYPE)
    with pytest.raises(ValueError, match="both be arrays or both be None"):
        _t1.CompiledQuery(a.indptr, a.indices, a.weights, *a.kernel_multipliers(), a.tie_pos, None, decay,
                          record)
    with workspaces_for(a).acquire() as workspace, pytest.raises(ValueError, match="both be arrays"):
        _t1.propagate_batch(a.indptr, a.indices, a.weights, *a.kernel_multipliers(), None, a.node_of_pos,
                            np.zeros(1, np.int64), np.zeros(0, np.int32), np.zeros(0, np.float32), decay,
                            workspace, record)
