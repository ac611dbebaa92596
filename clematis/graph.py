"""ConceptGraph: a validated CSR concept graph with ids, labels and typed edges."""

from __future__ import annotations

import dataclasses
import json
import os
import struct
import zipfile
import zlib
from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import replace
from functools import cached_property

import numpy as np
import scipy.sparse as sp

from . import display, interop
from ._graph_file import LOAD_MAX_EDGES, LOAD_MAX_NODES, read_graph_members, write_atomically
from ._params import DEFAULT_RELATION_MULTIPLIERS
from ._validation import (
    MAX_NODES,
    CSRArrays,
    as_count,
    as_float32_array,
    as_float32_scalar,
    excerpt,
    validate_coded_arrays,
)

FORMAT_VERSION = 2  # 2: rel_code stored as the graph holds it (uint8, or uint16); 1: int32
READABLE_VERSIONS = (1, 2)
_META_KEYS = ("format_version", "node_ids", "labels", "relations", "relation_multipliers")
# What a corrupt, truncated or crafted graph file can make the readers raise.
_UNREADABLE = (OSError, EOFError, KeyError, ValueError, TypeError, AttributeError, OverflowError,
               RecursionError, MemoryError, NotImplementedError, RuntimeError, struct.error,
               zlib.error, zipfile.BadZipFile, zipfile.LargeZipFile)


def key_rank_of(node_ids: Sequence[str] | None, n: int) -> np.ndarray:
    """Rank of each node id in the lexicographic order of all ids (docs/spec.md §5)."""
    if node_ids is None:
        return np.arange(n, dtype=np.int32)
    order = sorted(range(n), key=node_ids.__getitem__)
    rank = np.empty(n, dtype=np.int32)
    rank[order] = np.arange(n, dtype=np.int32)
    return rank


