"""High-level queries on a ConceptGraph: :class:`Query`, :func:`propagate` and :class:`T1Result`."""

from __future__ import annotations

import os
import threading
import weakref
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, Unpack

import numpy as np

from . import display
from ._backend import ENV_NATIVE, resolve_backend
from ._decay import decay_for
from ._kernel_calls import (
    TRUNCATED,
    BatchOutput,
    QueryOutput,
    WorkspacePool,
    compile_query,
    counters_metrics,
    current_cancel_flag,
    run_batch,
    run_query,
    workspaces_for,
)
from ._params import T1Options, T1Params
from ._platform import ENV_PUREPYTHON
from ._validation import as_array, validate_seeds
from .graph import ConceptGraph
from .interop import conversion_hint
from .seeding import seeds_from_text


class T1Result:
    """The outcome of one query: touched nodes (ascending indices) and their activations.

    ``truncated`` is True when ``queue_budget`` or ``relax_cap`` ended the query while work
    remained; it is not one of the metrics (docs/spec.md §6). Read-only; the ``metrics`` dict of
    a native query is built on first access.
    """

    __slots__ = ("_nodes", "_values", "_metrics", "_counters", "_iter_cap_layers", "_backend", "_graph",
                 "_truncated")
    _metrics: dict | None
    _counters: tuple | np.void
    _iter_cap_layers: int

    def __init__(self, nodes: np.ndarray, values: np.ndarray, metrics: dict, backend: str,
                 graph: ConceptGraph, truncated: bool = False) -> None:
        self._nodes, self._values, self._metrics, self._backend = nodes, values, metrics, backend
        self._graph, self._truncated = graph, truncated

    @classmethod
    def from_output(cls, output: QueryOutput, backend: str, graph: ConceptGraph) -> T1Result:
        """The result of one query's kernel output on ``graph``."""
        return cls(output.nodes, output.values, output.metrics, backend, graph, output.truncated)

    @classmethod
    def from_counters(cls, nodes: np.ndarray, values: np.ndarray, counters: tuple | np.void,
                      iter_cap_layers: int, backend: str, graph: ConceptGraph,
                      truncated: bool | None = None) -> T1Result:
        """The result of a native query from its raw kernel counters (a tuple or a
        ``COUNTERS_DTYPE`` record; metrics made on demand). ``truncated``, when given, is the
        counters' own flag, read once for a whole batch."""
        result = cls.__new__(cls)
        result._nodes, result._values, result._metrics, result._backend = nodes, values, None, backend
        result._graph = graph
        result._truncated = bool(counters[TRUNCATED]) if truncated is None else truncated
        result._counters, result._iter_cap_layers = counters, iter_cap_layers
        return result

    nodes = property(lambda self: self._nodes, doc="Touched nodes, ascending indices.")
    values = property(lambda self: self._values, doc="Their float32 activations.")
    backend = property(lambda self: self._backend, doc='``"native"`` or ``"python"``.')
    graph = property(lambda self: self._graph, doc="The graph queried.")
    truncated = property(lambda self: self._truncated,
                         doc="Ended by queue_budget or relax_cap with work left.")

    @property
    def metrics(self) -> dict:
        """The §6 metrics of the query."""
        if self._metrics is None:
            self._metrics = counters_metrics(self._counters, self._iter_cap_layers)
        return self._metrics

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


def parse_seeds(graph: ConceptGraph, seed_nodes, seed_weights=None, *,
                where: str = "seed_nodes") -> tuple[np.ndarray, np.ndarray]:
    """Seed indices (from ids or indices, or a ``{node: weight}`` mapping) and float32 weights,
    validated."""
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


