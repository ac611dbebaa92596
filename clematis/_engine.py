"""Runs one validated query on the chosen backend and shapes the metrics of spec §6."""

from __future__ import annotations

import queue
from contextlib import contextmanager

import numpy as np

from . import _backend
from ._metrics import shape_metrics
from ._reference import propagate_reference
from ._validation import CSRArrays, T1Params


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
            graph.indptr, graph.indices, graph.weights, graph.rel_mult, graph.tie_pos,
            graph.node_of_pos, seed_nodes, seed_weights, decay, workspace,
            params.radius_cap, params.iter_cap_layers, params.node_budget, params.frontier_cap,
            params.visited_cap, params.dedupe_window, params.queue_budget, params.relax_cap,
        )
    return d_nodes, d_vals, shape_metrics(iter_cap_layers=params.iter_cap_layers, **c)
