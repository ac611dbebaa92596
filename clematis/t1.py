"""The T1 kernel contract (spec §1-§6) on raw CSR arrays."""

from __future__ import annotations

import numpy as np

from ._backend import resolve_backend
from ._decay import decay_table, table_length
from ._engine import run_query
from ._validation import T1Params, validate_graph_arrays, validate_seeds

__all__ = ["propagate_one_graph"]


def propagate_one_graph(
    indptr,
    indices,
    weights,
    rel_code,
    rel_mult,
    seed_nodes,
    seed_weights,
    key_rank,
    *,
    rate: float,
    floor: float,
    radius_cap: int,
    iter_cap_layers: int,
    node_budget: float,
    frontier_cap: int = 0,
    visited_cap: int = 0,
    dedupe_window: int = 0,
    queue_budget: int = 0,
    relax_cap: int = 0,
    backend: str | None = None,
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Propagate one query over one CSR graph with exp-floor decay.

    Validates every argument first (spec §1), then runs the native kernel (``backend=None`` or
    ``"native"``) or the Python reference (``"python"``); both return the same bits.

    Returns ``(d_nodes, d_vals, metrics)``: the nodes with ``|activation| >= 1e-8`` ascending,
    their float32 activations, and the kernel metrics of spec §6. For repeated queries on one
    graph use :class:`clematis.ConceptGraph`, which validates the graph arrays once.
    """
    chosen = resolve_backend(backend)
    graph = validate_graph_arrays(indptr, indices, weights, rel_code, rel_mult, key_rank)
    nodes, weights32 = validate_seeds(seed_nodes, seed_weights, graph.n_nodes, graph.indptr.dtype)
    params = T1Params.from_args(
        radius_cap=radius_cap, iter_cap_layers=iter_cap_layers, node_budget=node_budget,
        frontier_cap=frontier_cap, visited_cap=visited_cap, dedupe_window=dedupe_window,
        queue_budget=queue_budget, relax_cap=relax_cap,
    )
    length = table_length(params.radius_cap, params.iter_cap_layers, graph.n_nodes)
    decay = decay_table("exp_floor", length, rate=rate, floor=floor)
    return run_query(graph, nodes, weights32, decay, params, chosen)
