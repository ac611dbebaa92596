"""Strict parity through ``clematis.run_turn``, nightly (slow; ``make parity-sweep`` runs it).

With ``CLEMATIS_STRICT_PARITY=1`` every graph of a turn runs on both backends and any difference
raises ParityError. Here the config also sets the parity tolerances to zero, so the check is
bit-identity, over the demo graph under each decay mode, cap and budget, and over random graphs.
The suite's autouse fixture clears ``CLEMATIS_STRICT_PARITY`` before every test, so each test
sets it itself and counts the reference runs to prove the comparison happened.
"""

from __future__ import annotations

import numpy as np
import pytest

import clematis
import clematis._kernel_calls
from clematis import _backend
from clematis.datasets import DEMO_TEXT

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("native_required")]

ZERO_TOLERANCE = {"perf": {"native": {"t1": {"parity": {"atol": 0.0, "rtol": 0.0}}}}}
RELATIONS = ("supports", "associates", "contradicts", "refines")

DEMO_CONFIGS = {
    "defaults": {},
    "attn_quad": {"t1": {"decay": {"mode": "attn_quad", "alpha": 0.8}}},
    "exp_floor, slow decay": {"t1": {"decay": {"mode": "exp_floor", "rate": 0.95, "floor": 0.0},
                                     "radius_cap": 8}},
    "caps and dedupe": {"t1": {"queue_budget": 50_000, "radius_cap": 6},
                        "perf": {"t1": {"caps": {"frontier": 64, "visited": 128}, "dedupe_window": 8}}},
    "tight budgets": {"t1": {"queue_budget": 7, "iter_cap": 3, "node_budget": 0.5, "relax_cap": 20}},
    "threads": {"perf": {"parallel": {"enabled": True, "t1": True, "max_workers": 2}}},
}


def with_zero_tolerance(config: dict) -> dict:
    perf = {**config.get("perf", {}), **ZERO_TOLERANCE["perf"]}
    return {**config, "perf": perf}


def bits(values) -> np.ndarray:
    return np.asarray(values, dtype=np.float32).view(np.int32)


@pytest.fixture
def reference_runs(monkeypatch) -> list:
    """Switch strict parity on for this test; the list grows by one per Python reference run."""
    monkeypatch.setenv("CLEMATIS_STRICT_PARITY", "1")
    assert _backend.strict_parity_enabled()
    real = clematis._kernel_calls.propagate_reference
    runs: list = []

    def counting(*args):
        runs.append(1)
        return real(*args)

    monkeypatch.setattr(clematis._kernel_calls, "propagate_reference", counting)
    return runs


def strict_turn(graphs, seeds, config: dict, reference_runs: list) -> clematis.TurnResult:
    """A native turn under strict parity at zero tolerance, checked against a python turn."""
    config = with_zero_tolerance(config)
    seeded = sum(1 for graph in graphs if isinstance(seeds, str) or any(node in graph for node in seeds))
    assert seeded, "no graph holds a seed: the turn would compare nothing"
    before = len(reference_runs)
    turn = clematis.run_turn(graphs, seeds, config)
    assert len(reference_runs) - before == seeded  # the reference ran next to every kernel run
    counters = turn.metrics["native_t1"]
    assert counters["used_native"] == seeded and counters["strict_parity_mismatch"] == 0
    python = clematis.run_turn(graphs, seeds, config, backend="python")
    for native_result, python_result in zip(turn.graphs, python.graphs, strict=True):
        assert np.array_equal(native_result.nodes, python_result.nodes)
        assert np.array_equal(bits(native_result.values), bits(python_result.values))
    assert list(turn.merged) == list(python.merged)
    assert np.array_equal(bits(list(turn.merged.values())), bits(list(python.merged.values())))
    return turn


