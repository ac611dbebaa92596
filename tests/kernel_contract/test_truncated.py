"""T1Result.truncated: True when queue_budget or relax_cap ended the loop while work remained
(issue 13, item 1), the same on both backends; not one of the docs/spec.md §6 metrics."""

from __future__ import annotations

import numpy as np
import pytest

import clematis
from clematis._metrics import METRIC_NAMES
from clematis.api import T1Result
from clematis.t1 import propagate_one_graph

BACKENDS = ["native", "python"]
NO_DECAY = {"rate": 1.0, "floor": 1.0, "radius_cap": 10, "iter_cap_layers": 10, "queue_budget": 0}


def graph_of(*edges: tuple[str, str, float]) -> clematis.ConceptGraph:
    return clematis.ConceptGraph.from_edges([(s, d, w, "supports") for s, d, w in edges])


CHAIN = graph_of(("a", "b", 0.5), ("b", "c", 0.5), ("c", "d", 0.5))  # 4 pops from a, then empty


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("queue_budget", "pops", "truncated"), [
    (0, 4, False),   # unbounded
    (2, 2, True),    # c is still queued
    (3, 3, True),    # d is still queued
    (4, 4, False),   # the budget is reached just as the queue empties
    (9, 4, False),   # never reached
])
def test_queue_budget(backend, queue_budget, pops, truncated):
    result = clematis.propagate(CHAIN, ["a"], backend=backend, **{**NO_DECAY, "queue_budget": queue_budget})
    assert (result.metrics["pops"], result.truncated) == (pops, truncated)


FORK = graph_of(("a", "b", 0.5), ("a", "c", 0.5), ("b", "d", 0.5))  # row a has two edges
SATURATING = graph_of(("a", "b", 2.0))  # b saturates at once (node_budget 1.5): never queued


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("graph", "relax_cap", "propagations", "truncated"), [
    (FORK, 1, 1, True),        # the edge a -> c is left in the row
    (FORK, 2, 2, True),        # the row is done, b and c are queued
    (FORK, 3, 3, True),        # c is still queued
    (FORK, 9, 3, False),       # never reached
    (SATURATING, 1, 1, False),  # reached on the last edge, and b was not queued: nothing left
], ids=["fork-1", "fork-2", "fork-3", "fork-9", "saturating-1"])
def test_relax_cap(backend, graph, relax_cap, propagations, truncated):
    result = clematis.propagate(graph, ["a"], backend=backend, relax_cap=relax_cap, node_budget=1.5,
                                **NO_DECAY)
    assert (result.metrics["propagations"], result.truncated) == (propagations, truncated)


@pytest.mark.parametrize(("params", "outcomes"), [
    ({"radius_cap": 1, "queue_budget": 18}, {True, False}),
    ({"radius_cap": 2, "queue_budget": 9600}, {True, False}),
    ({"radius_cap": 1, "relax_cap": 16}, {True, False}),
    ({"radius_cap": 2, "relax_cap": 150, "frontier_cap": 8, "dedupe_window": 4}, {True, False}),
    ({"radius_cap": 1, "queue_budget": 0}, {False}),
], ids=str)
def test_both_backends_agree_on_random_queries(demo_graph, native_required, params, outcomes):
    rng = np.random.default_rng(3)
    seed_sets = [rng.choice(demo_graph.n_nodes, 3, replace=False).tolist() for _ in range(12)]
    native = clematis.propagate_many(demo_graph, seed_sets, backend="native", workers=2, **params)
    python = clematis.propagate_many(demo_graph, seed_sets, backend="python", workers=1, **params)
    assert [r.truncated for r in native] == [r.truncated for r in python]
    assert {r.truncated for r in native} == outcomes
    for r in native:  # truncated only where a budget was spent
        spent = (r.metrics["pops"] == params.get("queue_budget")
                 or r.metrics["propagations"] == params.get("relax_cap"))
        assert not r.truncated or spent


def test_not_a_metric_and_the_old_constructor_still_works(demo_graph):
    result = clematis.propagate(demo_graph, [0], queue_budget=5)
    assert result.truncated is True
    assert tuple(result.metrics) == METRIC_NAMES
    old_style = T1Result(result.nodes, result.values, result.metrics, result.backend, demo_graph)
    assert old_style.truncated is False


def test_the_raw_kernel_contract_still_returns_three_items(demo_graph):
    a = demo_graph.arrays
    out = propagate_one_graph(a.indptr, a.indices, a.weights, a.rel_code, a.rel_mult, [0], None, a.key_rank,
                              rate=0.6, floor=0.05, radius_cap=4, iter_cap_layers=50, node_budget=1.5,
                              queue_budget=5)
    assert len(out) == 3 and tuple(out[2]) == METRIC_NAMES
