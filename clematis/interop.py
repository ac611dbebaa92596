"""Conversions between :class:`~clematis.ConceptGraph` and pandas, networkx and SciPy matrices.

pandas and networkx are optional (``pip install 'clematis[pandas]'``, ``'clematis[networkx]'``).
Duplicate entries (two edges ``u -> v``) are kept as separate edges in input order, never summed:
summing would change the walk.
"""

from __future__ import annotations

import importlib
import numbers
from collections.abc import Iterable, Mapping, Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import scipy.sparse as sp

from ._validation import as_array

if TYPE_CHECKING:
    from .graph import ConceptGraph

RelCodeOrder = Literal["csr", "input"]
DEFAULT_RELATION = "supports"


def require(module: str, extra: str, feature: str) -> ModuleType:
    """Import an optional dependency, or raise an ImportError that says how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(f"{feature} needs {module}: pip install 'clematis[{extra}]'") from exc


def conversion_hint(obj: object) -> str:
    """How to turn ``obj`` into a ConceptGraph, for error messages (empty when unknown)."""
    module = type(obj).__module__.split(".")[0]
    if module == "networkx":
        return "; build one with ConceptGraph.from_networkx(G)"
    if module == "pandas":
        return "; build one with ConceptGraph.from_pandas(df)"
    if sp.issparse(obj):
        return "; build one with ConceptGraph.from_csr(matrix)"
    return ""


# ---- SciPy: the CSR arrays of any sparse matrix, relation codes in a declared order --------------

def csr_entries(matrix, rel_code, rel_code_order: RelCodeOrder | None) -> tuple[Any, np.ndarray]:
    """``(csr, rel_code)`` of a square sparse matrix, ``rel_code`` aligned with the CSR entries.

    A CSR input is used as it is (its stored order is its input order). Any other format:
    ``rel_code_order="input"`` reads ``rel_code[e]`` as the relation of the e-th entry of
    ``matrix.tocoo()`` (for COO, the order of ``row, col, data``) and keeps every entry, duplicates
    included, rows in input order; ``"csr"`` reads it after SciPy's conversion. Without
    ``rel_code_order`` a positional ``rel_code`` on a non-CSR input is refused (which order was
    meant cannot be known), and so are duplicate entries (SciPy's conversion would sum them).
    """
    if rel_code_order not in (None, "csr", "input"):
        raise ValueError(f"rel_code_order must be 'csr', 'input' or None, got {rel_code_order!r}")
    if matrix.format == "csr":
        return matrix, _codes(rel_code, matrix.nnz)
    if rel_code_order == "input":
        coo = matrix.tocoo()
        order = np.argsort(coo.row, kind="stable")
        counts = np.bincount(coo.row, minlength=coo.shape[0])
        indptr = np.concatenate([[0], np.cumsum(counts)])
        index_dtype = np.int64 if max(coo.shape[0], coo.nnz) > np.iinfo(np.int32).max else np.int32
        csr = sp.csr_array((coo.data[order], coo.col[order].astype(index_dtype),
                            indptr.astype(index_dtype)), shape=coo.shape)
        return csr, _codes(rel_code, coo.nnz)[order]
    if rel_code is not None and rel_code_order is None:
        raise ValueError(f"rel_code for a {matrix.format.upper()} matrix is ambiguous: pass "
                         "rel_code_order='input' (rel_code[e] is the e-th entry as given, e.g. COO "
                         "row/col/data order) or rel_code_order='csr' (after conversion to CSR)")
    coo = matrix.tocoo()
    if coo.nnz and np.unique(np.stack([coo.row, coo.col]), axis=1).shape[1] != coo.nnz:
        raise ValueError(f"matrix ({matrix.format.upper()}) has duplicate entries, which converting to "
                         "CSR would sum; pass rel_code_order='input' to keep them as separate edges, "
                         "or call matrix.sum_duplicates() first")
    csr = matrix.tocsr()
    return csr, _codes(rel_code, csr.nnz)


def _codes(rel_code, m: int) -> np.ndarray:
    """One relation code per stored edge (default 0), not yet converted: ``validate_coded_arrays``
    checks and narrows them."""
    codes = np.zeros(m, dtype=np.uint8) if rel_code is None else as_array("rel_code", rel_code)
    if codes.ndim != 1:
        raise ValueError(f"rel_code must be one-dimensional, got shape {codes.shape}")
    if codes.shape != (m,):
        raise ValueError(f"rel_code must have one entry per stored edge ({m}), got shape {codes.shape}")
    return codes


# ---- edge lists: the one builder behind pandas and networkx -------------------------------------

def _from_edge_columns(cls: type[ConceptGraph], src: Sequence, dst: Sequence, weights: np.ndarray,
                       relation_names: Sequence[str], *, nodes: Iterable | None,
                       labels: Mapping | None, relations: Sequence[str] | None,
                       relation_multipliers: Mapping[str, float] | None, where: str) -> ConceptGraph:
    """A graph from parallel edge columns; nodes numbered by ``nodes``, then first appearance."""
    index: dict[str, int] = {}
    for nid in nodes or ():
        _check_id(nid, where)
        index.setdefault(nid, len(index))
    for s, d in zip(src, dst, strict=True):
        _check_id(s, where)
        _check_id(d, where)
        index.setdefault(s, len(index))
        index.setdefault(d, len(index))
    names = list(dict.fromkeys([*(relations or ()), *relation_names]))  # given order, then first use
    code_of = {name: code for code, name in enumerate(names)}
    n = len(index)
    rows = np.fromiter((index[s] for s in src), dtype=np.int64, count=len(src))
    cols = np.fromiter((index[d] for d in dst), dtype=np.int64, count=len(dst))
    codes = np.fromiter((code_of[r] for r in relation_names), dtype=np.int32, count=len(relation_names))
    matrix = sp.coo_array((weights, (rows, cols)), shape=(n, n))
    ids = list(index)
    label_list = [str(labels.get(nid, nid)) for nid in ids] if labels is not None else None
    return cls.from_csr(matrix, rel_code=codes, rel_code_order="input", node_ids=ids, labels=label_list,
                        relations=names or [DEFAULT_RELATION], relation_multipliers=relation_multipliers)


def _check_id(nid, where: str) -> None:
    if not isinstance(nid, str):
        raise TypeError(f"{where}: node ids must be strings, got {type(nid).__name__} {nid!r} "
                        "(convert them first, e.g. df[col].astype(str) or nx.relabel_nodes(G, str))")


def _check_weight(value, where: str) -> float:
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        raise TypeError(f"{where}: a weight must be a real number, got {type(value).__name__} {value!r}")
    return float(value)


# ---- pandas ----------------------------------------------------------------------------------

def from_pandas(cls: type[ConceptGraph], df, *, source: str, target: str, weight: str | None,
                relation: str | None, labels, nodes: Iterable[str] | None,
                relation_multipliers: Mapping[str, float] | None) -> ConceptGraph:
    """See :meth:`clematis.ConceptGraph.from_pandas`."""
    pd = require("pandas", "pandas", "ConceptGraph.from_pandas")
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"df must be a pandas DataFrame, got {type(df).__name__}")
    for role, column in (("source", source), ("target", target), ("weight", weight), ("relation", relation)):
        if column is not None and column not in df.columns:
            raise ValueError(f"{role}={column!r} is not a column of df (columns: "
                             f"{', '.join(map(str, df.columns))})")
    if weight is None:
        weights = np.ones(len(df), dtype=np.float64)
    else:
        column = df[weight]
        if pd.api.types.is_bool_dtype(column) or not pd.api.types.is_numeric_dtype(column):
            raise TypeError(f"weight column {weight!r} must be numeric, got dtype {column.dtype}")
        weights = column.to_numpy()
    names = [DEFAULT_RELATION] * len(df) if relation is None else df[relation].tolist()
    for pos, name in enumerate(names):
        if not isinstance(name, str):
            raise TypeError(f"relation column {relation!r}, row {pos}: a relation is a name (str), "
                            f"got {name!r}")
    if labels is not None and hasattr(labels, "items") and not isinstance(labels, Mapping):
        labels = dict(labels.items())  # a Series indexed by node id
    if labels is not None and not isinstance(labels, Mapping):
        raise TypeError("labels must map node ids to labels (a dict or a Series), "
                        f"got {type(labels).__name__}")
    return _from_edge_columns(cls, df[source].tolist(), df[target].tolist(), weights, names, nodes=nodes,
                              labels=labels, relations=None, relation_multipliers=relation_multipliers,
                              where=f"df[{source!r}]/df[{target!r}]")


def to_pandas(graph: ConceptGraph):
    """See :meth:`clematis.ConceptGraph.to_pandas`."""
    pd = require("pandas", "pandas", "ConceptGraph.to_pandas")
    a = graph.arrays
    rows = np.repeat(np.arange(graph.n_nodes), np.diff(a.indptr))
    ids = np.array(graph.node_ids, dtype=object) if graph.node_ids is not None else None
    return pd.DataFrame({
        "src": ids[rows] if ids is not None else rows,
        "dst": ids[a.indices] if ids is not None else a.indices.astype(np.int64),
        "weight": np.array(a.weights),
        "relation": np.array(graph.relations, dtype=object)[a.rel_code],
    })


# ---- networkx --------------------------------------------------------------------------------

def from_networkx(cls: type[ConceptGraph], G, *, weight: str, relation: str, label: str,
                  relation_multipliers: Mapping[str, float] | None) -> ConceptGraph:
    """See :meth:`clematis.ConceptGraph.from_networkx`."""
    nx = require("networkx", "networkx", "ConceptGraph.from_networkx")
    if not isinstance(G, nx.Graph):
        raise TypeError(f"G must be a networkx graph, got {type(G).__name__}")
    if not G.is_directed():
        raise TypeError(f"G is an undirected {type(G).__name__}: pass G.to_directed() for an edge each way")
    src, dst, weights, names = [], [], [], []
    for s, d, data in G.edges(data=True):
        where = f"edge {s!r} -> {d!r}"
        src.append(s)
        dst.append(d)
        weights.append(_check_weight(data.get(weight, 1.0), f"{where}, {weight!r}"))
        name = data.get(relation, DEFAULT_RELATION)
        if not isinstance(name, str):
            raise TypeError(f"{where}: relation {relation!r} must be a name (str), got {name!r}")
        names.append(name)
    multipliers = dict(G.graph.get("relation_multipliers", {}))
    multipliers.update(relation_multipliers or {})
    labels = {node: data[label] for node, data in G.nodes(data=True) if label in data}
    return _from_edge_columns(cls, src, dst, np.asarray(weights, dtype=np.float64), names,
                              nodes=list(G.nodes), labels=labels, relations=G.graph.get("relations"),
                              relation_multipliers=multipliers, where="G")


def to_networkx(graph: ConceptGraph, *, multigraph: bool = False):
    """See :meth:`clematis.ConceptGraph.to_networkx`."""
    nx = require("networkx", "networkx", "ConceptGraph.to_networkx")
    a = graph.arrays
    rows = np.repeat(np.arange(graph.n_nodes), np.diff(a.indptr))
    if not multigraph and graph.n_edges:
        pairs = rows.astype(np.int64) * max(graph.n_nodes, 1) + a.indices
        if np.unique(pairs).shape[0] != graph.n_edges:
            raise ValueError("the graph has parallel edges (u -> v more than once); a DiGraph holds "
                             "one: pass multigraph=True for a MultiDiGraph")
    G = nx.MultiDiGraph() if multigraph else nx.DiGraph()
    G.graph["relations"] = list(graph.relations)
    G.graph["relation_multipliers"] = dict(graph.relation_multipliers)
    ids = [graph.node_id(i) for i in range(graph.n_nodes)]
    G.add_nodes_from((nid, {"label": graph.labels[i]}) for i, nid in enumerate(ids))
    G.add_edges_from((ids[u], ids[v], {"weight": float(w), "relation": graph.relations[r]})
                     for u, v, w, r in zip(rows.tolist(), a.indices.tolist(), a.weights.tolist(),
                                           a.rel_code.tolist(), strict=True))
    return G
