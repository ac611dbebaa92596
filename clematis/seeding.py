"""Text seeding (docs/spec.md §7.1): nodes whose label occurs in the text become seeds of weight 1.0."""

from __future__ import annotations

import re

import numpy as np

from .graph import ConceptGraph


def seeds_from_text(graph: ConceptGraph, text: str, *,
                    whole_words: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Seed indices (in label scan order, each node once) and their weights (all 1.0).

    A node is a seed when its lower-cased label is a substring of the lower-cased text (no word
    boundaries: "app" matches "apple"); with ``whole_words=True`` only where no letter, digit or
    underscore touches it on either side ("app" matches "an app." but not "apple").
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    if not isinstance(whole_words, bool | np.bool_):
        raise TypeError(f"whole_words must be a bool, got {whole_words!r}")
    lowered = text.lower()
    nodes = [i for i, label in graph.label_scan_order if (
        re.search(rf"(?<!\w){re.escape(label)}(?!\w)", lowered) if whole_words else label in lowered)]
    return (np.array(nodes, dtype=graph.arrays.indptr.dtype),
            np.ones(len(nodes), dtype=np.float32))
