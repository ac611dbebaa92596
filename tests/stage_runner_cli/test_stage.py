"""run_turn: seeding, config parameters, multi-graph merge, serial == parallel, smoke turn."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.sparse as sp

import clematis
from clematis.datasets import DEMO_TEXT
from clematis.seeding import seeds_from_text

PARALLEL = {"perf": {"parallel": {"enabled": True, "t1": True, "max_workers": 0}}}


def bits(values) -> np.ndarray:
    return np.asarray(values, dtype=np.float32).view(np.int32)


def same_result(a, b) -> bool:
    return (np.array_equal(a.nodes, b.nodes) and np.array_equal(bits(a.values), bits(b.values))
            and a.metrics == b.metrics)


def same_turn(a, b) -> bool:
    return (all(same_result(x, y) for x, y in zip(a.graphs, b.graphs, strict=True))
            and a.metrics == b.metrics and list(a.merged) == list(b.merged)
            and np.array_equal(bits(list(a.merged.values())), bits(list(b.merged.values()))))


def themed_graph(seed: int, n: int = 300, m: int = 2400) -> clematis.ConceptGraph:
    """Random graph whose ids partly overlap with other seeds' graphs (``w0`` .. ``w{n-1}``)."""
    rng = np.random.default_rng(seed)
    ids = [f"w{i}" for i in rng.permutation(n + 100)[:n]]
    edges = [(ids[a], ids[b], float(w), str(rel)) for a, b, w, rel in zip(
        rng.integers(0, n, m), rng.integers(0, n, m), rng.uniform(0.1, 1.0, m),
        rng.choice(["supports", "associates", "contradicts"], m), strict=True)]
    labels = {nid: f"word{nid[1:]}" for nid in ids}
    return clematis.ConceptGraph.from_edges(edges, labels=labels, nodes=ids)


@pytest.fixture(scope="module")
def graphs():
    return [themed_graph(s) for s in (1, 2, 3, 4)]


def test_one_graph_turn_equals_propagate_with_the_stage_defaults(demo_graph):
    turn = clematis.run_turn(demo_graph, DEMO_TEXT, None)
    seeds, weights = seeds_from_text(demo_graph, DEMO_TEXT)
    direct = clematis.propagate(demo_graph, seeds, weights, queue_budget=10000)
    (result,) = turn.graphs
    assert same_result(result, direct)
    assert turn.merged == direct.to_dict()
    assert turn.metrics["graphs_touched"] == 1
    assert {k: turn.metrics[k] for k in direct.metrics} == direct.metrics


def test_config_parameters_reach_the_kernel(demo_graph):
    cfg = {"t1": {"decay": {"mode": "attn_quad", "alpha": 0.3}, "radius_cap": 3, "iter_cap": 9,
                  "iter_cap_layers": 2, "node_budget": 2.5, "queue_budget": 500, "relax_cap": 900},
           "perf": {"t1": {"caps": {"frontier": 40, "visited": 60}, "dedupe_window": 5}}}
    turn = clematis.run_turn(demo_graph, DEMO_TEXT, cfg)
    seeds, weights = seeds_from_text(demo_graph, DEMO_TEXT)
    direct = clematis.propagate(demo_graph, seeds, weights, decay="attn_quad", alpha=0.3, radius_cap=3,
                                iter_cap_layers=2, node_budget=2.5, queue_budget=500, relax_cap=900,
                                frontier_cap=40, visited_cap=60, dedupe_window=5)
    assert same_result(turn.graphs[0], direct)
    assert direct.metrics["frontier_evicted"] > 0 and direct.metrics["dedupe_hits"] > 0


