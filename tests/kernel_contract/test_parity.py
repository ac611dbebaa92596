"""clematis.parity: tolerances, node sets, metrics, result kinds, golden files, messages."""

from __future__ import annotations

import json

import numpy as np
import pytest

import clematis
from clematis.parity import (
    ParityError,
    assert_parity,
    compare,
    load_golden,
    save_golden,
)

METRICS = {"pops": 3, "iters": 1, "propagations": 2, "_max_delta_local": 1.0}


def raw(nodes, values, **metrics):
    return (np.array(nodes, np.int32), np.array(values, np.float32), {**METRICS, **metrics})


def test_identical_results_are_ok():
    report = compare(raw([1, 4], [0.5, 0.25]), raw([1, 4], [0.5, 0.25]))
    assert report.ok and report.n_differing_nodes == 0 and report.metric_diffs == {}
    assert report.summary() == "no differences (2 nodes, atol=1e-06, rtol=1e-05)"


@pytest.mark.parametrize("a, b, atol, rtol, ok", [
    (1.0, 1.0 + 1e-6, 1e-6, 0.0, True),
    (1.0, 1.0 + 3e-6, 1e-6, 0.0, False),
    (100.0, 100.001, 0.0, 1e-5, True),     # 1e-3 <= 1e-5 * 100.001
    (100.0, 100.002, 0.0, 1e-5, False),
    (-2.0, 2.0, 1e-6, 1e-5, False),
    (0.0, 5e-7, 1e-6, 0.0, True),
])
def test_value_tolerance_is_atol_plus_rtol_times_the_larger_magnitude(a, b, atol, rtol, ok):
    report = compare(([0], [a], {}), ([0], [b], {}), atol=atol, rtol=rtol)
    assert report.ok is ok


def test_missing_extra_and_mismatched_nodes_are_reported():
    report = compare(raw([1, 2, 3], [0.5, 0.25, 0.75]), raw([2, 3, 9], [0.25, 0.7, 0.1]),
                     labels=("py", "native"))
    assert not report.ok
    assert [d.node for d in report.mismatched] == [3]
    assert [(d.node, d.a, d.b) for d in report.missing] == [(1, 0.5, None)]
    assert [(d.node, d.a, d.b) for d in report.extra] == [(9, None, pytest.approx(0.1))]
    assert report.n_differing_nodes == 3
    assert report.summary() == ("3 node(s) differ. node=3 py=0.75 native=0.7 Δ=0.05 "
                                "node=1 py=0.5 native=absent node=9 py=absent native=0.1")


def test_summary_shows_the_first_few_nodes_and_counts_the_rest():
    report = compare(raw(range(6), [1.0] * 6), raw(range(6), [2.0] * 6))
    text = report.summary()
    assert text.startswith("6 node(s) differ. node=0 a=1.0 b=2.0 Δ=1")
    assert text.count("node=") == 3 and text.endswith("(+3 more)")


def test_integer_metrics_exactly_float_metrics_at_tolerance_and_counters_ignored():
    a = raw([1], [0.5], native_t1={"used_native": 1})
    b = raw([1], [0.5], native_t1={"used_native": 0})
    assert compare(a, b).ok
    assert compare(a, raw([1], [0.5], pops=4)).metric_diffs == {"pops": (3, 4)}
    assert compare(a, raw([1], [0.5], _max_delta_local=1.0 + 1e-7)).ok
    assert compare(a, raw([1], [0.5], _max_delta_local=1.5)).metric_diffs == {"_max_delta_local": (1.0, 1.5)}
    missing = ([1], [0.5], {"pops": 3})
    assert compare(missing, ([1], [0.5], {"pops": 3, "iters": 2})).metric_diffs == {"iters": (None, 2)}
    report = compare(a, raw([1], [0.5], pops=4), labels=("py", "native"))
    assert report.summary() == "0 node(s) differ. metrics differ: pops py=3 native=4"


