"""Spec §1 validation: before any work, the same exception and message from both backends."""

from __future__ import annotations

import re
import tracemalloc

import numpy as np
import pytest
import scipy.sparse as sp

import clematis
from clematis import ConceptGraph
from clematis._validation import MAX_NODES, validate_graph_arrays
from clematis.t1 import propagate_one_graph

PARAMS = dict(rate=0.6, floor=0.05, radius_cap=4, iter_cap_layers=50, node_budget=1.5)


def good():
    return dict(
        indptr=np.array([0, 2, 3, 3], np.int32), indices=np.array([1, 2, 0], np.int32),
        weights=np.array([0.5, 1.0, 0.25], np.float32), rel_code=np.zeros(3, np.int32),
        rel_mult=np.ones(3, np.float32), seed_nodes=np.array([0]), seed_weights=None,
        key_rank=np.arange(3, dtype=np.int32),
    )


def call(backend, **changes):
    args = {**good(), **changes}
    return propagate_one_graph(args["indptr"], args["indices"], args["weights"], args["rel_code"],
                               args["rel_mult"], args["seed_nodes"], args["seed_weights"],
                               args["key_rank"], backend=backend, **PARAMS)


BAD_ARRAYS = [
    (dict(indptr=np.array([1, 2, 3, 3], np.int32)), ValueError, "indptr[0] must be 0"),
    (dict(indptr=np.array([0, 2, 3, 4], np.int32)), ValueError, "indptr[-1] must equal len(indices) = 3"),
    (dict(indptr=np.array([0, 3, 2, 3], np.int32)), ValueError, "indptr must be non-decreasing"),
    (dict(indptr=np.array([], np.int32)), ValueError, "indptr must have length n + 1 >= 1"),
    (dict(indptr=np.zeros((2, 2), np.int32)), ValueError, "indptr must be one-dimensional"),
    (dict(indices=np.array([1, 3, 0], np.int32)), ValueError, "indices must lie in [0, 3)"),
    (dict(indices=np.array([1, -1, 0], np.int32)), ValueError, "indices must lie in [0, 3)"),
    (dict(indices=np.array([1.0, 2.0, 0.0])), TypeError, "indices must hold integers"),
    (dict(weights=np.array([0.5, np.nan, 1.0])), ValueError, "weights must be finite"),
    (dict(weights=np.array([0.5, 1e300, 1.0])), ValueError, "weights must be finite"),
    (dict(weights=np.array([0.5, 1.0])), ValueError, "weights must have one entry per edge (3), got 2"),
    (dict(weights=np.array(["a", "b", "c"])), TypeError, "weights must hold real numbers"),
    (dict(rel_mult=np.array([1.0, np.inf, 1.0])), ValueError, "rel_mult must be finite"),
    (dict(rel_code=np.zeros(4, np.int32)), ValueError, "rel_code must have one entry per edge"),
    (dict(key_rank=np.arange(2, dtype=np.int32)), ValueError, "key_rank must have one entry per node (3)"),
    (dict(seed_nodes=np.array([0, 3])), ValueError, "seed_nodes[1] = 3 is out of range [0, 3)"),
    (dict(seed_nodes=np.array([-1])), ValueError, "seed_nodes[0] = -1 is out of range [0, 3)"),
    (dict(seed_nodes=np.array([0.5])), TypeError, "seed_nodes must hold integers"),
    (dict(seed_weights=np.array([np.nan])), ValueError, "seed_weights must be finite"),
    (dict(seed_weights=np.array([1.0, 1.0])), ValueError, "seed_weights must have one entry per seed (1)"),
]


@pytest.mark.native
@pytest.mark.parametrize(("changes", "error", "message"), BAD_ARRAYS)
def test_bad_arrays_raise_the_same_error_on_both_backends(changes, error, message):
    raised = []
    for backend in ("python", "native"):
        with pytest.raises(error, match=re.escape(message)) as info:
            call(backend, **changes)
        raised.append(str(info.value))
    assert raised[0] == raised[1]


def test_unknown_backend_is_rejected():
    with pytest.raises(ValueError, match="backend must be one of native, python"):
        call("cuda")


def test_right_dtypes_are_not_copied():
    args = good()
    arrays = validate_graph_arrays(args["indptr"], args["indices"], args["weights"], args["rel_code"],
                                   args["rel_mult"], args["key_rank"])
    for name in ("indptr", "indices", "weights", "rel_code", "rel_mult", "key_rank"):
        assert getattr(arrays, name) is args[name], name