def test_edge_type_mult_recomputes_rel_mult_once_per_graph_and_multipliers(demo_graph):
    cfg = {"t1": {"edge_type_mult": {"associates": 0.9, "contradicts": 0.1}}}
    first = clematis.run_turn(demo_graph, DEMO_TEXT, cfg)
    second = clematis.run_turn(demo_graph, DEMO_TEXT, cfg)
    view = first.graphs[0].graph
    assert view is not demo_graph and second.graphs[0].graph is view
    assert view.arrays.indptr is demo_graph.arrays.indptr and view.arrays.weights is demo_graph.arrays.weights
    rebuilt = clematis.datasets.load_demo_graph()
    expected = clematis.ConceptGraph.from_csr(
        rebuilt.matrix, rel_code=rebuilt.arrays.rel_code, node_ids=rebuilt.node_ids, labels=rebuilt.labels,
        relations=rebuilt.relations, relation_multipliers={"associates": 0.9, "contradicts": 0.1})
    seeds, weights = seeds_from_text(expected, DEMO_TEXT)
    direct = clematis.propagate(expected, seeds, weights, queue_budget=10000)
    assert same_result(first.graphs[0], direct)
    default = clematis.run_turn(demo_graph, DEMO_TEXT, None)
    assert default.graphs[0].graph is demo_graph
    assert not same_result(default.graphs[0], first.graphs[0])


def test_explicit_seeds_sequence_and_mapping_skip_ids_a_graph_lacks(graphs):
    a, b = graphs[:2]
    only_a = next(nid for nid in a.node_ids if nid not in b)
    both = next(nid for nid in a.node_ids if nid in b)
    turn = clematis.run_turn([a, b], {only_a: 0.5, both: 2.0}, None)
    ra = clematis.propagate(a, [only_a, both], [0.5, 2.0], queue_budget=10000)
    rb = clematis.propagate(b, [both], [2.0], queue_budget=10000)
    assert same_result(turn.graphs[0], ra) and same_result(turn.graphs[1], rb)
    listed = clematis.run_turn([a, b], [only_a, both], None)
    assert same_result(listed.graphs[1], clematis.propagate(b, [both], queue_budget=10000))


def test_no_seeds_gives_an_empty_result_with_zero_metrics(demo_graph):
    turn = clematis.run_turn(demo_graph, "nothing matches here: qqqq", None)
    assert turn.merged == {} and len(turn.graphs[0]) == 0
    assert turn.metrics["graphs_touched"] == 0 and turn.metrics["pops"] == 0
    assert turn.metrics["_max_delta_local"] == 0.0
    assert not any(turn.metrics["native_t1"].values())


def test_merge_sums_counts_takes_max_delta_and_adds_float32_in_graph_order(graphs):
    turn = clematis.run_turn(graphs, ["w1", "w5", "w9", "w77"], None)
    results = [clematis.propagate(g, [s for s in ["w1", "w5", "w9", "w77"] if s in g], queue_budget=10000)
               for g in graphs]
    for got, want in zip(turn.graphs, results, strict=True):
        assert same_result(got, want)
    for name in ("pops", "iters", "propagations", "node_budget_hits", "radius_cap_hits"):
        assert turn.metrics[name] == sum(r.metrics[name] for r in results)
    assert turn.metrics["_max_delta_local"] == max(r.metrics["_max_delta_local"] for r in results)
    assert turn.metrics["graphs_touched"] == sum(1 for r in results if len(r))
    expected: dict = {}
    for r in results:
        for node, value in zip(r.nodes, r.values, strict=True):
            nid = r.graph.node_id(int(node))
            expected[nid] = np.float32(expected.get(nid, np.float32(0))) + value
    assert list(turn.merged) == list(expected)
    assert np.array_equal(bits(list(turn.merged.values())), bits(list(expected.values())))
    assert any(sum(nid in r.to_dict() for r in results) > 1 for nid in expected)


def test_serial_and_parallel_turns_are_bit_identical(graphs):
    text = "word1 word22 word3 word140"
    serial = clematis.run_turn(graphs, text, None)
    for workers in (0, 2, 3):
        cfg = {"perf": {"parallel": {"enabled": True, "t1": True, "max_workers": workers}}}
        assert same_turn(clematis.run_turn(graphs, text, cfg), serial)


def test_parallel_needs_both_switches(graphs, monkeypatch):
    seen = []
    import clematis._kernel_calls as kernel_calls

    class Recorder(kernel_calls.ThreadPoolExecutor):
        def __init__(self, max_workers=None, **kw):
            seen.append(max_workers)
            super().__init__(max_workers=max_workers, **kw)

    monkeypatch.setattr(kernel_calls, "ThreadPoolExecutor", Recorder)
    clematis.run_turn(graphs, "word1", {"perf": {"parallel": {"enabled": True}}})
    assert seen == []
    clematis.run_turn(graphs, "word1", {"perf": {"parallel": {"enabled": True, "t1": True,
                                                              "max_workers": 3}}})
    assert seen == [3]


