"""Graphs shipped inside the package."""

from __future__ import annotations

import json
from importlib import resources

from .graph import ConceptGraph

DEMO_TEXT = "After the storm, the clematis on the garden trellis needs compost and patience."


def load_demo_graph() -> ConceptGraph:
    """The demo concept graph: 253 concepts in twelve themes, typed edges (supports,
    associates, contradicts); node ids are ``theme:word``, labels the word."""
    raw = json.loads(resources.files("clematis").joinpath("data", "demo_graph.json").read_text())
    labels = {node["id"]: node["label"] for node in raw["nodes"]}
    return ConceptGraph.from_edges(
        (tuple(edge) for edge in raw["edges"]),
        labels=labels,
        nodes=[node["id"] for node in raw["nodes"]],
    )