class ConceptGraph:
    """A concept graph ready for T1 queries.

    Validated once at construction; queries then reuse the arrays (and the scratch spaces the
    kernel layer keeps per graph), doing no O(n) work. Build one with :meth:`from_csr` or :meth:`from_edges`.

    Attributes: ``arrays`` (the kernel's CSR arrays: ``rel_code`` per edge, uint8 or uint16,
    indexes ``rel_table``; ``arrays.rel_mult`` is computed on access, not stored), ``node_ids``
    (strings, or None for integer ids), ``labels``, ``relations`` (names indexed by ``rel_code``)
    and ``relation_multipliers``.
    """

    def __init__(
        self,
        arrays: CSRArrays,
        node_ids: Sequence[str] | None,
        labels: Sequence[str],
        relations: Sequence[str],
        relation_multipliers: Mapping[str, float],
    ) -> None:
        """A graph from kernel arrays and their metadata, all checked (O(n + m)).

        ``arrays`` must be consistent in full: the CSR structure and lengths, ``rel_code``
        indexing ``relations`` (stored as uint8, or uint16 beyond 256 relations), ``rel_table``
        equal to the float32 multiplier of each relation, ``tie_pos``/``node_of_pos`` derived
        from ``key_rank``. Arrays that are not read-only are copied. :meth:`from_csr` and
        :meth:`from_edges` are the usual way in.
        """
        if not isinstance(arrays, CSRArrays):
            raise TypeError(f"arrays must be a CSRArrays, got {type(arrays).__name__}; "
                            "build graphs with ConceptGraph.from_csr or from_edges")
        given = arrays
        relations, multipliers = _checked_relations(relations, relation_multipliers)
        table = _multiplier_table(relations, multipliers)
        arrays = validate_coded_arrays(given.indptr, given.indices, given.weights, given.rel_code,
                                       table, given.key_rank)
        for name in ("tie_pos", "node_of_pos"):
            if not np.array_equal(np.asarray(getattr(given, name)), getattr(arrays, name)):
                raise ValueError(f"arrays.{name} does not match arrays.key_rank")
        given_table = as_float32_array("arrays.rel_table", given.rel_table)
        if not np.array_equal(given_table.view(np.int32), table.view(np.int32)):
            raise ValueError("arrays.rel_table must be the float32 multiplier of each relation")
        ids = _check_node_ids(node_ids, arrays.n_nodes)
        owned = {name: arr.copy() if arr.flags.writeable else arr for name, arr in vars(arrays).items()}
        arrays = CSRArrays(**owned)
        _freeze(arrays)
        self._adopt(arrays, ids, _check_labels(labels, ids, arrays.n_nodes), relations, multipliers)

    @classmethod
    def _from_checked(cls, arrays: CSRArrays, node_ids: list[str] | None, labels: list[str],
                      relations: list[str], relation_multipliers: dict[str, float]) -> ConceptGraph:
        """A graph from frozen arrays and metadata already checked together (no work)."""
        graph = cls.__new__(cls)
        graph._adopt(arrays, node_ids, labels, relations, relation_multipliers)
        return graph

    def _adopt(self, arrays: CSRArrays, node_ids: list[str] | None, labels: list[str],
               relations: list[str], relation_multipliers: dict[str, float]) -> None:
        self.arrays = arrays
        self.node_ids = node_ids
        self.labels = labels
        self.relations = relations
        self.relation_multipliers = relation_multipliers
        self._index = {nid: i for i, nid in enumerate(node_ids)} if node_ids is not None else None
        self._multiplier_views: dict[tuple, ConceptGraph] = {}

    # ---- pickling (Dask, multiprocessing): the constructor's arguments, nothing validated again --

    def __getstate__(self) -> dict:
        """The graph's data; the id index and caches are rebuilt by the copy."""
        return {"arrays": self.arrays, "node_ids": self.node_ids, "labels": self.labels,
                "relations": self.relations, "relation_multipliers": self.relation_multipliers}

    def __setstate__(self, state: dict) -> None:
        _freeze(state["arrays"])
        self._adopt(**state)

    # ---- construction -----------------------------------------------------------------------

    @classmethod
    def from_csr(
        cls,
        matrix,
        rel_code=None,
        node_ids: Sequence[str] | None = None,
        labels: Sequence[str] | None = None,
        relations: Sequence[str] | None = None,
        relation_multipliers: Mapping[str, float] | None = None,
        *,
        rel_code_order: interop.RelCodeOrder | None = None,
    ) -> ConceptGraph:
        """Build from a square SciPy sparse matrix/array (``matrix[u, v]`` = weight of u -> v).

        ``rel_code[e]`` indexes ``relations`` for the e-th stored entry of a CSR matrix (default:
        every edge is ``relations[0]``); for any other format say which order it follows with
        ``rel_code_order="input"`` (the matrix's own entry order, duplicates kept as separate
        edges) or ``"csr"`` (after SciPy's conversion), see :func:`clematis.interop.csr_entries`.
        ``relations`` defaults to supports, associates, contradicts; each needs a multiplier in
        ``relation_multipliers`` (defaults of docs/spec.md §7).
        """
        if not sp.issparse(matrix):
            raise TypeError(f"matrix must be a SciPy sparse matrix or array, got {type(matrix).__name__}")
        if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
            raise ValueError(f"matrix must be square, got shape {matrix.shape}")
        n = matrix.shape[0]
        if n > MAX_NODES:  # before converting or copying anything
            raise ValueError(f"matrix has {n} rows; at most {MAX_NODES} nodes are supported")
        relations, multipliers = _checked_relations(relations, relation_multipliers)
        ids = _check_node_ids(node_ids, n)
        label_list = _check_labels(labels, ids, n)
        csr, codes = interop.csr_entries(matrix, rel_code, rel_code_order)
        arrays = validate_coded_arrays(csr.indptr, csr.indices, csr.data, codes,
                                       _multiplier_table(relations, multipliers), key_rank_of(ids, n))
        # the caller's arrays (a CSR input's own, a given rel_code) are copied, converted ones kept
        theirs = [csr.indptr, csr.indices, csr.data] + ([codes] if rel_code is not None else [])
        arrays = CSRArrays(**{name: arr.copy() if any(np.may_share_memory(arr, t) for t in theirs) else arr
                              for name, arr in vars(arrays).items()})
        _freeze(arrays)
        return cls._from_checked(arrays, ids, label_list, relations, multipliers)

    @classmethod
    def from_edges(
        cls,
        edges: Iterable[tuple[str, str, float, str]],
        labels: Mapping[str, str] | None = None,
        nodes: Sequence[str] | None = None,
        relation_multipliers: Mapping[str, float] | None = None,
    ) -> ConceptGraph:
        """Build from ``(src, dst, weight, relation)`` records with string ids.

        Nodes are numbered in the order of ``nodes`` (if given), then of first appearance in
        ``edges``; each row keeps its edges in input order. ``labels`` maps ids to labels
        (default: the id itself).
        """
        if labels is not None and not isinstance(labels, Mapping):
            raise TypeError(f"labels must be a mapping from node id to label, got {type(labels).__name__}")
        index: dict[str, int] = {}
        for nid in _string_list("nodes", nodes) if nodes is not None else ():
            index.setdefault(nid, len(index))
        multipliers = _merged_multipliers(relation_multipliers)
        relations: dict[str, int] = {}
        src, dst, weight, code = [], [], [], []
        for pos, record in enumerate(edges):
            s, d, w, rel = _edge_record(pos, record)
            for nid in (s, d):
                index.setdefault(nid, len(index))
            if rel not in multipliers:
                raise ValueError(f"edges[{pos}]: unknown relation {excerpt(rel)}; known: "
                                 f"{', '.join(sorted(multipliers))} (or pass relation_multipliers)")
            src.append(index[s])
            dst.append(index[d])
            weight.append(w)
            code.append(relations.setdefault(rel, len(relations)))
        n = len(index)
        if n > MAX_NODES:
            raise ValueError(f"edges name {n} nodes; at most {MAX_NODES} are supported")
        order = np.argsort(np.asarray(src, dtype=np.int64), kind="stable")
        counts = np.bincount(np.asarray(src, dtype=np.int64), minlength=n)
        indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
        weights = np.asarray(weight, dtype=np.float64)[order] if weight else np.zeros(0)
        matrix = sp.csr_array(
            (weights, np.asarray(dst, dtype=np.int32)[order], indptr), shape=(n, n)
        )
        ids = list(index)
        label_list = None
        if labels is not None:
            label_list = [labels.get(nid, nid) for nid in ids]
        return cls.from_csr(
            matrix,
            rel_code=np.asarray(code, dtype=np.int32)[order],
            node_ids=ids,
            labels=label_list,
            relations=list(relations) or ["supports"],
            relation_multipliers=multipliers,
        )

    @classmethod
    def from_pandas(
        cls,
        df,
        source: str = "src",
        target: str = "dst",
        weight: str | None = "weight",
        relation: str | None = "relation",
        labels=None,
        *,
        nodes: Iterable[str] | None = None,
        relation_multipliers: Mapping[str, float] | None = None,
    ) -> ConceptGraph:
        """Build from a DataFrame of edges, one row per edge (``pip install 'clematis[pandas]'``).

        Node ids (strings) are numbered by ``nodes``, then first appearance; each node keeps its
        edges in row order, duplicate rows as separate edges. ``weight=None``: every weight 1.0;
        ``relation=None``: every edge ``supports``. ``labels``: a mapping or Series id -> label.
        """
        return interop.from_pandas(cls, df, source=source, target=target, weight=weight, relation=relation,
                                   labels=labels, nodes=nodes, relation_multipliers=relation_multipliers)

    @classmethod
    def from_networkx(
        cls,
        G,
        weight: str = "weight",
        relation: str = "relation",
        label: str = "label",
        *,
        relation_multipliers: Mapping[str, float] | None = None,
    ) -> ConceptGraph:
        """Build from a networkx DiGraph or MultiDiGraph with string nodes
        (``pip install 'clematis[networkx]'``).

        Nodes keep ``G.nodes`` order, edges ``G.edges`` order (parallel edges kept, in the order a
        MultiDiGraph holds them: grouped by ``(u, v)``, which can reorder a node's edges). Missing edge
        attributes: weight 1.0, relation ``supports``; a missing node ``label`` is the id. The
        multipliers in ``G.graph["relation_multipliers"]`` (as :meth:`to_networkx` writes them)
        apply, updated by ``relation_multipliers``.
        """
        return interop.from_networkx(cls, G, weight=weight, relation=relation, label=label,
                                     relation_multipliers=relation_multipliers)

    def to_pandas(self):
        """The edges as a DataFrame ``src, dst, weight, relation`` in CSR order."""
        return interop.to_pandas(self)

    def to_networkx(self, *, multigraph: bool = False):
        """A networkx DiGraph (``multigraph=True``: a MultiDiGraph, needed for parallel edges):
        node attribute ``label``, edge attributes ``weight`` and ``relation``; relations and
        multipliers in ``G.graph``."""
        return interop.to_networkx(self, multigraph=multigraph)

    def with_weights(self, weights) -> ConceptGraph:
        """A new graph with the same structure, ids and relations and new edge weights
        (one finite float32 per stored edge, copied); this graph is left as it is."""
        a = self.arrays
        checked = validate_coded_arrays(a.indptr, a.indices, weights, a.rel_code, a.rel_table, a.key_rank)
        owned = checked.weights.copy()
        owned.flags.writeable = False
        return ConceptGraph._from_checked(dataclasses.replace(a, weights=owned), self.node_ids,
                                          self.labels, self.relations, self.relation_multipliers)

    # ---- lookups ----------------------------------------------------------------------------

    @property
    def n_nodes(self) -> int:
        return self.arrays.n_nodes

    @property
    def n_edges(self) -> int:
        return self.arrays.n_edges

    @property
    def matrix(self) -> sp.csr_array:
        """The weights as a SciPy CSR array (shares memory with the graph)."""
        a = self.arrays
        return sp.csr_array((a.weights, a.indices, a.indptr), shape=(self.n_nodes, self.n_nodes))

    def node_id(self, index: int) -> str | int:
        return self.node_ids[index] if self.node_ids is not None else int(index)

    @cached_property
    def label_scan_order(self) -> tuple[tuple[int, str], ...]:
        """(node, lower-cased label) sorted by lower-cased label, stable; empty labels left out."""
        lowered = [label.lower() for label in self.labels]
        order = sorted(range(len(lowered)), key=lowered.__getitem__)
        return tuple((i, lowered[i]) for i in order if lowered[i])

    def index_of(self, node, *, where: str = "node") -> int:
        """The index of a node given by id (str) or index (int)."""
        if isinstance(node, str):
            if self._index is None or node not in self._index:
                raise ValueError(f"{where}: unknown node id {node!r}")
            return self._index[node]
        if isinstance(node, bool | np.bool_) or not isinstance(node, int | np.integer):
            raise TypeError(f"{where}: a node is an id (str) or an index (int), got {node!r}")
        if not 0 <= node < self.n_nodes:
            raise ValueError(f"{where}: node index {node} is out of range [0, {self.n_nodes})")
        return int(node)

    def __contains__(self, node) -> bool:
        """True for a known node id (str) or an index in range (int)."""
        if isinstance(node, str):
            return self._index is not None and node in self._index
        if isinstance(node, bool | np.bool_) or not isinstance(node, int | np.integer):
            return False
        return bool(0 <= node < self.n_nodes)

    def with_relation_multipliers(self, multipliers: Mapping[str, float]) -> ConceptGraph:
        """This graph with the multiplier table ``arrays.rel_table`` recomputed from
        ``multipliers`` by relation name.

        Relations absent from ``multipliers`` keep their multiplier. Returns ``self`` when
        nothing changes (in float32); otherwise a graph sharing every array but the table (one
        float32 per relation), built once per distinct set of multipliers and cached.
        """
        if not isinstance(multipliers, Mapping):
            raise TypeError(f"multipliers must be a mapping from relation name to multiplier, "
                            f"got {type(multipliers).__name__}")
        wanted = {r: _multiplier(r, multipliers[r]) if r in multipliers else m
                  for r, m in self.relation_multipliers.items()}
        table = _multiplier_table(self.relations, wanted)
        current = _multiplier_table(self.relations, self.relation_multipliers)
        if np.array_equal(table.view(np.int32), current.view(np.int32)):
            return self
        key = tuple(table.tolist())
        view = self._multiplier_views.get(key)
        if view is None:
            table.flags.writeable = False
            view = ConceptGraph._from_checked(replace(self.arrays, rel_table=table), self.node_ids,
                                              self.labels, self.relations, wanted)
            view = self._multiplier_views.setdefault(key, view)
        return view

    def __repr__(self) -> str:
        return display.graph_repr(self)

    def _repr_html_(self) -> str:
        return display.graph_html(self)

    # ---- persistence ------------------------------------------------------------------------

    def save(self, path: str | os.PathLike) -> None:
        """Write one ``.npz`` (format version 2): SciPy's CSR keys plus rel_code (as stored:
        uint8, or uint16), ids, labels and relations.

        Atomic: the file is written beside ``path`` under a temporary name, flushed to disk and
        renamed over ``path``; if anything fails, an existing file at ``path`` is left intact.
        """
        a = self.arrays
        meta = json.dumps({
            "format_version": FORMAT_VERSION,
            "node_ids": self.node_ids,
            "labels": self.labels,
            "relations": self.relations,
            "relation_multipliers": self.relation_multipliers,
        }, sort_keys=True)
        write_atomically(path, lambda fh: np.savez(
            fh, format=np.array("csr"), shape=np.array([self.n_nodes, self.n_nodes]),
            indptr=a.indptr, indices=a.indices, data=a.weights, rel_code=a.rel_code,
            clematis_meta=np.array(meta),
        ))

    @classmethod
    def load(cls, path: str | os.PathLike, *, max_nodes: int = LOAD_MAX_NODES,
             max_edges: int = LOAD_MAX_EDGES) -> ConceptGraph:
        """Read a graph written by :meth:`save` (format version 1, int32 ``rel_code``, or 2).

        Every member's declared dtype and shape is checked against the file and against
        ``max_nodes``/``max_edges`` before its data is read; a corrupt, truncated, inconsistent
        or oversized file raises ValueError naming it.
        """
        max_nodes, max_edges = as_count("max_nodes", max_nodes), as_count("max_edges", max_edges)
        where = os.fspath(path)
        try:
            with open(path, "rb") as fh, zipfile.ZipFile(fh) as archive:
                n, parts = read_graph_members(archive, os.fstat(fh.fileno()).st_size,
                                              max_nodes=max_nodes, max_edges=max_edges)
            meta = _graph_meta(parts["clematis_meta"], parts["rel_code"])
            matrix = sp.csr_array((parts["data"], parts["indices"], parts["indptr"]), shape=(n, n))
            return cls.from_csr(matrix, rel_code=parts["rel_code"], node_ids=meta["node_ids"],
                                labels=meta["labels"], relations=meta["relations"],
                                relation_multipliers=meta["relation_multipliers"])
        except _UNREADABLE as exc:
            detail = str(exc) if isinstance(exc, ValueError | TypeError) else f"{type(exc).__name__}: {exc}"
            raise ValueError(f"{where}: not a readable clematis graph ({detail})") from exc


