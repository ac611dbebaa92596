"""The runner library behind ``clematis-native``: generator, turns, chain semantics, comparison."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import clematis
from clematis.gel import decay_weights_reference
from clematis.graph import ConceptGraph
from clematis.parity import ABSENT, array_differences, graph_differences, json_differences
from clematis.ranking import top_activations
from clematis.runner import (
    STAGES,
    DatasetLock,
    RunOptions,
    generate_dataset,
    open_dataset,
    recover,
    run_chain,
    write_demo_dataset,
)
from clematis.runner.chain import ChainRun
from clematis.runner.commit import FAULT_ENV, FAULT_EXIT_STATUS, pending_commit, read_manifest
from clematis.runner.dataset import DatasetError, check_turn
from clematis.runner.verify import compare_results

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


def wheres(differences) -> list[str]:
    return [d.where for d in differences]


def test_json_differences_compare_floats_at_tolerance_and_the_rest_exactly():
    assert json_differences({"a": [1.0, 2]}, {"a": [1.0 + 1e-7, 2]}) == []
    assert json_differences(100.0, 100.0005, atol=0.0, rtol=1e-5) == []
    assert wheres(json_differences({"a": [1.0, 2]}, {"a": [1.001, 3]})) == [".a[0]", ".a[1]"]
    only = json_differences({"a": 1}, {"b": 1})
    assert [(d.where, d.a, d.b) for d in only] == [(".a", 1, ABSENT), (".b", ABSENT, 1)]
    assert wheres(json_differences([1.0], [1.0, 2.0])) == ["[len]"]
    for a, b in (("x", "y"), (True, 1), (1.0, "1.0"), (1, 2), (None, 0)):
        assert json_differences(a, b), (a, b)
    assert len(json_differences(list(range(10)), list(range(1, 11)), limit=3)) == 3
    with pytest.raises(ValueError, match="atol"):
        json_differences(1.0, 1.0, atol=-1)


def test_array_differences_floats_at_tolerance_integers_exactly():
    a = np.array([1.0, 2.0, 3.0], np.float32)
    assert array_differences(a, a * np.float32(1 + 1e-7)) == []
    diffs = array_differences(a, np.array([1.0, 2.5, 3.0], np.float32), where=".w")
    assert [(d.where, d.a, d.b) for d in diffs] == [(".w[1]", 2.0, 2.5)]
    ints = np.arange(4, dtype=np.int32)
    assert wheres(array_differences(ints, ints + np.array([0, 0, 1, 0], np.int32))) == ["[2]"]
    assert wheres(array_differences(ints, ints.astype(np.int64))) == [".dtype_shape"]
    assert wheres(array_differences(ints, ints[:3])) == [".dtype_shape"]
    assert array_differences(np.array([np.nan]), np.array([np.nan]))  # NaN never matches


def test_graph_differences_structure_exactly_weights_at_tolerance(demo_graph):
    w = demo_graph.arrays.weights
    assert graph_differences(demo_graph, demo_graph.with_weights(w * np.float32(1 + 1e-7))) == []
    bumped = w.copy()
    bumped[5] += np.float32(0.01)
    assert wheres(graph_differences(demo_graph, demo_graph.with_weights(bumped))) == [".weights[5]"]
    nodes, labels, edges = clematis.datasets.demo_graph_records()
    turned = ConceptGraph.from_edges(((d, s, w, r) for s, d, w, r in edges), labels=labels, nodes=nodes)
    assert {d.where.split("[")[0] for d in graph_differences(demo_graph, turned)} >= {".indptr", ".indices"}


def test_with_weights_checks_the_new_weights(demo_graph):
    with pytest.raises(ValueError, match="weights must have one entry per edge"):
        demo_graph.with_weights(np.ones(3, np.float32))
    with pytest.raises(ValueError, match="weights must be finite"):
        demo_graph.with_weights(np.full(demo_graph.n_edges, np.inf))


# ---- all-or-nothing commits: kill the run at every step of its commit ----------------------------

SCRIPT = Path(sys.executable).with_name("clematis-native")


def result_files(root: Path) -> dict[str, str]:
    """sha256 of every file under artifacts/ and state/."""
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for top in ("artifacts", "state") for p in sorted((root / top).rglob("*")) if p.is_file()}


def check_manifest_matches_tree(root: Path) -> None:
    """The manifest lists exactly the runner's outputs present, with their digests."""
    manifest = read_manifest(root)["outputs"]
    present = {p.relative_to(root).as_posix() for top in ("artifacts", "state", "timings")
               for p in (root / top).rglob("*") if p.is_file()} - {"artifacts/notes.txt"}
    assert set(manifest) == present
    assert all(manifest[rel] == hashlib.sha256((root / rel).read_bytes()).hexdigest() for rel in present)


@pytest.fixture(scope="module")
def commit_case(tmp_path_factory) -> dict:
    """A committed dataset whose inputs then changed (fewer turns, another GEL rate), and the
    result files before and after an uninterrupted second run."""
    tmp = tmp_path_factory.mktemp("commit")
    root = generate_dataset(tmp / "prepared", nodes=40, edges=160, turns=3, seed=1)
    run_chain(open_dataset(root), 1, 5, RunOptions(), progress=False)
    (root / "artifacts/notes.txt").write_text("a user's file")
    (root / "turns.jsonl").write_text("".join((root / "turns.jsonl").read_text().splitlines(True)[:2]))
    (root / "config.yaml").write_text((root / "config.yaml").read_text().replace("rate: 0.9", "rate: 0.5"))
    reference = tmp / "reference"
    shutil.copytree(root, reference, symlinks=True)
    run_chain(open_dataset(reference), 1, 5, RunOptions(), progress=False)
    before, after = result_files(root), result_files(reference)
    assert before != after and "artifacts/turn_0002/stage4_merge.json" in set(before) - set(after)
    return {"tmp": tmp, "prepared": root, "before": before, "after": after}


