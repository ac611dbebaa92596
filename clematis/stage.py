"""The T1 stage (docs/spec.md §7): one turn over one or more graphs, merged deterministically in graph
order."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from . import display
from ._kernel_calls import map_cancellable, run_query
from ._metrics import zero_metrics
from ._params import from_config
from ._platform import available_cpus
from ._validation import as_float32_scalar
from .api import Query, T1Result
from .config import load_config
from .datasets import DEMO_TEXT, load_demo_graph
from .dispatch import DispatchPolicy, dispatch, new_counters
from .graph import ConceptGraph
from .ranking import top_activations
from .seeding import seeds_from_text

ENV_LOG_DIR = "CLEMATIS_LOG_DIR"
DIAG_FILE = "t1_native_diag.jsonl"
TURN_FILE = "turn.jsonl"


@dataclass(frozen=True)
class TurnResult:
    """One turn: per-graph results (graph order), merged metrics and merged deltas.

    ``metrics``: the kernel counts summed over graphs, ``_max_delta_local`` as the max,
    ``graphs_touched`` (graphs with at least one seed) and ``native_t1`` (dispatch counters
    summed). ``merged``: node id -> activation, the float32 sum over graphs in graph order.
    """

    graphs: tuple[T1Result, ...]
    metrics: dict
    merged: dict
    turn: int = 0
    agent: str = "agent"

    def to_dict(self) -> dict:
        """A JSON-able, deterministic view (no timings)."""
        return {
            "turn": self.turn,
            "agent": self.agent,
            "metrics": {k: dict(v) if isinstance(v, Mapping) else v for k, v in self.metrics.items()},
            "merged": dict(self.merged),
            "graphs": [{"backend": r.backend, "metrics": dict(r.metrics), "nodes": r.to_dict()}
                       for r in self.graphs],
        }

    def top(self, k: int = 10) -> list[tuple[object, str, float]]:
        """The ``k`` largest merged activations as ``(node id, label, activation)``, ranked by
        :func:`clematis.ranking.top_activations` (activation descending, ties by node id, as in
        the runner's summary); the label is that of the first graph holding the node."""
        return [(node, self.label_of(node), value) for node, value in top_activations(self.merged.items(), k)]

    def label_of(self, node) -> str:
        """The node's label in the first graph that holds it (``""`` when none does)."""
        graph = next((r.graph for r in self.graphs if node in r.graph), None)
        return graph.labels[graph.index_of(node)] if graph is not None else ""

    def __repr__(self) -> str:
        return display.turn_repr(self)

    def _repr_html_(self) -> str:
        return display.turn_html(self)


def _check_graphs(graphs) -> tuple[ConceptGraph, ...]:
    if isinstance(graphs, ConceptGraph):
        return (graphs,)
    if not isinstance(graphs, Sequence) or isinstance(graphs, str):
        raise TypeError(f"graphs must be a ConceptGraph or a sequence of them, got {type(graphs).__name__}")
    if not graphs:
        raise ValueError("graphs must hold at least one ConceptGraph")
    for i, graph in enumerate(graphs):
        if not isinstance(graph, ConceptGraph):
            raise TypeError(f"graphs[{i}] must be a ConceptGraph, got {type(graph).__name__}")
    return tuple(graphs)


def _check_seeds(text_or_seeds) -> str | tuple[tuple[object, np.float32], ...]:
    """Text, or explicit seeds as ``(node id, float32 weight)`` pairs in the given order."""
    if isinstance(text_or_seeds, str):
        return text_or_seeds
    if isinstance(text_or_seeds, Mapping):
        items = list(text_or_seeds.items())
    elif isinstance(text_or_seeds, Sequence | np.ndarray) and not isinstance(text_or_seeds, bytes):
        items = [(node, 1.0) for node in np.asarray(text_or_seeds, dtype=object).tolist()]
    else:
        raise TypeError("text_or_seeds must be a str, a sequence of node ids or a mapping "
                        f"node id -> weight, got {type(text_or_seeds).__name__}")
    pairs = []
    for node, weight in items:
        if isinstance(node, bool | np.bool_) or not isinstance(node, str | int | np.integer):
            raise TypeError(f"seed {node!r}: a node is an id (str) or an index (int)")
        node = node if isinstance(node, str) else int(node)
        pairs.append((node, as_float32_scalar(f"seed weight of {node!r}", weight)))
    return tuple(pairs)


def _graph_seeds(query: Query, seeds) -> tuple[np.ndarray, np.ndarray]:
    """Seeds of one graph. Stage semantics: explicit seed ids the graph does not hold are skipped
    (the API's normaliser, :meth:`Query.seeds`, then validates the rest and would raise)."""
    if isinstance(seeds, str):
        return seeds_from_text(query.graph, seeds)
    present = [(node, weight) for node, weight in seeds if node in query.graph]
    return query.seeds([node for node, _ in present], [weight for _, weight in present], where="seeds")


@dataclass
class _Outcome:
    result: T1Result | None
    counters: dict
    error: BaseException | None = None


def _run_graph(query: Query, seeds, policy: DispatchPolicy) -> _Outcome:
    counters = new_counters()
    graph = query.graph
    nodes, weights = _graph_seeds(query, seeds)
    if nodes.size == 0:
        empty = T1Result(nodes, np.zeros(0, np.float32), zero_metrics(), policy.backend, graph)
        return _Outcome(empty, counters)

    def run(backend: str) -> T1Result:
        return T1Result.from_output(run_query(graph.arrays, nodes, weights, query.decay, query.params,
                                              backend), backend, graph)

    try:
        return _Outcome(dispatch(run, policy, counters)[1], counters)
    except Exception as exc:  # re-raised by run_turn in graph order, after the diagnostics
        return _Outcome(None, counters, exc)


def turn_workers(config: Mapping, n_graphs: int) -> int:
    """Threads for one turn over ``n_graphs`` graphs under the config's ``perf.parallel``."""
    parallel = config["perf"]["parallel"]
    if not (parallel["enabled"] and parallel["t1"]) or n_graphs < 2:
        return 1
    return min(parallel["max_workers"] or available_cpus(), n_graphs)


def merge(results: Sequence[T1Result], counters: Sequence[Mapping]) -> tuple[dict, dict]:
    """Merged metrics and merged deltas of per-graph results, in graph order."""
    metrics = zero_metrics()
    slots: dict = {}  # node id -> position in the merged order (first appearance)
    positions: list[int] = []
    for result in results:
        for name, value in result.metrics.items():
            metrics[name] = max(metrics[name], value) if name == "_max_delta_local" else metrics[name] + value
        ids = result.graph.node_ids
        nodes = result.nodes.tolist()
        positions.extend(slots.setdefault(node, len(slots)) for node in (nodes if ids is None else
                                                                        [ids[i] for i in nodes]))
    acc = np.zeros(len(slots), dtype=np.float32)
    if results:  # ufunc.at adds unbuffered, in index order, in float32: the graph-order sum
        np.add.at(acc, np.array(positions, dtype=np.intp), np.concatenate([r.values for r in results]))
    metrics["graphs_touched"] = sum(1 for r in results if r.metrics["pops"] > 0)
    native_t1 = new_counters()
    for c in counters:
        for name, value in c.items():
            native_t1[name] += value
    metrics["native_t1"] = native_t1
    return metrics, dict(zip(slots, acc.tolist(), strict=True))


def _append_jsonl(log_dir: str, name: str, records: list[dict]) -> None:
    if not records:
        return
    os.makedirs(log_dir, exist_ok=True)
    with open(os.path.join(log_dir, name), "a", encoding="utf-8") as fh:
        for record in records:
            fh.write(json.dumps(record) + "\n")


def run_turn(
    graphs,
    text_or_seeds,
    config=None,
    log_dir: str | os.PathLike | None = None,
    *,
    turn: int = 0,
    agent: str = "agent",
    backend: str | None = None,
    native_only: bool = False,
) -> TurnResult:
    """Run T1 for one turn over ``graphs`` (a ConceptGraph or a sequence of them).

    ``text_or_seeds``: text (each graph seeds from its labels, docs/spec.md §7), a sequence of node
    ids (str) or indices (int), weight 1.0, or a mapping of them to weights; a seed a graph does
    not hold is skipped for that graph. ``config``: a path, a mapping or None (see :func:`load_config`).
    Graphs run serially, or on threads when ``perf.parallel.enabled`` and ``perf.parallel.t1``
    (identical results); Ctrl-C stops them all with KeyboardInterrupt. ``backend`` and
    ``native_only`` as in :mod:`clematis.dispatch`.
    With ``log_dir`` (default: env ``CLEMATIS_LOG_DIR``), each dispatch that bumps a counter
    appends a line to ``t1_native_diag.jsonl`` and the turn appends its metrics to ``turn.jsonl``.
    """
    if isinstance(turn, bool) or not isinstance(turn, int):
        raise TypeError(f"turn must be an int, got {turn!r}")
    if not isinstance(agent, str):
        raise TypeError(f"agent must be a str, got {agent!r}")
    graphs = _check_graphs(graphs)
    seeds = _check_seeds(text_or_seeds)
    config = load_config(config)
    policy = DispatchPolicy.from_config(config, backend, native_only)
    params = from_config(config).as_kwargs()
    multipliers = config["t1"]["edge_type_mult"]
    plans = [Query(graph.with_relation_multipliers(multipliers), backend=policy.backend, **params)
             for graph in graphs]  # validates every parameter before any work
    log_dir = log_dir if log_dir is not None else os.environ.get(ENV_LOG_DIR) or None

    def job(plan: Query) -> _Outcome:
        return _run_graph(plan, seeds, policy)

    outcomes = []
    workers = turn_workers(config, len(plans))
    with map_cancellable(job, plans, workers, thread_name_prefix="clematis-t1") as jobs:
        for outcome in jobs:  # on threads every graph runs; serially the first error stops the turn
            outcomes.append(outcome)
            if outcome.error is not None:
                break
    failed = next((i for i, o in enumerate(outcomes) if o.error is not None), None)
    done = outcomes if failed is None else outcomes[:failed + 1]
    if log_dir is not None:
        _append_jsonl(os.fspath(log_dir), DIAG_FILE, [
            {"turn": turn, "agent": agent, "graph": i,
             "backend": o.result.backend if o.result is not None else None, "native_t1": o.counters}
            for i, o in enumerate(done) if any(o.counters.values())])
    error = outcomes[failed].error if failed is not None else None
    if error is not None:
        raise error
    results = [o.result for o in outcomes if o.result is not None]  # all of them: none failed
    metrics, merged = merge(results, [o.counters for o in outcomes])
    if log_dir is not None:
        _append_jsonl(os.fspath(log_dir), TURN_FILE, [{"turn": turn, "agent": agent, "t1": metrics}])
    return TurnResult(tuple(results), metrics, merged, turn, agent)


def run_smoke_turn(cfg=None, log_dir: str | os.PathLike | None = None, **options) -> TurnResult:
    """One turn of :data:`~clematis.datasets.DEMO_TEXT` on the packaged demo graph."""
    return run_turn(load_demo_graph(), DEMO_TEXT, cfg, log_dir, **options)
