"""Spec §1 validation: before any work, the same exception and message from both backends."""

from __future__ import annotations

import re

import numpy as np
import pytest

from clematis._validation import validate_graph_arrays
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
