"""propagate(graph, text=...), Query.run(text=...), the str-as-seeds hint, whole-word matching."""

from __future__ import annotations

import pytest

import clematis
from clematis import ConceptGraph, Query
from clematis.seeding import seeds_from_text

LABELS = {"n:app": "app", "n:apple": "apple", "n:pie": "apple pie"}
EDGES = [("n:app", "n:apple", 0.5, "supports"), ("n:apple", "n:pie", 0.5, "supports")]
WORDS = ConceptGraph.from_edges(EDGES, labels=LABELS)


def test_text_seeds_like_seeds_from_text(demo_graph):
    text = "After the storm, the clematis needs compost."
    nodes, weights = seeds_from_text(demo_graph, text)
    assert nodes.size >= 3
    by_text = clematis.propagate(demo_graph, text=text)
    by_seeds = clematis.propagate(demo_graph, nodes.tolist(), weights.tolist())
    assert clematis.parity.identical(by_text, by_seeds)
    assert clematis.parity.identical(Query(demo_graph).run(text=text), by_text)


def test_whole_words_option():
    text = "An apple pie, not an app."
    assert [WORDS.labels[i] for i in seeds_from_text(WORDS, "pineapple")[0]] == ["app", "apple"]
    assert [WORDS.labels[i] for i in seeds_from_text(WORDS, "pineapple", whole_words=True)[0]] == []
    assert len(seeds_from_text(WORDS, text, whole_words=True)[0]) == 3
    assert seeds_from_text(WORDS, "apples and app_store", whole_words=True)[0].size == 0
    result = clematis.propagate(WORDS, text="apple", whole_words=True)
    assert result.to_dict()["n:apple"] == 1.0 and "n:app" not in result.to_dict()


def test_a_str_as_seeds_points_to_text(demo_graph):
    with pytest.raises(TypeError, match=r"got the str 'After the storm'; to seed from text, pass text="):
        clematis.propagate(demo_graph, "After the storm")
    with pytest.raises(TypeError, match="to seed from text"):
        Query(demo_graph).run("storm")


@pytest.mark.parametrize("kwargs, match", [
    ({}, "exactly one of seed_nodes or text="),
    ({"seed_nodes": ["weather:storm"], "text": "storm"}, "exactly one of seed_nodes or text="),
    ({"text": "storm", "seed_weights": [1.0]}, "seed_weights apply to seed_nodes"),
    ({"text": b"storm"}, "text must be a str"),
    ({"text": "storm", "whole_words": "yes"}, "whole_words must be a bool"),
])
def test_seeds_or_text_errors(demo_graph, kwargs, match):
    with pytest.raises(TypeError, match=match):
        clematis.propagate(demo_graph, **kwargs)