def test_int_id_graphs_merge_by_index():
    rng = np.random.default_rng(5)
    g = clematis.ConceptGraph.from_csr(sp.random_array((50, 50), density=0.1, random_state=rng, format="csr"))
    turn = clematis.run_turn([g, g], [3, 60], None)
    single = clematis.propagate(g, [3], queue_budget=10000)
    assert list(turn.merged) == single.nodes.tolist()
    np.testing.assert_array_equal(bits(list(turn.merged.values())), bits(single.values + single.values))


@pytest.mark.native
def test_to_dict_is_json_and_deterministic(graphs):
    a = clematis.run_turn(graphs, "word1 word22", None, turn=3, agent="ada")
    b = clematis.run_turn(graphs, "word1 word22", PARALLEL, turn=3, agent="ada")
    assert json.dumps(a.to_dict()) == json.dumps(b.to_dict())
    doc = json.loads(json.dumps(a.to_dict()))
    assert doc["turn"] == 3 and doc["agent"] == "ada"
    assert doc["metrics"]["native_t1"]["used_native"] == doc["metrics"]["graphs_touched"] > 0
    assert len(doc["graphs"]) == 4


@pytest.mark.native
def test_run_smoke_turn_runs_the_demo_text_on_the_demo_graph(demo_graph, tmp_path):
    smoke = clematis.run_smoke_turn({"perf": {"native": {"t1": {"enabled": True}}}}, log_dir=tmp_path)
    assert isinstance(smoke, clematis.TurnResult)
    assert same_turn(smoke, clematis.run_turn(demo_graph, DEMO_TEXT, None))
    assert (tmp_path / "turn.jsonl").exists()


@pytest.mark.parametrize("call, error, match", [
    (lambda g: clematis.run_turn("graph", "x"), TypeError, "graphs must be"),
    (lambda g: clematis.run_turn([], "x"), ValueError, "at least one"),
    (lambda g: clematis.run_turn([g, 3], "x"), TypeError, r"graphs\[1\]"),
    (lambda g: clematis.run_turn(g, 42), TypeError, "text_or_seeds"),
    (lambda g: clematis.run_turn(g, [1.5]), TypeError, "seed 1.5"),
    (lambda g: clematis.run_turn(g, {"garden:clematis": float("inf")}), ValueError, "seed weight"),
    (lambda g: clematis.run_turn(g, "x", turn="1"), TypeError, "turn"),
    (lambda g: clematis.run_turn(g, "x", agent=1), TypeError, "agent"),
    (lambda g: clematis.run_turn(g, "x", backend="gpu"), ValueError, "backend"),
])
def test_bad_arguments_raise_before_work(demo_graph, call, error, match):
    with pytest.raises(error, match=match):
        call(demo_graph)


def test_graph_membership_by_id_or_index(demo_graph):
    assert "garden:clematis" in demo_graph and "garden:nothing" not in demo_graph
    assert 0 in demo_graph and np.int64(252) in demo_graph
    assert 253 not in demo_graph and -1 not in demo_graph and True not in demo_graph and 1.0 not in demo_graph


def test_relations_the_config_does_not_name_keep_the_graph_multiplier():
    g = clematis.ConceptGraph.from_edges([("a", "b", 1.0, "causes"), ("b", "c", 1.0, "supports")],
                                         relation_multipliers={"causes": 0.3})
    assert g.with_relation_multipliers({"supports": 1.0, "associates": 0.6}) is g
    view = g.with_relation_multipliers({"supports": 0.5})
    assert view.relation_multipliers == {"causes": 0.3, "supports": 0.5}
    np.testing.assert_array_equal(view.arrays.rel_mult, np.array([0.3, 0.5], np.float32))
    assert view.arrays.rel_code is g.arrays.rel_code
    turn = clematis.run_turn(g, ["a"], {"t1": {"edge_type_mult": {"supports": 0.5}}})
    expected = np.float32(np.float32(0.3) * np.float32(0.6))  # weight 1 * mult 0.3 * decay(1) = 0.6
    assert turn.merged["b"] == float(expected)