@pytest.mark.native
def test_other_dtypes_are_converted():
    args = good()
    converted = call("native", indptr=args["indptr"].astype(np.int64),
                     weights=args["weights"].astype(np.float64), seed_nodes=[0], seed_weights=[1.0])
    reference = call("native")
    assert converted[0].dtype == np.int64  # int64 indptr makes the graph int64
    np.testing.assert_array_equal(converted[1].view(np.int32), reference[1].view(np.int32))


def test_mixed_index_dtypes_widen_to_int64():
    args = good()
    arrays = validate_graph_arrays(args["indptr"].astype(np.int64), args["indices"], args["weights"],
                                   args["rel_code"], args["rel_mult"], args["key_rank"])
    assert arrays.indptr.dtype == arrays.indices.dtype == np.int64


@pytest.mark.native
def test_messages_show_plain_python_values():
    with pytest.raises(ValueError, match=r"position 1 holds nan$"):
        call("native", weights=np.array([0.5, np.nan, 1.0]))


MASKED = np.ma.array([0.5, 99.0, 0.25], mask=[False, True, False])

SILENTLY_REINTERPRETED = [
    (dict(weights=MASKED), "weights is a masked array; its mask would be ignored"),
    (dict(seed_weights=np.ma.array([99.0], mask=[True])), "seed_weights is a masked array"),
    (dict(seed_nodes=np.ma.array([0, 2], mask=[False, True])), "seed_nodes is a masked array"),
    (dict(key_rank=np.ma.array([0, 1, 2])), "key_rank is a masked array"),
    (dict(indptr="0233"), "indptr must be an array or a sequence, got a str"),
    (dict(seed_nodes=b"\x00"), "seed_nodes must be an array or a sequence, got a bytes"),
    (dict(weights=np.array([0.5, "1.0", 0.25], dtype=object)),
     "weights must hold real numbers, got dtype object"),
    (dict(weights=["0.5", "1.0", "0.25"]), "weights must hold real numbers, got dtype <U4"),
    (dict(weights=np.array([True, False, True])), "weights must hold real numbers, got dtype bool"),
    (dict(weights=np.array([0.5, 1.0, 0.25]) + 0j), "weights must hold real numbers, got dtype complex128"),
    (dict(rel_code=np.array([0.0, 0.0, 0.0])), "rel_code must hold integers, got dtype float64"),
    (dict(rel_code=np.array(["0", "0", "0"])), "rel_code must hold integers, got dtype <U1"),
    (dict(seed_nodes=np.array([], dtype=object)), "seed_nodes must hold integers, got dtype object"),
]


@pytest.mark.native
@pytest.mark.parametrize(("changes", "message"), SILENTLY_REINTERPRETED)
def test_inputs_numpy_would_reinterpret_are_type_errors_on_both_backends(changes, message):
    raised = []
    for backend in ("python", "native"):
        with pytest.raises(TypeError, match=re.escape(message)) as info:
            call(backend, **changes)
        raised.append(str(info.value))
    assert raised[0] == raised[1]


@pytest.mark.native
def test_masked_seeds_are_refused_by_propagate(demo_graph):
    seeds = np.ma.array([0, 1], mask=[False, True])
    for backend in ("python", "native"):
        with pytest.raises(TypeError, match="seed_nodes is a masked array"):
            clematis.propagate(demo_graph, seeds, backend=backend)
        with pytest.raises(TypeError, match="seed_weights is a masked array"):
            clematis.propagate(demo_graph, [0, 1], np.ma.array([1.0, 99.0], mask=[False, True]),
                               backend=backend)


def test_the_node_limit_is_checked_before_any_copy():
    """A virtual int64 indptr of MAX_NODES + 2 entries (17 GB if copied) costs nothing to refuse."""
    huge = np.lib.stride_tricks.as_strided(np.zeros(1, np.int64), shape=(MAX_NODES + 2,), strides=(0,))
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=f"indptr describes {MAX_NODES + 1} nodes; at most {MAX_NODES}"):
            call("python", indptr=huge)
        with pytest.raises(ValueError, match=f"at most {MAX_NODES} nodes are supported"):
            ConceptGraph.from_csr(sp.coo_array((MAX_NODES + 1, MAX_NODES + 1), dtype=np.float32))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20


