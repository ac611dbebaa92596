"""The T1 kernel contract (docs/spec.md §1-§6) on raw CSR arrays."""

from __future__ import annotations

from typing import Unpack

import numpy as np

from ._backend import resolve_backend
from ._decay import decay_for
from ._kernel_calls import run_query
from ._params import KernelCaps, T1Params
from ._validation import validate_graph_arrays, validate_seeds

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
    backend: str | None = None,
    **caps: Unpack[KernelCaps],
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Propagate one query over one CSR graph with exp-floor decay.

    Validates every argument first (docs/spec.md §1), then runs the native kernel (``backend=None`` or
    ``"native"``) or the Python reference (``"python"``); both return the same bits.

    Returns ``(d_nodes, d_vals, metrics)``: the nodes with ``|activation| >= 1e-8`` ascending,
    their float32 activations, and the kernel metrics of docs/spec.md §6. For repeated queries on one
    graph use :class:`clematis.ConceptGraph`, which validates the graph arrays once.
    """
    chosen = resolve_backend(backend)
    graph = validate_graph_arrays(indptr, indices, weights, rel_code, rel_mult, key_rank)
    nodes, weights32 = validate_seeds(seed_nodes, seed_weights, graph.n_nodes, graph.indptr.dtype)
    params = T1Params.build(
        "contract", decay="exp_floor", rate=rate, floor=floor, radius_cap=radius_cap,
        iter_cap_layers=iter_cap_layers, node_budget=node_budget, **caps,
    )
    d_nodes, d_vals, metrics, _ = run_query(graph, nodes, weights32, decay_for(params, graph.n_nodes), params,
                                            chosen)
    return d_nodes, d_vals, metrics
