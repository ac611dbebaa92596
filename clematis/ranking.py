"""The ranking rule of activations: activation descending, ties by node id ascending."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

Node = TypeVar("Node")


def top_activations(items: Iterable[tuple[Node, float]], k: int | None = None) -> list[tuple[Node, float]]:
    """The ``k`` highest ``(node id, activation)`` pairs (all when ``k`` is None), highest first;
    equal activations rank by node id, ascending."""
    if k is not None and (isinstance(k, bool) or not isinstance(k, int) or k < 0):
        raise ValueError(f"k must be an integer >= 0 or None, got {k!r}")
    return sorted(items, key=lambda item: (-item[1], item[0]))[:k]
