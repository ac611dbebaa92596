"""How graphs and results show: short reprs, HTML tables for notebooks, DataFrames and plots.

Reprs stay under :data:`MAX_REPR` characters; HTML escapes every id and label. Plots need
matplotlib (``pip install 'clematis[plot]'``), DataFrames pandas.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .interop import require

if TYPE_CHECKING:
    from .api import T1Result
    from .graph import ConceptGraph

MAX_REPR = 400
REPR_TOP = 3        # activations named in a repr
HTML_TOP = 10       # rows of an HTML table
GRAPH_NODES = 5     # nodes shown for a graph
LABEL_WIDTH = 24    # characters of a label in a repr or a plot


def shorten(text: str, width: int = LABEL_WIDTH) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"


def _clip(text: str) -> str:
    return text if len(text) <= MAX_REPR else text[:MAX_REPR - 2] + "…)"


def _named(triples: Iterable[tuple[Any, str, float]]) -> str:
    return ", ".join(f"{shorten(label or str(node))}={value:.4g}" for node, label, value in triples)


def _table(header: Sequence[str], rows: Iterable[Sequence[Any]], caption: str) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return (f"<table><caption>{html.escape(caption)}</caption><thead><tr>{head}</tr></thead>"
            f"<tbody>{body}</tbody></table>")


# ---- ConceptGraph -----------------------------------------------------------------------------

def graph_repr(graph: ConceptGraph) -> str:
    relations = ", ".join(f"{name}×{mult:g}" for name, mult in graph.relation_multipliers.items())
    return _clip(f"ConceptGraph(n_nodes={graph.n_nodes}, n_edges={graph.n_edges}, relations=[{relations}])")


def graph_html(graph: ConceptGraph) -> str:
    degree = np.diff(graph.arrays.indptr)
    shown = range(min(GRAPH_NODES, graph.n_nodes))
    caption = (f"ConceptGraph: {graph.n_nodes} nodes, {graph.n_edges} edges; relations "
               + ", ".join(f"{r} ×{m:g}" for r, m in graph.relation_multipliers.items()))
    more = graph.n_nodes - len(shown)
    tail = f"<p>… and {more} more nodes</p>" if more > 0 else ""
    return _table(("id", "label", "out-degree"),
                  ((graph.node_id(i), graph.labels[i], int(degree[i])) for i in shown), caption) + tail


# ---- T1Result ---------------------------------------------------------------------------------

def result_summary(result: T1Result) -> str:
    cut = ", truncated" if result.truncated else ""
    return f"{len(result)} nodes, {result.metrics.get('pops', 0)} pops, backend {result.backend}{cut}"


def result_repr(result: T1Result) -> str:
    return _clip(f"T1Result(nodes={len(result)}, backend={result.backend!r}, "
                 f"pops={result.metrics.get('pops', 0)}, truncated={result.truncated}, "
                 f"top=[{_named(result.top(REPR_TOP))}])")


def result_html(result: T1Result) -> str:
    top = _table(("rank", "id", "label", "activation"),
                 ((rank, node, label, f"{value:.6g}") for rank, (node, label, value)
                  in enumerate(result.top(HTML_TOP), 1)), f"T1Result: {result_summary(result)}")
    metrics = _table(("metric", "value"), result.metrics.items(), "metrics")
    return f"<div>{top}{metrics}</div>"


def result_frame(result: T1Result):
    pd = require("pandas", "pandas", "T1Result.to_pandas")
    rows = result.top(len(result))
    return pd.DataFrame({"id": [r[0] for r in rows], "label": [r[1] for r in rows],
                         "activation": np.array([r[2] for r in rows], dtype=np.float32)})


def _axes(ax, feature: str):
    plt = require("matplotlib.pyplot", "plot", feature)
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 5))
    return ax


def plot_top(result: T1Result, k: int, ax=None):
    """A horizontal bar chart of the ``k`` largest activations, the largest on top."""
    ax = _axes(ax, "T1Result.plot")
    top = result.top(k)
    labels = [shorten(label or str(node)) for node, label, _ in top]
    values = [value for _, _, value in top]
    positions = np.arange(len(top))
    ax.barh(positions, values, color=["tab:blue" if v >= 0 else "tab:red" for v in values])
    ax.set_yticks(positions, labels)
    ax.invert_yaxis()
    ax.set_xlabel("activation")
    ax.set_title(f"top {len(top)} activations ({result_summary(result)})")
    return ax


def plot_subgraph(result: T1Result, k: int, ax=None):
    """The ``k`` most activated nodes on a circle, the graph's edges among them as arrows;
    node colour is the activation, edge opacity the weight."""
    ax = _axes(ax, "T1Result.plot_subgraph")
    top = result.top(k)
    graph = result.graph
    nodes = [graph.index_of(node) for node, _, _ in top]
    angle = np.pi / 2 - 2 * np.pi * np.arange(len(nodes)) / max(len(nodes), 1)
    xy = np.column_stack([np.cos(angle), np.sin(angle)])
    sub = graph.matrix[nodes][:, nodes].tocoo()
    heaviest = float(np.abs(sub.data).max()) if sub.nnz else 1.0
    for u, v, w in zip(sub.row, sub.col, sub.data, strict=True):
        if u != v:
            ax.annotate("", xy=xy[v], xytext=xy[u], arrowprops={
                "arrowstyle": "-|>", "color": "0.3", "alpha": min(1.0, 0.2 + 0.8 * abs(float(w)) / heaviest),
                "shrinkA": 9, "shrinkB": 9})
    values = np.array([value for _, _, value in top])
    limit = float(np.abs(values).max()) if values.size else 1.0
    points = ax.scatter(xy[:, 0], xy[:, 1], c=values, cmap="coolwarm", vmin=-limit, vmax=limit, s=160,
                        zorder=3, edgecolors="black")
    for (x, y), (node, label, _) in zip(xy, top, strict=True):
        ax.annotate(shorten(label or str(node)), (x, y), xytext=(0, 11), textcoords="offset points",
                    ha="center", fontsize=8)
    ax.figure.colorbar(points, ax=ax, label="activation")
    ax.set_xlim(-1.4, 1.4)
    ax.set_ylim(-1.4, 1.4)
    ax.set_aspect("equal")
    ax.set_axis_off()
    ax.set_title(f"activated subgraph: top {len(top)} nodes, {sub.nnz} edges among them")
    return ax


# ---- TurnResult ---------------------------------------------------------------------------------

def turn_repr(turn) -> str:
    """The repr of a :class:`clematis.TurnResult` (layer 4, so not imported here)."""
    return _clip(f"TurnResult(turn={turn.turn}, agent={turn.agent!r}, graphs={len(turn.graphs)}, "
                 f"merged={len(turn.merged)}, pops={turn.metrics.get('pops', 0)}, "
                 f"truncated={any(r.truncated for r in turn.graphs)}, "
                 f"top=[{_named(turn.top(REPR_TOP))}])")


def turn_html(turn) -> str:
    caption = (f"TurnResult: turn {turn.turn}, agent {turn.agent}, {len(turn.graphs)} graphs, "
               f"{len(turn.merged)} merged nodes")
    top = _table(("rank", "id", "label", "activation"),
                 ((rank, node, label, f"{value:.6g}") for rank, (node, label, value)
                  in enumerate(turn.top(HTML_TOP), 1)), caption)
    graphs = _table(("graph", "backend", "nodes", "pops", "truncated"),
                    ((i, r.backend, len(r), r.metrics.get("pops", 0), r.truncated)
                     for i, r in enumerate(turn.graphs)), "per graph")
    scalars = ((k, v) for k, v in turn.metrics.items() if not isinstance(v, dict))
    metrics = _table(("metric", "value"), scalars, "merged metrics")
    return f"<div>{top}{graphs}{metrics}</div>"