class QueryPlan:
    """What a query resolves once, without the graph itself (so a cache of plans keeps no graph
    alive): parameters, backend, decay table, and for native the compiled kernel query and the
    graph's scratch pool."""

    __slots__ = ("params", "backend", "decay", "arrays", "_native")

    _native: tuple[Any, WorkspacePool] | None

    def __init__(self, graph: ConceptGraph, backend: str | None, params: Mapping[str, Any]) -> None:
        self.params = T1Params.build("user", **params)
        self.backend = resolve_backend(backend)
        self.decay = decay_for(self.params, graph.n_nodes)
        self.arrays = graph.arrays
        self._native = None

    def _run_native(self, method: str, *args) -> Any:
        """``compiled.method(*args, workspace, cancel flag)`` on a workspace of the graph's pool
        (the compiled query and the pool are made on first use)."""
        native = self._native
        if native is None:
            native = self._native = (compile_query(self.arrays, self.decay, self.params),
                                     workspaces_for(self.arrays))
        compiled, pool = native
        workspace = pool.take()
        try:
            return getattr(compiled, method)(*args, workspace, current_cancel_flag())
        finally:
            pool.give(workspace)

    def run(self, graph: ConceptGraph, seed_nodes, seed_weights) -> T1Result:
        """A query from seeds as :func:`parse_seeds` takes them; on the native backend a list of
        ints without weights skips the general parsing."""
        if self.backend == "native" and seed_weights is None and type(seed_nodes) is list:
            output = self._run_native("run_indices", seed_nodes)
            if output is not None:
                d_nodes, d_vals, counters = output
                return T1Result.from_counters(d_nodes, d_vals, counters, self.params.iter_cap_layers,
                                              "native", graph)
        return self.run_validated(graph, *parse_seeds(graph, seed_nodes, seed_weights))

    def run_validated(self, graph: ConceptGraph, nodes: np.ndarray, weights: np.ndarray,
                      backend: str | None = None) -> T1Result:
        """Validated seeds on the plan's backend, or on ``backend`` (resolved)."""
        backend = backend or self.backend
        if backend != "native":
            output = run_query(self.arrays, nodes, weights, self.decay, self.params, backend)
            return T1Result.from_output(output, backend, graph)
        d_nodes, d_vals, counters = self._run_native("run", nodes, weights)
        return T1Result.from_counters(d_nodes, d_vals, counters, self.params.iter_cap_layers, "native", graph)

    def run_batch_output(self, seed_ptr: np.ndarray, nodes: np.ndarray,
                         weights: np.ndarray) -> BatchOutput | list[QueryOutput]:
        """The kernel output of query ``q`` from validated seeds ``seed_ptr[q]:seed_ptr[q + 1]``,
        in one kernel call: a :class:`BatchOutput` on the native backend, else one output per query."""
        if self.backend != "native":
            return run_batch(self.arrays, seed_ptr, nodes, weights, self.decay, self.params, self.backend)
        return BatchOutput(*self._run_native("run_batch", seed_ptr, nodes, weights))

    def batch_results(self, graph: ConceptGraph, output: BatchOutput | list[QueryOutput]) -> list[T1Result]:
        """The results on ``graph`` of a :meth:`run_batch_output` of this plan (or of a plan of the
        same backend and parameters on a copy of ``graph``, as a Dask worker has)."""
        if not isinstance(output, BatchOutput):
            return [T1Result.from_output(query, self.backend, graph) for query in output]
        bounds = output.offsets.tolist()
        iter_cap, make = self.params.iter_cap_layers, T1Result.from_counters
        nodes, values, counters = output.nodes, output.values, output.counters
        # records, not counters.tolist(): a result's counters become Python numbers only when
        # its metrics are read (tolist would cost about a third of a small query)
        return [make(nodes[a:b], values[a:b], record, iter_cap, "native", graph, truncated)
                for a, b, record, truncated in zip(bounds, bounds[1:], counters,
                                                   (counters["truncated"] != 0).tolist(), strict=False)]

    def run_batch(self, graph: ConceptGraph, seed_ptr: np.ndarray, nodes: np.ndarray,
                  weights: np.ndarray) -> list[T1Result]:
        """Query ``q`` from validated seeds ``seed_ptr[q]:seed_ptr[q + 1]``, in one kernel call."""
        return self.batch_results(graph, self.run_batch_output(seed_ptr, nodes, weights))


def run_seeds_or_text(plan: QueryPlan, graph: ConceptGraph, seed_nodes, seed_weights, text: str | None,
                      whole_words: bool) -> T1Result:
    """``Query.run`` and ``propagate``: exactly one of seeds or ``text``."""
    if text is None:
        if seed_nodes is None:
            raise TypeError("give exactly one of seed_nodes or text=")
        return plan.run(graph, seed_nodes, seed_weights)
    if seed_nodes is not None:
        raise TypeError("give exactly one of seed_nodes or text=")
    if seed_weights is not None:
        raise TypeError("seed_weights apply to seed_nodes, not to text= (text seeds weigh 1.0)")
    return plan.run_validated(graph, *seeds_from_text(graph, text, whole_words=whole_words))


