"""The kernel metrics of docs/spec.md §6, shaped the same way for both backends."""

from __future__ import annotations

METRIC_NAMES = ("pops", "iters", "propagations", "radius_cap_hits", "layer_cap_hits", "node_budget_hits",
                "frontier_evicted", "dedupe_hits", "visited_evicted", "_max_delta_local")


def shape_metrics(*, pops: int, layers_processed: int, propagations: int, radius_cap_hits: int,
                  layer_cap_hits: int, node_budget_hits: int, frontier_evicted: int, dedupe_hits: int,
                  visited_evicted: int, max_delta: float, iter_cap_layers: int) -> dict:
    """Raw loop counters -> the metrics dict (``iters`` is capped at ``iter_cap_layers``)."""
    return {
        "pops": pops,
        "iters": min(layers_processed, iter_cap_layers),
        "propagations": propagations,
        "radius_cap_hits": radius_cap_hits,
        "layer_cap_hits": layer_cap_hits,
        "node_budget_hits": node_budget_hits,
        "frontier_evicted": frontier_evicted,
        "dedupe_hits": dedupe_hits,
        "visited_evicted": visited_evicted,
        "_max_delta_local": float(max_delta),
    }


def zero_metrics() -> dict:
    """The metrics of a query that did nothing (no seeds), in docs/spec.md §6 order."""
    return {name: 0.0 if name == "_max_delta_local" else 0 for name in METRIC_NAMES}
