"""Runs one validated query on the chosen backend and shapes the metrics of spec §6."""

from __future__ import annotations

import queue
from contextlib import contextmanager

import numpy as np

from . import _backend
from ._reference import propagate_reference
from ._validation import CSRArrays, T1Params

METRIC_NAMES = ("pops", "iters", "propagations", "radius_cap_hits", "layer_cap_hits", "node_budget_hits",
                "frontier_evicted", "dedupe_hits", "visited_evicted", "_max_delta_local")


def zero_metrics() -> dict:
    """The metrics of a query that did nothing (no seeds), in spec §6 order."""
    return {name: 0.0 if name == "_max_delta_local" else 0 for name in METRIC_NAMES}


class WorkspacePool:
    """Native scratch spaces for one graph, reused across queries; one per concurrent caller."""

    def __init__(self, n_nodes: int) -> None:
        self.n_nodes = n_nodes
        self._free: queue.SimpleQueue = queue.SimpleQueue()

    @contextmanager
    def acquire(self):
        try:
            workspace = self._free.get_nowait()
        except queue.Empty:
            workspace = _backend.native_module.Workspace(self.n_nodes)
        try:
            yield workspace
        finally:
            self._free.put(workspace)


def run_query(
    graph: CSRArrays,
    seed_nodes: np.ndarray,
    seed_weights: np.ndarray,
    decay: np.ndarray,
    params: T1Params,
    backend: str,
    pool: WorkspacePool | None = None,
) -> tuple[np.ndarray, np.ndarray, dict]:
    """``backend`` is already resolved to ``"native"`` or ``"python"``."""
    if backend == "python":
        return propagate_reference(graph, seed_nodes, seed_weights, decay, params)
    pool = pool if pool is not None else WorkspacePool(graph.n_nodes)
    with pool.acquire() as workspace:
        d_nodes, d_vals, c = _backend.native_module.propagate(
            graph.indptr, graph.indices, graph.weights, graph.rel_mult, graph.key_rank,
            seed_nodes, seed_weights, decay, workspace,
            params.radius_cap, params.iter_cap_layers, params.node_budget, params.frontier_cap,
            params.visited_cap, params.dedupe_window, params.queue_budget, params.relax_cap,
        )
    metrics = {
        "pops": c["pops"],
        "iters": min(c["layers_processed"], params.iter_cap_layers),
        "propagations": c["propagations"],
        "radius_cap_hits": c["radius_cap_hits"],
        "layer_cap_hits": c["layer_cap_hits"],
        "node_budget_hits": c["node_budget_hits"],
        "frontier_evicted": c["frontier_evicted"],
        "dedupe_hits": c["dedupe_hits"],
        "visited_evicted": c["visited_evicted"],
        "_max_delta_local": float(c["max_delta"]),
    }
    return d_nodes, d_vals, metrics