def kill_during_commit(case: dict, k: int) -> tuple[int, Path, bool]:
    """Run on a fresh copy, ended at commit step ``k``; returns the exit status, the copy and
    whether the commit journal was left behind."""
    root = case["tmp"] / f"killed_{k}"
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(case["prepared"], root, symlinks=True)
    proc = subprocess.run([os.fspath(SCRIPT), "run", "--dataset", os.fspath(root)], capture_output=True,
                          text=True, env={**os.environ, FAULT_ENV: str(k)}, timeout=300)
    return proc.returncode, root, pending_commit(root)


def assert_wholly_before_or_after(case: dict, root: Path) -> str:
    with DatasetLock(root):
        recover(root)
    now = result_files(root)
    assert now in (case["before"], case["after"]), "a mixed dataset"
    assert (root / "artifacts/notes.txt").read_text() == "a user's file"
    assert not any((root / ".clematis" / d).exists() for d in ("next", "prev", "staging"))
    check_manifest_matches_tree(root)
    return "before" if now == case["before"] else "after"


@pytest.mark.parametrize("k", [1, 9, 17, 18, 21, 26])
def test_a_run_killed_at_a_commit_step_leaves_the_dataset_before_or_after(commit_case, k):
    status, root, journal = kill_during_commit(commit_case, k)
    assert status == FAULT_EXIT_STATUS
    outcome = assert_wholly_before_or_after(commit_case, root)
    if journal or k == 1:  # the journal is the commit point: a commit that has one is completed
        assert outcome == ("after" if journal else "before")


def test_the_next_run_completes_an_interrupted_commit(commit_case):
    status, root, journal = kill_during_commit(commit_case, 20)
    assert status == FAULT_EXIT_STATUS and journal
    proc = subprocess.run([os.fspath(SCRIPT), "run", "--dataset", os.fspath(root)], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "an interrupted commit was completed before this run" in proc.stderr
    assert "recovered the lock of a run that did not finish" in proc.stderr
    assert result_files(root) == commit_case["after"]


@pytest.mark.slow
def test_a_run_killed_at_any_commit_step_leaves_the_dataset_before_or_after(commit_case):
    outcomes = []
    for k in range(1, 200):
        status, root, journal = kill_during_commit(commit_case, k)
        if status == 0:  # k is past the last step: the run finished
            assert result_files(root) == commit_case["after"]
            break
        assert status == FAULT_EXIT_STATUS
        outcomes.append(assert_wholly_before_or_after(commit_case, root))
        shutil.rmtree(root)
    assert len(outcomes) >= 20 and {"before", "after"} <= set(outcomes)


def test_a_journal_names_only_output_directories(tmp_path):
    root = write_demo_dataset(tmp_path / "demo")
    (root / ".clematis").mkdir()
    (root / ".clematis/journal.json").write_text('{"dirs": "not a list"')
    with DatasetLock(root), pytest.raises(DatasetError, match="unreadable commit journal"):
        recover(root)


def test_fault_hook_value_is_checked(tmp_path, monkeypatch):
    root = write_demo_dataset(tmp_path / "demo")
    monkeypatch.setenv(FAULT_ENV, "soon")
    with pytest.raises(ValueError, match=FAULT_ENV):
        run_chain(open_dataset(root), 1, 5, RunOptions(), progress=False)
    assert not (root / "artifacts").exists()


@pytest.mark.native
def test_comparison_names_exactly_the_one_altered_result_file(tmp_path):
    golden = write_demo_dataset(tmp_path / "golden")
    run_chain(open_dataset(golden), 1, 5, RunOptions(backend="python"), progress=False)
    run = write_demo_dataset(tmp_path / "run")
    run_chain(open_dataset(run), 1, 5, RunOptions(backend="native"), progress=False)
    tol = {"atol": 1e-6, "rtol": 1e-5}
    files = compare_results(golden, run, tol)
    assert len(files) == 25 and all(f["status"] == "match" for f in files)
    for entry in files:
        altered = tmp_path / "altered"
        shutil.rmtree(altered, ignore_errors=True)
        shutil.copytree(golden, altered)
        path = altered / entry["file"]
        if path.suffix == ".npz":
            graph = ConceptGraph.load(path)
            graph.with_weights(graph.arrays.weights + np.float32(0.01)).save(path)
        else:
            document = json.loads(path.read_text())
            document["turn_or_graphs"] = "altered"
            path.write_text(json.dumps(document))
        failing = [f["file"] for f in compare_results(altered, run, tol) if f["status"] != "match"]
        assert failing == [entry["file"]]


def test_stage_registry_is_explicit_and_complete():
    assert [s.number for s in STAGES] == [1, 2, 3, 4, 5]
    assert all(callable(s.io) and callable(s.run) for s in STAGES)
    assert not hasattr(ChainRun, "stage3")


def test_ranking_rule_is_activation_descending_then_node_id():
    items = [("b", 1.0), ("a", 1.0), ("c", 2.0), ("d", -3.0)]
    assert top_activations(items) == [("c", 2.0), ("a", 1.0), ("b", 1.0), ("d", -3.0)]
    assert top_activations(items, 2) == [("c", 2.0), ("a", 1.0)]
    with pytest.raises(ValueError, match="k must be"):
        top_activations(items, -1)
