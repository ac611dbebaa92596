"""Text seeding (docs/spec.md §7): nodes whose label occurs in the text become seeds of weight 1.0."""

from __future__ import annotations

import numpy as np

from .graph import ConceptGraph


def seeds_from_text(graph: ConceptGraph, text: str) -> tuple[np.ndarray, np.ndarray]:
    """Seed indices (in label scan order, each node once) and their weights (all 1.0).

    A node is a seed when its lower-cased label is a substring of the lower-cased text
    (no word boundaries: "app" matches "apple").
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    lowered = text.lower()
    nodes = [i for i, label in graph.label_scan_order if label in lowered]
    return (np.array(nodes, dtype=graph.arrays.indptr.dtype),
            np.ones(len(nodes), dtype=np.float32))