BAD_GRAPH_INPUTS = [
    (dict(node_ids="abc"), TypeError, "node_ids must be a sequence of strings, got a str"),
    (dict(node_ids={"a", "b", "c"}), TypeError, "node_ids must be a sequence of strings, got a set"),
    (dict(labels="xyz"), TypeError, "labels must be a sequence of strings, got a str"),
    (dict(labels={"a": "x"}), TypeError, "labels must be a sequence of strings, got a dict"),
    (dict(labels=["x", 2, "z"]), TypeError, "labels must be strings; labels[1] is int 2"),
    (dict(relations="supports"), TypeError, "relations must be a sequence of strings, got a str"),
    (dict(rel_code=np.array([0.0, 0.5, 0.0])), TypeError, "rel_code must hold integers, got dtype float64"),
    (dict(rel_code=np.array([0, "1", 0], dtype=object)), TypeError,
     "rel_code must hold integers, got dtype object"),
    (dict(rel_code=np.array(["0", "1", "0"])), TypeError, "rel_code must hold integers, got dtype <U1"),
    (dict(rel_code=np.ma.array([0, 1, 0])), TypeError, "rel_code is a masked array"),
    (dict(rel_code=np.array([0, 2**40, 0])), ValueError, "rel_code values must index relations (0 .. 2)"),
    (dict(rel_code=np.zeros((3, 1), np.int32)), ValueError, "rel_code must be one-dimensional"),
    (dict(relation_multipliers={"supports": "0.75"}), TypeError,
     "relation_multipliers['supports'] must be a real number, got str '0.75'"),
    (dict(relation_multipliers={"supports": np.nan}), ValueError,
     "relation_multipliers['supports'] must be finite"),
    (dict(relation_multipliers={1: 0.5}), TypeError,
     "relation_multipliers[1]: relation names must be strings"),
    (dict(relation_multipliers=[("supports", 1.0)]), TypeError, "relation_multipliers must be a mapping"),
]


@pytest.mark.parametrize(("kwargs", "error", "message"), BAD_GRAPH_INPUTS)
def test_bad_from_csr_inputs_name_the_argument(kwargs, error, message):
    matrix = sp.csr_array(np.array([[0, 1, 0], [0, 0, 1], [1, 0, 0]], np.float32))
    with pytest.raises(error, match=re.escape(message)):
        ConceptGraph.from_csr(matrix, **kwargs)


BAD_EDGES = [
    (dict(edges=[("a", "b", "0.75", "supports")]), TypeError,
     "edges[0]: the weight must be a real number, got str '0.75'"),
    (dict(edges=[("a", "b", True, "supports")]), TypeError,
     "edges[0]: the weight must be a real number, got bool"),
    (dict(edges=[("a", "b", 1.0, ["supports"])]), TypeError, "edges[0]: the relation must be a string"),
    (dict(edges=[("a", "b", 1.0)]), ValueError, "edges[0] must be (src, dst, weight, relation)"),
    (dict(edges=[7]), TypeError, "edges[0] must be (src, dst, weight, relation), got 7"),
    (dict(edges=[("a", 2, 1.0, "supports")]), TypeError, "edges[0]: node ids must be strings, got 2"),
    (dict(edges=[("a", "b", 1.0, "supports")], labels=["A", "B"]), TypeError,
     "labels must be a mapping from node id to label, got list"),
    (dict(edges=[("a", "b", 1.0, "supports")], nodes="ab"), TypeError,
     "nodes must be a sequence of strings, got a str"),
    (dict(edges=[("a", "b", 1.0, "supports")], nodes=["a", 3]), TypeError,
     "nodes must be strings; nodes[1] is int 3"),
    (dict(edges=[("a", "b", 1.0, "supports")], labels={"a": 5}), TypeError, "labels must be strings"),
    (dict(edges=[("a", "b", 1.0, "supports")], relation_multipliers={"supports": "1"}), TypeError,
     "relation_multipliers['supports'] must be a real number"),
]


@pytest.mark.parametrize(("kwargs", "error", "message"), BAD_EDGES)
def test_bad_from_edges_inputs_name_the_argument(kwargs, error, message):
    with pytest.raises(error, match=re.escape(message)):
        ConceptGraph.from_edges(**kwargs)


def test_numeric_scalar_types_are_accepted_and_normalised():
    g = ConceptGraph.from_edges([("a", "b", np.float32(0.5), "supports"), ("b", "a", 2, "supports")],
                                relation_multipliers={"supports": np.float64(0.5), "associates": 1})
    np.testing.assert_array_equal(g.arrays.weights, np.float32([0.5, 2.0]))
    assert g.relation_multipliers == {"supports": 0.5}
    assert all(type(m) is float for m in g.with_relation_multipliers({"supports": np.float32(2)})
               .relation_multipliers.values())


def test_error_messages_quote_only_an_excerpt():
    huge = "x" * 100_000
    with pytest.raises(TypeError) as info:
        ConceptGraph.from_edges([("a", "b", huge, "supports")])
    assert len(str(info.value)) < 200
