"""High-level queries on a ConceptGraph: :class:`Query`, :func:`propagate` and :class:`T1Result`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Unpack

import numpy as np

from . import display
from ._backend import resolve_backend
from ._decay import decay_for
from ._kernel_calls import QueryOutput, run_query
from ._params import T1Options, T1Params
from ._validation import as_array, validate_seeds
from .graph import ConceptGraph
from .interop import conversion_hint
from .seeding import seeds_from_text


@dataclass(frozen=True)
class T1Result:
    """The outcome of one query: touched nodes (ascending indices) and their activations.

    ``truncated`` is True when ``queue_budget`` or ``relax_cap`` ended the query while work
    remained; it is not one of the metrics (docs/spec.md §6).
    """

    nodes: np.ndarray
    values: np.ndarray
    metrics: dict
    backend: str
    graph: ConceptGraph = field(repr=False, compare=False)
    truncated: bool = False

    @classmethod
    def from_output(cls, output: QueryOutput, backend: str, graph: ConceptGraph) -> T1Result:
        """The result of one query's kernel output on ``graph``."""
        return cls(output.nodes, output.values, output.metrics, backend, graph, output.truncated)

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

    def __repr__(self) -> str:
        return display.result_repr(self)

    def _repr_html_(self) -> str:
        return display.result_html(self)

    def to_pandas(self):
        """A DataFrame with columns ``id, label, activation``, rows in :meth:`top` order."""
        return display.result_frame(self)

    def plot(self, k: int = 20, ax=None):
        """A labelled bar chart of the ``k`` largest activations; returns the matplotlib Axes
        (drawn on ``ax`` when given). Needs ``pip install 'clematis[plot]'``."""
        return display.plot_top(self, k, ax)

    def plot_subgraph(self, k: int = 15, ax=None):
        """The ``k`` most activated nodes and the graph's edges among them; returns the Axes."""
        return display.plot_subgraph(self, k, ax)


class Query:
    """A reusable query on one graph: parameters, decay table and backend resolved once.

    ``Query(graph, rate=0.5).run(["a", "b"])`` gives the same result as
    ``propagate(graph, ["a", "b"], rate=0.5)``; run it again with other seeds at no set-up cost.
    """

    def __init__(self, graph: ConceptGraph, *, backend: str | None = None,
                 **params: Unpack[T1Options]) -> None:
        if not isinstance(graph, ConceptGraph):
            raise TypeError(f"graph must be a ConceptGraph, got {type(graph).__name__}"
                            f"{conversion_hint(graph)}")
        self.graph = graph
        self.params = T1Params.build("user", **params)
        self.backend = resolve_backend(backend)
        self.decay = decay_for(self.params, graph.n_nodes)

    def seeds(self, seed_nodes, seed_weights=None, *, where: str = "seed_nodes"):
        """Seed indices (from ids or indices, or a ``{node: weight}`` mapping) and float32
        weights, validated."""
        graph = self.graph
        if isinstance(seed_nodes, Mapping):
            if seed_weights is not None:
                raise TypeError(f"{where}: give the weights in the mapping or as seed_weights, not both")
            seed_nodes, seed_weights = list(seed_nodes), list(seed_nodes.values())
        if isinstance(seed_nodes, str):
            raise TypeError(f"{where} must be a sequence of node ids or indices, got the str {seed_nodes!r}; "
                            "to seed from text, pass text=... instead")
        if isinstance(seed_nodes, int | np.integer):
            raise TypeError(f"{where} must be a sequence of node ids or indices, got {seed_nodes!r}")
        nodes = as_array(where, seed_nodes)
        if nodes.dtype.kind in "OU" or (nodes.size == 0 and nodes.dtype.kind == "f"):
            nodes = np.array([graph.index_of(s, where=f"{where}[{i}]") for i, s in enumerate(seed_nodes)],
                             dtype=np.int64)
        return validate_seeds(nodes, seed_weights, graph.n_nodes, graph.arrays.indptr.dtype)

    def run(self, seed_nodes=None, seed_weights=None, *, text: str | None = None,
            whole_words: bool = False) -> T1Result:
        """Propagate from seeds (node ids or indices, or a ``{node: weight}`` mapping) or from
        ``text`` (docs/spec.md §7.1; ``whole_words=True`` matches labels as whole words only)."""
        if (seed_nodes is None) == (text is None):
            raise TypeError("give exactly one of seed_nodes or text=")
        if text is not None:
            if seed_weights is not None:
                raise TypeError("seed_weights apply to seed_nodes, not to text= (text seeds weigh 1.0)")
            return self.run_validated(*seeds_from_text(self.graph, text, whole_words=whole_words))
        return self.run_validated(*self.seeds(seed_nodes, seed_weights))

    def run_validated(self, nodes: np.ndarray, weights: np.ndarray, backend: str | None = None) -> T1Result:
        """Run already validated seeds on the query's backend, or on ``backend`` (resolved)."""
        backend = backend or self.backend
        output = run_query(self.graph.arrays, nodes, weights, self.decay, self.params, backend)
        return T1Result.from_output(output, backend, self.graph)


def propagate(
    graph: ConceptGraph,
    seed_nodes=None,
    seed_weights=None,
    *,
    text: str | None = None,
    whole_words: bool = False,
    backend: str | None = None,
    **params: Unpack[T1Options],
) -> T1Result:
    """Spread activation from seeds (node ids or indices, or a ``{node: weight}`` mapping), or
    from ``text``: every node whose label occurs in it, weight 1.0 (docs/spec.md §7.1; with
    ``whole_words=True`` only labels that occur as whole words). Give exactly one of the two.

    ``params`` (see :class:`T1Options`) default to docs/spec.md §7: ``decay="exp_floor"``
    (``rate=0.6``, ``floor=0.05``) or ``"attn_quad"`` (``alpha=0.8``), ``radius_cap=4``,
    ``iter_cap_layers=50``, ``node_budget=1.5``, ``queue_budget=10000`` (pops; 0 = unbounded);
    caps ``frontier_cap``, ``visited_cap``, ``dedupe_window``, ``relax_cap`` default to 0 (off).

    ``backend=None`` follows ``CLEMATIS_NATIVE_T1`` when set, else runs native when the kernel
    is compiled; ``backend="native"`` raises :class:`~clematis.NativeUnavailableError` when it
    is not (docs/spec.md §9).
    """
    return Query(graph, backend=backend, **params).run(seed_nodes, seed_weights, text=text,
                                                       whole_words=whole_words)