class Query:
    """A reusable query on one graph: parameters, decay table and backend resolved once.

    ``Query(graph, rate=0.5).run(["a", "b"])`` gives the same result as
    ``propagate(graph, ["a", "b"], rate=0.5)``; run it again with other seeds at no set-up cost.
    """

    def __init__(self, graph: ConceptGraph, *, backend: str | None = None,
                 **params: Unpack[T1Options]) -> None:
        check_graph(graph)
        self.graph = graph
        self.plan = QueryPlan(graph, backend, params)

    @classmethod
    def planned(cls, graph: ConceptGraph, plan: QueryPlan) -> Query:
        """The query of a ``plan`` made for ``graph`` (no work)."""
        query = cls.__new__(cls)
        query.graph, query.plan = graph, plan
        return query

    params = property(lambda self: self.plan.params, doc="The validated parameters.")
    backend = property(lambda self: self.plan.backend, doc='``"native"`` or ``"python"``.')
    decay = property(lambda self: self.plan.decay, doc="The float32 decay table.")

    def seeds(self, seed_nodes, seed_weights=None, *, where: str = "seed_nodes"):
        """Seed indices (from ids or indices, or a ``{node: weight}`` mapping) and float32
        weights, validated."""
        return parse_seeds(self.graph, seed_nodes, seed_weights, where=where)

    def run(self, seed_nodes=None, seed_weights=None, *, text: str | None = None,
            whole_words: bool = False) -> T1Result:
        """Propagate from seeds (node ids or indices, or a ``{node: weight}`` mapping) or from
        ``text`` (docs/spec.md §7.1; ``whole_words=True`` matches labels as whole words only)."""
        return run_seeds_or_text(self.plan, self.graph, seed_nodes, seed_weights, text, whole_words)

    def run_validated(self, nodes: np.ndarray, weights: np.ndarray, backend: str | None = None) -> T1Result:
        """Run already validated seeds on the query's backend, or on ``backend`` (resolved)."""
        return self.plan.run_validated(self.graph, nodes, weights, backend)


def check_graph(graph) -> None:
    if not isinstance(graph, ConceptGraph):
        raise TypeError(f"graph must be a ConceptGraph, got {type(graph).__name__}{conversion_hint(graph)}")


PLANS_PER_GRAPH = 8  # propagate keeps the plans of this many recent parameter sets per graph
_plans: weakref.WeakKeyDictionary[ConceptGraph, OrderedDict] = weakref.WeakKeyDictionary()
_plans_lock = threading.Lock()


def plan_key(backend: str | None, params: Mapping[str, Any]) -> tuple:
    """What a plan depends on: the backend argument (and, without one, the environment variables
    backend resolution reads), the parameters and each value's type (``1``, ``1.0`` and ``True``
    are different keys)."""
    env = None if backend is not None else (os.environ.get(ENV_NATIVE), os.environ.get(ENV_PUREPYTHON))
    return backend, env, tuple(params.items()), tuple(map(type, params.values()))


def cached_plan(graph: ConceptGraph, backend: str | None, params: Mapping[str, Any]) -> QueryPlan:
    """The plan of ``(backend, params)`` on ``graph`` (:func:`plan_key`), reused while it is
    among the graph's ``PLANS_PER_GRAPH`` most recent; parameters that cannot be hashed are
    planned afresh."""
    key = plan_key(backend, params)
    try:
        hash(key)
    except TypeError:  # an unhashable value: not cacheable
        return QueryPlan(graph, backend, params)
    with _plans_lock:
        plans = _plans.get(graph)
        if plans is not None and key in plans:
            plans.move_to_end(key)
            return plans[key]
    plan = QueryPlan(graph, backend, params)  # outside the lock: it validates and may raise
    with _plans_lock:
        plans = _plans.setdefault(graph, OrderedDict())
        plans[key] = plan
        if len(plans) > PLANS_PER_GRAPH:
            plans.popitem(last=False)
    return plan


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
    check_graph(graph)
    return run_seeds_or_text(cached_plan(graph, backend, params), graph, seed_nodes, seed_weights, text,
                             whole_words)