def random_graph(rng: np.random.Generator, n: int) -> clematis.ConceptGraph:
    """Ids ``c0..``, weights with many ties and negatives, four relations (one custom), self-loops."""
    m = int(rng.integers(0, 6 * n))
    ids = [f"c{i}" for i in rng.permutation(n)]
    tie_prone = np.array([0.25, 0.5, 1.0, -0.5, -1.0], dtype=np.float32)
    weights = np.where(rng.random(m) < 0.5, rng.choice(tie_prone, m),
                       rng.uniform(-1.0, 1.0, m).astype(np.float32))
    edges = [(ids[a], ids[b], float(w), str(rel)) for a, b, w, rel in zip(
        rng.integers(0, n, m), rng.integers(0, n, m), weights, rng.choice(RELATIONS, m), strict=True)]
    return clematis.ConceptGraph.from_edges(edges, nodes=ids, relation_multipliers={"refines": 0.7})


def random_config(rng: np.random.Generator) -> dict:
    if rng.random() < 0.5:
        decay = {"mode": "exp_floor", "rate": float(rng.choice([0.3, 0.5, 0.6, 0.9, rng.random()])),
                 "floor": float(rng.choice([0.0, 0.05, 0.2]))}
    else:
        decay = {"mode": "attn_quad", "alpha": float(rng.choice([0.0, 0.8, 2.0]))}
    t1 = {"decay": decay, "radius_cap": int(rng.integers(0, 8)), "iter_cap": int(rng.integers(1, 60)),
          "node_budget": float(rng.choice([0.5, 1.5, 4.0])), "queue_budget": int(rng.integers(1, 20_000)),
          "edge_type_mult": {rel: float(rng.choice([1.0, 0.8, 0.6, 0.5])) for rel in RELATIONS}}
    caps = {"frontier": int(rng.choice([0, 4, 64])), "visited": int(rng.choice([0, 16]))}
    perf = {"t1": {"caps": caps, "dedupe_window": int(rng.choice([0, 2, 16]))},
            "parallel": {"enabled": bool(rng.random() < 0.5), "t1": True, "max_workers": 2}}
    return {"t1": t1, "perf": perf}


@pytest.mark.parametrize("name", list(DEMO_CONFIGS))
def test_demo_graph_turns_are_bit_identical_under_strict_parity(demo_graph, reference_runs, name):
    rng = np.random.default_rng(sorted(DEMO_CONFIGS).index(name))
    ids = list(demo_graph.node_ids)
    seed_sets = [DEMO_TEXT,
                 *({str(node): float(w) for node, w in zip(rng.choice(ids, k, replace=False),
                                                           rng.choice([1.0, 0.5, -0.5, 2.0], k), strict=True)}
                   for k in (1, 3, 12))]
    graphs = [demo_graph] * (3 if name == "threads" else 1)
    for seeds in seed_sets:
        turn = strict_turn(graphs, seeds, DEMO_CONFIGS[name], reference_runs)
        assert turn.metrics["graphs_touched"] == len(graphs)
    assert len(reference_runs) >= len(seed_sets) * len(graphs)


@pytest.mark.parametrize("seed", range(48))
def test_random_graph_turns_are_bit_identical_under_strict_parity(reference_runs, seed):
    rng = np.random.default_rng(1_000 + seed)
    sizes = rng.integers(1, 300, int(rng.integers(1, 4)))
    graphs = [random_graph(rng, int(n)) for n in sizes]
    k = int(rng.integers(1, 20))
    seeds = {f"c{int(i)}": float(rng.choice([1.0, -1.0, 0.5, rng.uniform(-2, 2)]))
             for i in rng.integers(0, sizes.max(), k)}  # the largest graph holds every seed
    strict_turn(graphs, seeds, random_config(rng), reference_runs)


def test_a_one_ulp_difference_fails_the_turn(demo_graph, reference_runs, monkeypatch):
    """The harness itself: zero tolerance catches the smallest possible kernel difference."""
    real = _backend.native_module.propagate_batch

    def one_ulp_off(*args):
        d_nodes, d_vals, offsets, counters = real(*args)
        d_vals = d_vals.copy()
        d_vals[0] = np.nextafter(d_vals[0], np.float32(np.inf))
        return d_nodes, d_vals, offsets, counters

    monkeypatch.setattr(_backend.native_module, "propagate_batch", one_ulp_off)
    with pytest.raises(clematis.ParityError, match="strict parity mismatch"):
        clematis.run_turn(demo_graph, DEMO_TEXT, with_zero_tolerance({}))
    assert len(reference_runs) == 1