def test_assert_parity_raises_parity_error_with_the_report():
    with pytest.raises(ParityError) as info:
        assert_parity(raw([123], [0.532]), raw([123], [0.531]), labels=("py", "native"))
    assert str(info.value) == "parity mismatch: 1 node(s) differ. node=123 py=0.532 native=0.531 Δ=0.001"
    assert isinstance(info.value, AssertionError)
    assert info.value.report.mismatched[0].node == 123
    assert assert_parity(raw([1], [0.5]), raw([1], [0.5])).ok


@pytest.mark.native
def test_results_of_both_backends_compare_equal_by_node_id(demo_graph):
    py = clematis.propagate(demo_graph, ["weather:storm"], backend="python", queue_budget=500)
    nat = clematis.propagate(demo_graph, ["weather:storm"], backend="native", queue_budget=500)
    report = compare(py, nat, atol=0, rtol=0)
    assert report.ok and report.n_nodes == len(py)
    as_tuple = (nat.nodes, nat.values, nat.metrics)
    keyed_by_index = compare(as_tuple, as_tuple)
    assert keyed_by_index.ok


def test_turn_results_compare_their_merged_deltas(demo_graph):
    cfg = {"t1": {"queue_budget": 300}}
    a = clematis.run_turn([demo_graph, demo_graph], "storm", cfg, backend="python")
    b = clematis.run_turn([demo_graph, demo_graph], "storm", cfg)
    assert compare(a, b, atol=0, rtol=0).ok
    c = clematis.run_turn(demo_graph, "storm", cfg)
    report = compare(a, c, atol=0, rtol=0)
    assert len(report.mismatched) == len(a.merged)
    assert set(report.metric_diffs) >= {"pops", "graphs_touched"}


def test_golden_round_trip_is_exact(demo_graph, tmp_path):
    result = clematis.run_turn(demo_graph, "storm compost", {"t1": {"queue_budget": 300}})
    path = tmp_path / "golden.json"
    saved = save_golden(result, path, meta={"text": "storm compost"})
    loaded = load_golden(path)
    assert loaded == saved
    assert loaded.meta == {"text": "storm compost"}
    assert "native_t1" not in loaded.metrics
    assert compare(loaded, result, atol=0, rtol=0).ok
    doc = json.loads(path.read_text())
    assert doc["format"] == "clematis.parity.golden" and doc["version"] == 1
    assert [node for node, _ in doc["nodes"]] == list(result.merged)
    stored = np.array([v for _, v in doc["nodes"]], np.float32)
    np.testing.assert_array_equal(stored.view(np.int32),
                                  np.array(list(result.merged.values()), np.float32).view(np.int32))


def test_golden_detects_a_changed_result(tmp_path):
    path = tmp_path / "g.json"
    save_golden(raw([1, 2], [0.5, 0.25]), path)
    golden = load_golden(path)
    assert golden.nodes == {1: 0.5, 2: 0.25}
    assert not compare(golden, raw([1, 2], [0.5, 0.2501])).ok
    assert not compare(golden, raw([1, 2], [0.5, 0.25], pops=9)).ok


@pytest.mark.parametrize("text, match", [
    ("not json", "not a readable golden file"),
    ('{"format": "other"}', "not a clematis golden file"),
    ('{"format": "clematis.parity.golden", "version": 9}', "unsupported golden version 9"),
    ('{"format": "clematis.parity.golden", "version": 1, "nodes": [[1]], "metrics": {}}', "malformed"),
])
def test_bad_golden_files_are_refused(tmp_path, text, match):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(ValueError, match=match):
        load_golden(path)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"atol": -1}, ValueError, "atol"),
    ({"rtol": float("nan")}, ValueError, "rtol"),
    ({"atol": True}, ValueError, "atol"),
])
def test_bad_tolerances_are_refused(kwargs, error, match):
    with pytest.raises(error, match=match):
        compare(raw([1], [1.0]), raw([1], [1.0]), **kwargs)


def test_unsupported_result_kinds_are_refused():
    with pytest.raises(TypeError, match="a result must be"):
        compare({"nodes": []}, raw([1], [1.0]))
