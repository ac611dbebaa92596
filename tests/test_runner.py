"""The runner library behind ``clematis-native``: generator, turns, chain semantics, comparison."""

from __future__ import annotations

import json

import numpy as np
import pytest

import clematis
from clematis.gel import decay_weights_reference
from clematis.graph import ConceptGraph
from clematis.runner import RunOptions, generate_dataset, open_dataset, run_chain, write_demo_dataset
from clematis.runner.dataset import DatasetError, check_turn
from clematis.runner.verify import diff_json

SMALL = {"nodes": 40, "edges": 160, "turns": 3}


def graph_bits(path) -> tuple:
    a = ConceptGraph.load(path).arrays
    return a.indptr.tobytes(), a.indices.tobytes(), a.weights.tobytes(), a.rel_code.tobytes()


def test_generator_is_deterministic(tmp_path):
    first = generate_dataset(tmp_path / "a", seed=3, **SMALL)
    second = generate_dataset(tmp_path / "b", seed=3, **SMALL)
    other = generate_dataset(tmp_path / "c", seed=4, **SMALL)
    for name in ("config.yaml", "turns.jsonl"):
        assert (first / name).read_bytes() == (second / name).read_bytes()
    assert (first / "turns.jsonl").read_bytes() != (other / "turns.jsonl").read_bytes()
    for graph in ("g00", "g01"):
        assert graph_bits(first / f"graphs/{graph}.npz") == graph_bits(second / f"graphs/{graph}.npz")
        assert graph_bits(first / f"graphs/{graph}.npz") != graph_bits(other / f"graphs/{graph}.npz")
    dataset = open_dataset(first)
    assert dataset.graph_names == ("g00", "g01") and len(dataset.turns) == 3
    assert ConceptGraph.load(first / "graphs/g00.npz").n_edges == 160


@pytest.mark.parametrize(("kwargs", "name"), [({"nodes": 0}, "nodes"), ({"edges": -1}, "edges"),
                                              ({"turns": 1.5}, "turns"), ({"seed": True}, "seed"),
                                              ({"gel_rate": 1.5}, "gel_rate")])
def test_generator_refuses_bad_arguments(tmp_path, kwargs, name):
    with pytest.raises(ValueError, match=name):
        generate_dataset(tmp_path / "x", **kwargs)
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("turn", [{"text": 3}, {"seeds": {}}, {"seeds": {"a": float("nan")}},
                                  {"seeds": {"a": True}}, {"text": "x", "seeds": {"a": 1}}, ["text"]])
def test_bad_turns_are_refused(turn):
    with pytest.raises((ValueError, TypeError)):
        check_turn(turn)


def test_open_dataset_names_what_is_missing(tmp_path):
    root = write_demo_dataset(tmp_path / "demo")
    (root / "turns.jsonl").unlink()
    with pytest.raises(DatasetError, match="no turns.jsonl"):
        open_dataset(root)


def test_stage4_merge_of_the_artifacts_equals_run_turns_merge(tmp_path):
    root = write_demo_dataset(tmp_path / "demo")
    dataset = open_dataset(root)
    run_chain(dataset, 1, 5, RunOptions(), progress=False)
    graphs = [ConceptGraph.load(p) for p in dataset.graph_files]
    for turn, query in enumerate(dataset.turns[:2]):
        if turn:  # turn 1 propagates over turn 0's decayed weights
            gel = dataset.config["gel"]["decay"]
            graphs = [g.with_weights(decay_weights_reference(g.arrays.weights, np.float32(gel["rate"]), 1))
                      for g in graphs]
        expected = clematis.run_turn(graphs, query.get("text", query.get("seeds")), dataset.config)
        merged = json.loads((root / f"artifacts/turn_{turn:04d}/stage4_merge.json").read_text())["merged"]
        assert list(merged) == sorted(expected.merged)
        got = np.array([merged[k] for k in sorted(expected.merged)], dtype=np.float32)
        want = np.array([expected.merged[k] for k in sorted(expected.merged)], dtype=np.float32)
        np.testing.assert_array_equal(got.view(np.int32), want.view(np.int32))


@pytest.mark.native
def test_run_chain_does_not_touch_graphs_it_was_given(tmp_path):
    root = write_demo_dataset(tmp_path / "demo")
    before = (root / "graphs/demo.npz").read_bytes()
    run_chain(open_dataset(root), 1, 5, RunOptions(backend="native"), progress=False)
    assert (root / "graphs/demo.npz").read_bytes() == before


def test_library_entry_points_check_their_arguments(tmp_path):
    dataset = open_dataset(write_demo_dataset(tmp_path / "demo"))
    with pytest.raises(TypeError, match="dataset must be a Dataset"):
        run_chain(str(tmp_path / "demo"), 1, 5, RunOptions())
    with pytest.raises(TypeError, match="start step"):
        run_chain(dataset, "1", 5, RunOptions())
    with pytest.raises(ValueError, match="backend"):
        RunOptions(backend="cuda")
    with pytest.raises(ValueError, match="workers"):
        RunOptions(workers=-1)
    assert not (tmp_path / "demo" / "artifacts").exists()


def test_diff_json_compares_floats_at_tolerance_and_the_rest_exactly():
    assert diff_json({"a": [1.0, 2]}, {"a": [1.0 + 1e-7, 2]}, 1e-6, 1e-5) == []
    assert diff_json(100.0, 100.0005, 0.0, 1e-5) == []
    diffs = diff_json({"a": [1.0, 2]}, {"a": [1.001, 3]}, 1e-6, 1e-5)
    assert [d["where"] for d in diffs] == [".a[0]", ".a[1]"]
    assert diff_json({"a": 1}, {"b": 1}, 1, 1)[0]["where"] in (".a", ".b")
    assert diff_json([1.0], [1.0, 2.0], 1, 1) == [{"where": "[len]", "golden": 1, "run": 2}]
    assert diff_json("x", "y", 1, 1) and diff_json(True, 1, 1, 1) and diff_json(1.0, "1.0", 1, 1)


def test_with_weights_checks_the_new_weights(demo_graph):
    with pytest.raises(ValueError, match="weights must have one entry per edge"):
        demo_graph.with_weights(np.ones(3, np.float32))
    with pytest.raises(ValueError, match="weights must be finite"):
        demo_graph.with_weights(np.full(demo_graph.n_edges, np.inf))
