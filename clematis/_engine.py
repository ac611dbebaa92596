"""Runs validated queries (one, or a batch) on the chosen backend; shapes the metrics of spec §6."""

from __future__ import annotations

import itertools
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
    """One query; ``backend`` is already resolved to ``"native"`` or ``"python"``."""
    if backend == "python":
        return propagate_reference(graph, seed_nodes, seed_weights, decay, params)
    seed_ptr = np.array([0, seed_nodes.shape[0]], dtype=np.int64)
    return run_batch(graph, seed_ptr, seed_nodes, seed_weights, decay, params, backend, pool)[0]


def run_batch(
    graph: CSRArrays,
    seed_ptr: np.ndarray,
    seed_nodes: np.ndarray,
    seed_weights: np.ndarray,
    decay: np.ndarray,
    params: T1Params,
    backend: str,
    pool: WorkspacePool | None = None,
) -> list[tuple[np.ndarray, np.ndarray, dict]]:
    """Query ``q`` has seeds ``seed_ptr[q]:seed_ptr[q + 1]``; one ``run_query`` output per query.

    The native backend runs the whole batch in one GIL-free kernel call on one workspace.
    """
    bounds = seed_ptr.tolist()
    if backend == "python":
        return [propagate_reference(graph, seed_nodes[a:b], seed_weights[a:b], decay, params)
                for a, b in itertools.pairwise(bounds)]
    pool = pool if pool is not None else WorkspacePool(graph.n_nodes)
    with pool.acquire() as workspace:
        d_nodes, d_vals, offsets, counters = _backend.native_module.propagate_batch(
            graph.indptr, graph.indices, graph.weights, graph.rel_mult, graph.tie_pos,
            graph.node_of_pos, seed_ptr, seed_nodes, seed_weights, decay, workspace,
            params.radius_cap, params.iter_cap_layers, params.node_budget, params.frontier_cap,
            params.visited_cap, params.dedupe_window, params.queue_budget, params.relax_cap,
        )
    names = counters.dtype.names
    return [(d_nodes[a:b], d_vals[a:b],
             shape_metrics(iter_cap_layers=params.iter_cap_layers, **dict(zip(names, row, strict=True))))
            for (a, b), row in zip(itertools.pairwise(offsets.tolist()), counters.tolist(), strict=True)]

