"""Reprs, HTML tables and DataFrames of graphs and results; TurnResult.top; show_config's report."""

from __future__ import annotations

import io

import numpy as np
import pytest

import clematis
from clematis import ConceptGraph
from clematis.display import MAX_REPR
from clematis.ranking import top_activations

TRICKY = "<b>Tom & \"Jerry\"</b>"


@pytest.fixture(scope="module")
def tricky_graph() -> ConceptGraph:
    edges = [("n0", f"n{i}", 0.9, "supports") for i in range(1, 40)] + [("n1", "n2", 0.5, "associates")]
    labels = {"n0": TRICKY, **{f"n{i}": f"concept number {i} " * 5 for i in range(1, 40)}}
    return ConceptGraph.from_edges(edges, labels=labels)


def test_result_repr_is_short_and_names_the_top(tricky_graph):
    result = clematis.propagate(tricky_graph, ["n0"], queue_budget=10000)
    text = repr(result)
    assert len(text) <= MAX_REPR and "\n" not in text
    assert text.startswith("T1Result(nodes=40, backend=") and "truncated=False" in text
    assert "pops=" in text and TRICKY[:10] in text


def test_result_html_escapes_labels_and_lists_metrics(tricky_graph):
    result = clematis.propagate(tricky_graph, ["n0"])
    page = result._repr_html_()
    assert TRICKY not in page and "&lt;b&gt;Tom &amp; &quot;Jerry&quot;&lt;/b&gt;" in page
    assert page.count("<tr>") == 1 + 10 + 1 + len(result.metrics)  # header, top 10, header, metrics
    assert f"backend {result.backend}" in page and "_max_delta_local" in page


def test_graph_repr_and_html(tricky_graph):
    text = repr(tricky_graph)
    assert len(text) <= MAX_REPR and text.startswith("ConceptGraph(n_nodes=40, n_edges=40")
    many = ConceptGraph.from_edges([("a", "b", 1.0, f"relation-{i}") for i in range(60)],
                                   relation_multipliers={f"relation-{i}": 1.0 for i in range(60)})
    assert len(repr(many)) <= MAX_REPR and repr(many).endswith("…)")
    page = tricky_graph._repr_html_()
    assert "40 nodes, 40 edges" in page and "&lt;b&gt;Tom" in page and "and 35 more nodes" in page


def test_to_pandas_follows_top_order(demo_graph):
    result = clematis.propagate(demo_graph, ["garden:clematis", "weather:storm"])
    df = result.to_pandas()
    assert list(df.columns) == ["id", "label", "activation"] and len(df) == len(result)
    assert [(i, label, float(a)) for i, label, a in df.itertuples(index=False)] == result.top(len(result))
    assert df["activation"].dtype == np.float32


def test_turn_result_top_triples_ranked_by_the_shared_rule(demo_graph):
    small = ConceptGraph.from_edges([("garden:clematis", "x:new", 2.0, "supports")], labels={"x:new": "new"})
    turn = clematis.run_turn([demo_graph, small], ["garden:clematis", "weather:storm"])
    expected = top_activations(turn.merged.items(), 8)
    labels = {**dict(zip(small.node_ids, small.labels, strict=True)),
              **dict(zip(demo_graph.node_ids, demo_graph.labels, strict=True))}  # the first graph wins
    assert turn.top(8) == [(node, labels[node], value) for node, value in expected]
    assert ("x:new", "new") in [(node, label) for node, label, _ in turn.top(len(turn.merged))]


def test_turn_result_repr_and_html(demo_graph):
    turn = clematis.run_turn([demo_graph, demo_graph], "storm over the trellis")
    text = repr(turn)
    assert len(text) <= MAX_REPR and text.startswith("TurnResult(turn=0, agent='agent', graphs=2")
    page = turn._repr_html_()
    assert "per graph" in page and page.count("<td>native</td>") + page.count("<td>python</td>") == 2


def test_show_config_returns_the_report_and_prints_only_when_asked(capsys):
    report = clematis.show_config()
    assert capsys.readouterr().out == ""
    assert isinstance(report, dict) and report["versions"]["clematis"] == clematis.__version__
    text = repr(report)
    assert text.startswith("versions:\n  clematis: ") and "\nbackend:\n  active: " in text
    assert str(report) == text
    out = io.StringIO()
    clematis.show_config(file=out)
    assert out.getvalue() == text + "\n"