def _graph_meta(array: np.ndarray, rel_code: np.ndarray) -> dict:
    """The JSON record of a graph file, its keys and version checked, and the version's
    ``rel_code`` dtype (values: by from_csr)."""
    meta = json.loads(str(array[()]))
    if not isinstance(meta, dict):
        raise ValueError(f"clematis_meta is a JSON {type(meta).__name__}, expected an object")
    missing = [key for key in _META_KEYS if key not in meta]
    if missing:
        raise ValueError(f"clematis_meta lacks {', '.join(missing)}")
    version = meta["format_version"]
    if type(version) is not int or version not in READABLE_VERSIONS:
        raise ValueError(f"unsupported graph format version {excerpt(version)} "
                         f"(this version reads {', '.join(map(str, READABLE_VERSIONS))})")
    if version == 2 and rel_code.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"rel_code.npy holds {rel_code.dtype}; a version-2 file stores uint8 or uint16")
    return meta


def _freeze(arrays: CSRArrays) -> None:
    """The graph owns its arrays; queries never write them."""
    for arr in vars(arrays).values():
        arr.flags.writeable = False


def _string_list(name: str, values) -> list[str]:
    """``values`` as a list of strings; a bare string, a mapping or a set (whose order or
    meaning would be guessed) is refused."""
    if isinstance(values, str | bytes | Mapping | Set):
        raise TypeError(f"{name} must be a sequence of strings, got a {type(values).__name__}")
    try:
        out = list(values)
    except TypeError:
        raise TypeError(f"{name} must be a sequence of strings, got {type(values).__name__}") from None
    for pos, value in enumerate(out):
        if not isinstance(value, str):
            raise TypeError(f"{name} must be strings; {name}[{pos}] is {type(value).__name__} "
                            f"{excerpt(value)}")
    return [str(value) for value in out]


