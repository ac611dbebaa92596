"""A pooled workspace keeps at most QUEUE_BYTES_KEPT (1 MiB) of queue memory after a call
(issue 11, item 5): what a big query grew is released at the end of the call, bits unchanged."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import scipy.sparse as sp
from t1_workloads import as_graph

import clematis
import clematis._backend
from clematis._kernel_calls import workspaces_for

pytestmark = pytest.mark.native

LEAVES = 300_000  # one pop of the hub queues them all: 2.4 MB of radix entries at once


@pytest.fixture(scope="module")
def star() -> clematis.ConceptGraph:
    """Node 0 points at every other node; nothing else has edges."""
    indptr = np.full(LEAVES + 2, LEAVES, dtype=np.int32)
    indptr[0] = 0
    weights = np.linspace(0.2, 1.0, LEAVES, dtype=np.float32)
    matrix = sp.csr_array((weights, np.arange(1, LEAVES + 1, dtype=np.int32), indptr),
                          shape=(LEAVES + 1, LEAVES + 1))
    return as_graph(matrix)


def pooled_queue_bytes(graph: clematis.ConceptGraph) -> int:
    with workspaces_for(graph.arrays).acquire() as workspace:
        return workspace.queue_bytes


def bits(result: clematis.T1Result) -> tuple:
    return result.nodes.tobytes(), result.values.view(np.int32).tobytes(), result.metrics, result.truncated


PARAMS = {"queue_budget": 0}
CAPS = {"queue_budget": 0, "frontier_cap": 250_000, "dedupe_window": 250_000, "visited_cap": 300_000}


@pytest.mark.parametrize("params", [PARAMS, CAPS], ids=["radix queue", "heap and rings"])
def test_a_big_query_leaves_at_most_the_threshold(star, params):
    kept = clematis._backend.native_module.QUEUE_BYTES_KEPT
    assert kept == 1 << 20
    first = clematis.propagate(star, [0], backend="native", **params)
    assert first.metrics["pops"] - 1 > kept // 8  # the leaves, queued at once: over 1 MiB of entries
    assert pooled_queue_bytes(star) <= kept
    again = clematis.propagate(star, [0], backend="native", **params)
    fresh_graph = pickle.loads(pickle.dumps(star))  # a new pool: a workspace that never shrank
    fresh = clematis.propagate(fresh_graph, [0], backend="native", **params)
    assert bits(again) == bits(first) == bits(fresh)
    assert pooled_queue_bytes(star) <= kept


def test_the_reference_agrees(star):
    native = clematis.propagate(star, [0], backend="native", **PARAMS)
    assert bits(clematis.propagate(star, [0], backend="python", **PARAMS)) == bits(native)


def test_a_small_query_keeps_its_queue_warm(star):
    clematis.propagate(star, [5], backend="native", queue_budget=0)  # a leaf: one pop
    assert 0 < pooled_queue_bytes(star) <= clematis._backend.native_module.QUEUE_BYTES_KEPT
