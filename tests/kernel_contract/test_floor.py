"""The queue-free floor of ``benchmarks/floor`` does the reference's edge work (same acc bits).

The benchmarks judge the kernel against the time of replaying a query's expanded pops with no
queue; these tests prove the replay adds the same contributions in the same order, so the
comparison is between the same work with and without a queue.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from c_baseline import compiler
from floor import Floor, build_floor_library
from helpers import csr_graph
from t1_workloads import first_seeds, smoke_graph

from clematis import ConceptGraph
from clematis.api import Query

pytestmark = pytest.mark.skipif(compiler() is None,
                                reason="no C compiler (gcc or $CC) to build the benchmark floor")


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    return build_floor_library(tmp_path_factory.mktemp("floor"))


def random_graph(seed: int) -> ConceptGraph:
    indptr, indices, weights, *_ = csr_graph(300, 1500, seed, low=-1.0, high=1.0)
    rel_code = np.random.default_rng(seed).integers(0, 3, indices.shape[0]).astype(np.int32)
    return ConceptGraph.from_csr(sp.csr_array((weights, indices, indptr), shape=(300, 300)),
                                 rel_code=rel_code)


@pytest.mark.parametrize("params", [{}, {"radius_cap": 2, "node_budget": 0.9}, {"rate": 0.3},
                                    {"decay": "attn_quad", "alpha": 0.5, "iter_cap_layers": 2}],
                         ids=["defaults", "radius-budget", "rate", "attn_quad"])
@pytest.mark.parametrize("graph_seed", [3, 8])
def test_replay_reproduces_the_reference(library, params, graph_seed):
    graph = random_graph(graph_seed)
    plan = Query(graph, backend="python", queue_budget=0, **params)
    seeds, seed_weights = [0, 7, 11], [1.0, -0.5, 0.8]
    expected = plan.run_validated(*plan.seeds(seeds, seed_weights))
    with Floor(library, graph.n_nodes) as floor:
        replay = floor.prepare(plan, seeds, seed_weights)
        assert replay.reproduces(expected.nodes, expected.values, expected.metrics)
        assert replay.reproduces(expected.nodes, expected.values, expected.metrics)  # left idle
        _, _, counters = replay.result()
    assert expected.metrics["propagations"] > 20  # the query really propagated
    assert counters["pushed"] <= counters["propagations"] + len(seeds)


def test_smoke_graph_replay_matches_native(library, native_required):
    graph = smoke_graph()
    plan = Query(graph, backend="native", queue_budget=0)
    expected = plan.run_validated(*plan.seeds(first_seeds(4)))
    with Floor(library, graph.n_nodes) as floor:
        replay = floor.prepare(plan, first_seeds(4))
        assert replay.reproduces(expected.nodes, expected.values, expected.metrics)
    # pops at the radius cap or over budget are popped but not expanded, so not replayed
    assert 0 < replay.pops.shape[0] < expected.metrics["pops"]


def test_records_only_expanded_pops(library):
    # chain 0 -> 1 -> 2, radius 1: seed 0 is expanded (layer 0); node 1 pops at layer 1, where
    # d = 2 exceeds the radius, so it is not expanded and not recorded
    matrix = sp.csr_array(np.array([[0, 0.5, 0], [0, 0, 0.5], [0, 0, 0]], dtype=np.float32))
    graph = ConceptGraph.from_csr(matrix)
    plan = Query(graph, backend="python", queue_budget=0, radius_cap=1)
    with Floor(library, graph.n_nodes) as floor:
        pops = floor.record(plan, [0], [0.75])
    assert pops.tolist() == [(0, np.float32(0.75), 0)]
    assert plan.run([0], [0.75]).metrics["pops"] == 2


def test_refuses_a_graph_of_another_size(library):
    graph = random_graph(3)
    plan = Query(graph, backend="python", queue_budget=0)
    with Floor(library, graph.n_nodes + 1) as floor, pytest.raises(ValueError, match="workspace"):
        floor.prepare(plan, [0])