def _check_node_ids(node_ids, n: int) -> list[str] | None:
    if node_ids is None:
        return None
    ids = _string_list("node_ids", node_ids)
    if len(ids) != n:
        raise ValueError(f"node_ids must have one id per node ({n}), got {len(ids)}")
    if len(set(ids)) != n:
        raise ValueError("node_ids must be unique")
    return ids


def _check_labels(labels, ids: list[str] | None, n: int) -> list[str]:
    if labels is None:
        return list(ids) if ids is not None else [""] * n
    out = _string_list("labels", labels)
    if len(out) != n:
        raise ValueError(f"labels must have one label per node ({n}), got {len(out)}")
    return out


def _multiplier(relation: str, value) -> float:
    """A relation multiplier as a Python float: a real number, finite in float32."""
    name = f"relation_multipliers[{excerpt(relation)}]"
    if not isinstance(relation, str):
        raise TypeError(f"{name}: relation names must be strings")
    as_float32_scalar(name, value)
    return float(value)


def _merged_multipliers(relation_multipliers) -> dict[str, float]:
    """The default multipliers updated with the user's (checked)."""
    if relation_multipliers is not None and not isinstance(relation_multipliers, Mapping):
        raise TypeError(f"relation_multipliers must be a mapping from relation name to multiplier, "
                        f"got {type(relation_multipliers).__name__}")
    merged = dict(DEFAULT_RELATION_MULTIPLIERS)
    merged.update({r: _multiplier(r, m) for r, m in (relation_multipliers or {}).items()})
    return merged


