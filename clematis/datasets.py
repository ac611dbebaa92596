"""Graphs shipped inside the package."""

from __future__ import annotations

import json
from importlib import resources

from .graph import ConceptGraph

DEMO_TEXT = "After the storm, the clematis on the garden trellis needs compost and patience."


def demo_graph_records() -> tuple[list[str], dict[str, str], list[tuple[str, str, float, str]]]:
    """The demo graph as data: node ids in order, labels by id, ``(src, dst, weight, relation)``."""
    raw = json.loads(resources.files("clematis").joinpath("data", "demo_graph.json").read_text())
    return ([node["id"] for node in raw["nodes"]], {node["id"]: node["label"] for node in raw["nodes"]},
            [tuple(edge) for edge in raw["edges"]])


def load_demo_graph() -> ConceptGraph:
    """The demo concept graph: 253 concepts in twelve themes, typed edges (supports,
    associates, contradicts); node ids are ``theme:word``, labels the word."""
    nodes, labels, edges = demo_graph_records()
    return ConceptGraph.from_edges(edges, labels=labels, nodes=nodes)
