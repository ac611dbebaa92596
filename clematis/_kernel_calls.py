"""Calls into the compiled kernels (docs/spec.md §3-§6, §12): imports them, keeps per-graph
scratch spaces, runs validated queries and shapes the metrics of §6.

This is the bottom layer: it knows *how* to run a backend, never *which* one runs (that is
``clematis._backend``). ``CLEMATIS_PUREPYTHON=1`` keeps every compiled module unimported.
"""

from __future__ import annotations

import importlib
import itertools
import queue
import threading
import weakref
from contextlib import contextmanager

import numpy as np

from ._metrics import shape_metrics
from ._params import T1Params
from ._platform import ENV_PUREPYTHON, env_flag
from ._reference import decay_weights_reference, propagate_reference
from ._validation import CSRArrays


def _import_kernel(name: str):
    """``(module, None)``, or ``(None, why it did not import)``."""
    if env_flag(ENV_PUREPYTHON):
        return None, f"blocked by {ENV_PUREPYTHON}=1"
    try:
        return importlib.import_module(f"clematis._kernels.{name}"), None
    except ImportError as exc:  # no compiler at install time, or blocked on purpose
        return None, f"{type(exc).__name__}: {exc}"


native_module, import_error = _import_kernel("_t1")
gel_module, gel_import_error = _import_kernel("_gel")


class WorkspacePool:
    """Native scratch spaces for one graph, reused across queries; one per concurrent caller."""

    def __init__(self, n_nodes: int) -> None:
        self._n_nodes = n_nodes
        self._free: queue.SimpleQueue = queue.SimpleQueue()

    @contextmanager
    def acquire(self):
        try:
            workspace = self._free.get_nowait()
        except queue.Empty:
            workspace = native_module.Workspace(self._n_nodes)
        try:
            yield workspace
        finally:
            self._free.put(workspace)


_pools: weakref.WeakKeyDictionary[CSRArrays, WorkspacePool] = weakref.WeakKeyDictionary()
_pools_lock = threading.Lock()


def workspaces_for(graph: CSRArrays) -> WorkspacePool:
    """The scratch pool of ``graph`` (made on first use, dropped with the graph's arrays)."""
    with _pools_lock:
        pool = _pools.get(graph)
        if pool is None:
            pool = _pools[graph] = WorkspacePool(graph.n_nodes)
        return pool


def run_query(graph: CSRArrays, seed_nodes: np.ndarray, seed_weights: np.ndarray, decay: np.ndarray,
              params: T1Params, backend: str) -> tuple[np.ndarray, np.ndarray, dict]:
    """One query; ``backend`` is already resolved to ``"native"`` or ``"python"``."""
    if backend == "python":
        return propagate_reference(graph, seed_nodes, seed_weights, decay, params)
    seed_ptr = np.array([0, seed_nodes.shape[0]], dtype=np.int64)
    return run_batch(graph, seed_ptr, seed_nodes, seed_weights, decay, params, backend)[0]


def run_batch(graph: CSRArrays, seed_ptr: np.ndarray, seed_nodes: np.ndarray, seed_weights: np.ndarray,
              decay: np.ndarray, params: T1Params,
              backend: str) -> list[tuple[np.ndarray, np.ndarray, dict]]:
    """Query ``q`` has seeds ``seed_ptr[q]:seed_ptr[q + 1]``; one ``run_query`` output per query.

    The native backend runs the whole batch in one GIL-free kernel call on one workspace.
    """
    bounds = seed_ptr.tolist()
    if backend == "python":
        return [propagate_reference(graph, seed_nodes[a:b], seed_weights[a:b], decay, params)
                for a, b in itertools.pairwise(bounds)]
    record = params.record(native_module.PARAMS_DTYPE)
    with workspaces_for(graph).acquire() as workspace:
        d_nodes, d_vals, offsets, counters = native_module.propagate_batch(
            graph.indptr, graph.indices, graph.weights, graph.rel_mult, graph.tie_pos,
            graph.node_of_pos, seed_ptr, seed_nodes, seed_weights, decay, workspace, record)
    names = counters.dtype.names
    return [(d_nodes[a:b], d_vals[a:b],
             shape_metrics(iter_cap_layers=params.iter_cap_layers, **dict(zip(names, row, strict=True))))
            for (a, b), row in zip(itertools.pairwise(offsets.tolist()), counters.tolist(), strict=True)]


def run_gel(weights: np.ndarray, factor: np.float32, ticks: int, backend: str) -> np.ndarray:
    """GEL decay (§12) of validated float32 ``weights`` on an already-resolved backend."""
    if backend == "native":
        return gel_module.decay(weights, factor, ticks)
    return decay_weights_reference(weights, factor, ticks)