def _checked_relations(relations, relation_multipliers) -> tuple[list[str], dict[str, float]]:
    """Relation names (default: the spec's three) and the multiplier of each."""
    multipliers = _merged_multipliers(relation_multipliers)
    names = list(DEFAULT_RELATION_MULTIPLIERS) if relations is None else _string_list("relations", relations)
    unknown = [r for r in names if r not in multipliers]
    if unknown:
        raise ValueError(f"relations {unknown} have no multiplier; pass relation_multipliers="
                         f"{{{unknown[0]!r}: ...}} (known: {', '.join(sorted(multipliers))})")
    return names, {r: multipliers[r] for r in names}


def _multiplier_table(relations: list[str], multipliers: Mapping[str, float]) -> np.ndarray:
    """float32 multiplier by relation code."""
    return np.array([multipliers[r] for r in relations], dtype=np.float32)


def _edge_record(pos: int, record) -> tuple[str, str, float | np.floating, str]:
    """One ``(src, dst, weight, relation)`` record of ``from_edges``, its types checked."""
    shape_error = f"edges[{pos}] must be (src, dst, weight, relation), got {excerpt(record)}"
    try:
        src, dst, weight, relation = record
    except TypeError:  # not iterable
        raise TypeError(shape_error) from None
    except ValueError:  # not four items
        raise ValueError(shape_error) from None
    for nid in (src, dst):
        if not isinstance(nid, str):
            raise TypeError(f"edges[{pos}]: node ids must be strings, got {excerpt(nid)}")
    if isinstance(weight, bool | np.bool_) or not isinstance(weight, int | float | np.integer | np.floating):
        raise TypeError(f"edges[{pos}]: the weight must be a real number, got "
                        f"{type(weight).__name__} {excerpt(weight)}")
    if not isinstance(relation, str):
        raise TypeError(f"edges[{pos}]: the relation must be a string, got {excerpt(relation)}")
    return src, dst, float(weight) if isinstance(weight, int | np.integer) else weight, relation
