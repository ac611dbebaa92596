"""How a ConceptGraph stores the relation of each edge: a uint8 code (uint16 beyond 256 relations)
into a float32 table of multipliers, no per-edge multiplier (docs/spec.md §1)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import clematis
from clematis import ConceptGraph
from clematis._validation import MAX_RELATIONS
from clematis.parity import identical

PER_EDGE_BYTES_GOAL = 13  # issue 15, item 3


def coded_graph(n_relations: int, m: int = 600, seed: int = 3) -> ConceptGraph:
    """A random 40-node graph whose edges use ``n_relations`` relations, every one at least once
    when ``m >= n_relations``."""
    rng = np.random.default_rng(seed)
    n = 40
    indptr = np.zeros(n + 1, np.int32)
    np.cumsum(np.bincount(rng.integers(0, n, m), minlength=n), out=indptr[1:])
    weights, indices = rng.uniform(0.2, 1.0, m).astype(np.float32), rng.integers(0, n, m).astype(np.int32)
    matrix = sp.csr_array((weights, indices, indptr), shape=(n, n))
    relations = [f"r{i}" for i in range(n_relations)]
    codes = np.arange(m) % n_relations
    rng.shuffle(codes)
    multipliers = {r: 0.5 + (i % 97) / 97 for i, r in enumerate(relations)}
    return ConceptGraph.from_csr(matrix, rel_code=codes, relations=relations,
                                 relation_multipliers=multipliers)


def per_edge_arrays(graph: ConceptGraph) -> dict[str, np.ndarray]:
    return {name: arr for name, arr in vars(graph.arrays).items() if arr.shape == (graph.n_edges,)}


@pytest.mark.parametrize(("n_relations", "dtype"), [(1, np.uint8), (3, np.uint8), (256, np.uint8),
                                                     (257, np.uint16), (MAX_RELATIONS, np.uint16)])
def test_the_code_width_follows_the_relation_count(n_relations, dtype):
    g = coded_graph(n_relations, m=max(600, min(n_relations, 70_000)))
    assert g.arrays.rel_code.dtype == dtype
    assert g.arrays.rel_table.dtype == np.float32 and g.arrays.rel_table.shape == (n_relations,)
    assert int(g.arrays.rel_code.max()) == n_relations - 1  # the highest code survives the narrowing


def test_more_relations_than_uint16_codes_are_refused():
    relations = [f"r{i}" for i in range(MAX_RELATIONS + 1)]
    with pytest.raises(ValueError, match="relations: 65537 given, at most 65536 are supported"):
        ConceptGraph.from_csr(sp.csr_array(np.eye(2, dtype=np.float32)), relations=relations,
                              relation_multipliers=dict.fromkeys(relations, 1.0))


@pytest.mark.parametrize("n_relations", [3, 300])
def test_per_edge_bytes_are_at_most_13_and_no_multiplier_is_stored_per_edge(n_relations):
    g = coded_graph(n_relations)
    hot = per_edge_arrays(g)
    assert sorted(hot) == ["indices", "rel_code", "weights"]
    assert sum(arr.itemsize for arr in hot.values()) == (9 if n_relations <= 256 else 10)
    assert sum(arr.itemsize for arr in hot.values()) <= PER_EDGE_BYTES_GOAL


def test_rel_mult_is_derived_on_access_read_only_and_not_stored():
    g = coded_graph(300)
    a = g.arrays
    assert "rel_mult" not in vars(a)
    first, second = a.rel_mult, a.rel_mult
    assert first is not second and not first.flags.writeable
    assert first.dtype == np.float32 and first.shape == (g.n_edges,)
    expected = np.array([g.relation_multipliers[g.relations[c]] for c in a.rel_code.tolist()], np.float32)
    np.testing.assert_array_equal(first.view(np.uint32), expected.view(np.uint32))


@pytest.mark.parametrize("backend", ["python", "native"])
@pytest.mark.parametrize("n_relations", [3, 300])
def test_with_relation_multipliers_swaps_only_the_table(n_relations, backend):
    g = coded_graph(n_relations)
    wanted = {"r0": 0.125, "r2": 1.75}
    view = g.with_relation_multipliers(wanted)
    for name, arr in vars(g.arrays).items():
        if name != "rel_table":
            assert getattr(view.arrays, name) is arr, name
    assert view.arrays.rel_table[0] == np.float32(0.125) and view.arrays.rel_table[2] == np.float32(1.75)
    np.testing.assert_array_equal(np.delete(view.arrays.rel_table, [0, 2]),
                                  np.delete(g.arrays.rel_table, [0, 2]))
    assert not view.arrays.rel_table.flags.writeable
    assert g.with_relation_multipliers(wanted) is view  # cached
    rebuilt = ConceptGraph.from_csr(g.matrix, rel_code=g.arrays.rel_code, relations=g.relations,
                                    relation_multipliers={**g.relation_multipliers, **wanted})
    r_view = clematis.propagate(view, [0, 1], backend=backend)
    r_built = clematis.propagate(rebuilt, [0, 1], backend=backend)
    assert identical(r_view, r_built) and r_view.metrics["propagations"] > 50
    assert not identical(r_view, clematis.propagate(g, [0, 1], backend=backend))


def test_the_constructor_narrows_codes_and_checks_the_table():
    g = coded_graph(3)
    a = g.arrays
    fields = {name: getattr(a, name) for name in vars(a)}
    wide = ConceptGraph(type(a)(**{**fields, "rel_code": a.rel_code.astype(np.int64)}), g.node_ids, g.labels,
                        g.relations, g.relation_multipliers)
    assert wide.arrays.rel_code.dtype == np.uint8
    np.testing.assert_array_equal(wide.arrays.rel_code, a.rel_code)
    with pytest.raises(ValueError, match=r"rel_code values must index relations \(0 \.\. 2\)"):
        ConceptGraph(type(a)(**{**fields, "rel_code": a.rel_code.astype(np.int64) + 256}), g.node_ids,
                     g.labels, g.relations, g.relation_multipliers)
