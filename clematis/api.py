"""High-level queries on a ConceptGraph: ``propagate`` and its ``T1Result``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from ._backend import resolve_backend
from ._decay import decay_table, table_length
from ._engine import run_query
from ._validation import T1Params, as_array, validate_seeds
from .graph import ConceptGraph

DEFAULT_PARAMS = {
    "decay": "exp_floor",
    "rate": 0.6,
    "floor": 0.05,
    "alpha": 0.8,
    "radius_cap": 4,
    "iter_cap_layers": 50,
    "node_budget": 1.5,
    "frontier_cap": 0,
    "visited_cap": 0,
    "dedupe_window": 0,
    "queue_budget": 0,
    "relax_cap": 0,
}


@dataclass(frozen=True)
class T1Result:
    """The outcome of one query: touched nodes (ascending indices) and their activations."""

    nodes: np.ndarray
    values: np.ndarray
    metrics: dict
    backend: str
    graph: ConceptGraph = field(repr=False, compare=False)

    def to_dict(self) -> dict:
        """``{node id: activation}`` for every node in the result."""
        return {self.graph.node_id(i): float(v) for i, v in zip(self.nodes, self.values, strict=True)}

    def top(self, k: int = 10) -> list[tuple[str | int, str, float]]:
        """The ``k`` largest activations as ``(node id, label, value)``; ties by node id order."""
        ranks = self.graph.arrays.key_rank[self.nodes]
        order = np.lexsort((ranks, -self.values.astype(np.float64)))[:k]
        return [(self.graph.node_id(int(self.nodes[i])), self.graph.labels[int(self.nodes[i])],
                 float(self.values[i])) for i in order]

    def __len__(self) -> int:
        return int(self.nodes.shape[0])


class QueryPlan:
    """Validated, reusable parameters of a query (decay table, caps, backend)."""

    def __init__(self, graph: ConceptGraph, backend: str | None = None, **params) -> None:
        unknown = sorted(set(params) - set(DEFAULT_PARAMS))
        if unknown:
            raise TypeError(f"unknown T1 parameter(s) {unknown}; known: {', '.join(DEFAULT_PARAMS)}")
        p = {**DEFAULT_PARAMS, **params}
        self.graph = graph
        self.backend = resolve_backend(backend)
        self.params = T1Params.from_args(**{k: p[k] for k in (
            "radius_cap", "iter_cap_layers", "node_budget", "frontier_cap", "visited_cap",
            "dedupe_window", "queue_budget", "relax_cap")})
        length = table_length(self.params.radius_cap, self.params.iter_cap_layers, graph.n_nodes)
        self.decay = decay_table(p["decay"], length, rate=p["rate"], floor=p["floor"],
                                 alpha=p["alpha"])

    def seeds(self, seed_nodes, seed_weights=None, *, where: str = "seed_nodes"):
        """Seed indices (from ids or indices, or a ``{node: weight}`` mapping) and float32
        weights, validated."""
        graph = self.graph
        if isinstance(seed_nodes, Mapping):
            if seed_weights is not None:
                raise TypeError(f"{where}: give the weights in the mapping or as seed_weights, not both")
            seed_nodes, seed_weights = list(seed_nodes), list(seed_nodes.values())
        if isinstance(seed_nodes, str | int | np.integer):
            raise TypeError(f"{where} must be a sequence of node ids or indices, got {seed_nodes!r}")
        nodes = as_array(where, seed_nodes)
        if nodes.dtype.kind in "OU" or (nodes.size == 0 and nodes.dtype.kind == "f"):
            nodes = np.array([graph.index_of(s, where=f"{where}[{i}]") for i, s in enumerate(seed_nodes)],
                             dtype=np.int64)
        return validate_seeds(nodes, seed_weights, graph.n_nodes, graph.arrays.indptr.dtype)

    def run(self, nodes: np.ndarray, weights: np.ndarray, backend: str | None = None) -> T1Result:
        """Run on the plan's backend, or on ``backend`` (already resolved: native must import)."""
        backend = backend or self.backend
        d_nodes, d_vals, metrics = run_query(self.graph.arrays, nodes, weights, self.decay,
                                             self.params, backend, self.graph.workspaces)
        return T1Result(d_nodes, d_vals, metrics, backend, self.graph)


def propagate(
    graph: ConceptGraph,
    seed_nodes,
    seed_weights=None,
    *,
    backend: str | None = None,
    **params,
) -> T1Result:
    """Spread activation from seeds (node ids or indices, or a ``{node: weight}`` mapping).

    ``params`` default to spec §7: ``decay="exp_floor"`` (``rate=0.6``, ``floor=0.05``) or
    ``"attn_quad"`` (``alpha=0.8``), ``radius_cap=4``, ``iter_cap_layers=50``,
    ``node_budget=1.5``; caps ``frontier_cap``, ``visited_cap``, ``dedupe_window``,
    ``queue_budget``, ``relax_cap`` default to 0 (off).

    ``backend=None`` follows ``CLEMATIS_NATIVE_T1`` (1 native, 0 python) when set, else runs
    native when the kernel is compiled (see ``docs/config.md``).
    """
    if not isinstance(graph, ConceptGraph):
        raise TypeError(f"graph must be a ConceptGraph, got {type(graph).__name__}")
    plan = QueryPlan(graph, backend, **params)
    return plan.run(*plan.seeds(seed_nodes, seed_weights))
