"""Input validation shared by both backends (docs/spec.md §1).

Everything is checked here, in Python, before any backend runs, so the native and the
Python backend raise the same exception with the same message for the same bad input.
"""

from __future__ import annotations

import math
import operator
import reprlib
from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

MAX_NODES = np.iinfo(np.int32).max - 1  # node ids and distances + 1 travel as int32 in the kernel
MAX_RELATIONS = 1 << 16  # a ConceptGraph's rel_code is uint8 up to 256 relations, uint16 up to this
EXCERPT_CHARS = 80  # error messages quote at most this much of a bad value

_EXCERPT = reprlib.Repr()
_EXCERPT.maxlevel = 3
_EXCERPT.maxstring = _EXCERPT.maxother = EXCERPT_CHARS
for _attr in ("maxtuple", "maxlist", "maxarray", "maxdict", "maxset", "maxfrozenset", "maxdeque"):
    setattr(_EXCERPT, _attr, 8)


def clip(text: str, limit: int = EXCERPT_CHARS) -> str:
    """``text`` cut to at most ``limit`` characters (ending in ``...`` when cut)."""
    return text if len(text) <= limit else text[:limit - 3] + "..."


def excerpt(value) -> str:
    """A repr of ``value`` for an error message: at most ``EXCERPT_CHARS`` characters, computed
    without walking more than a few levels of a nested (or self-referencing) container."""
    return clip(_EXCERPT.repr(value))


@dataclass(frozen=True, eq=False)
class KernelArrays(ABC):
    """The validated arrays of one graph, in the kernel's dtypes, C-contiguous (compared and
    hashed by identity: scratch spaces are kept per graph). The multipliers of the edges come in
    one of two forms: :class:`RawArrays` (per edge) or :class:`CSRArrays` (per relation)."""

    indptr: np.ndarray
    indices: np.ndarray
    weights: np.ndarray
    rel_code: np.ndarray
    key_rank: np.ndarray
    tie_pos: np.ndarray  # rank of each node in (key_rank, node) order, for the native queue
    node_of_pos: np.ndarray  # inverse of tie_pos

    @property
    def n_nodes(self) -> int:
        return self.indptr.shape[0] - 1

    @property
    def n_edges(self) -> int:
        return self.indices.shape[0]

    @abstractmethod
    def multiplier(self, e: int) -> np.float32:
        """``rel_mult[e]``, the float32 multiplier of edge ``e`` (docs/spec.md §1)."""

    @abstractmethod
    def kernel_multipliers(self) -> tuple[np.ndarray, np.ndarray]:
        """``(rel, rel_table)`` as the compiled kernel takes them: the float32 ``rel_mult`` and an
        empty table, or the uint8/uint16 ``rel_code`` and the table it indexes."""


@dataclass(frozen=True, eq=False)
class RawArrays(KernelArrays):
    """The arrays of the raw kernel contract (``clematis.t1``): a float32 multiplier per edge;
    ``rel_code`` (int32) is validated and never read."""

    rel_mult: np.ndarray

    def multiplier(self, e: int) -> np.float32:
        return self.rel_mult[e]

    def kernel_multipliers(self) -> tuple[np.ndarray, np.ndarray]:
        return self.rel_mult, _NO_TABLE


@dataclass(frozen=True, eq=False)
class CSRArrays(KernelArrays):
    """A ConceptGraph's arrays: ``rel_code`` (uint8 up to 256 relations, else uint16) indexes
    ``rel_table``, the float32 multiplier of each relation; no per-edge multiplier is stored."""

    rel_table: np.ndarray

    @property
    def rel_mult(self) -> np.ndarray:
        """``rel_table[rel_code]``, each edge's multiplier: not stored, computed on every access
        (a new read-only float32 array, 4 bytes per edge)."""
        out = self.rel_table[self.rel_code]
        out.flags.writeable = False
        return out

    def multiplier(self, e: int) -> np.float32:
        return self.rel_table[self.rel_code[e]]

    def kernel_multipliers(self) -> tuple[np.ndarray, np.ndarray]:
        return self.rel_code, self.rel_table


_NO_TABLE = np.zeros(0, dtype=np.float32)
_NO_TABLE.flags.writeable = False


def as_count(name: str, value) -> int:
    """An integer in ``[0, 2**63)``; bools and floats are refused."""
    if isinstance(value, bool | np.bool_):
        raise TypeError(f"{name} must be an integer, got bool {value!r}")
    try:
        count = operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}") from None
    if count < 0:
        raise ValueError(f"{name} must be >= 0, got {count}")
    if count > np.iinfo(np.int64).max:
        raise ValueError(f"{name} must be < 2**63, got {count}")
    return count


def as_float32_scalar(name: str, value) -> np.float32:
    """A real number rounded to float32; NaN, infinities and overflow are refused."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, int | float | np.integer | np.floating):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} {value!r}")
    if not math.isfinite(float(value)):
        raise ValueError(f"{name} must be finite, got {value!r}")
    with np.errstate(over="ignore"):
        rounded = np.float32(value)
    if not np.isfinite(rounded):
        raise ValueError(f"{name} overflows float32: {value!r}")
    return rounded


def as_unit_interval(name: str, value) -> np.float32:
    rounded = as_float32_scalar(name, value)
    if not 0.0 <= rounded <= 1.0:
        raise ValueError(f"{name} must be in [0, 1], got {value!r}")
    return rounded


def as_array(name: str, value) -> np.ndarray:
    """``value`` as an array, refusing what NumPy would silently reinterpret: a masked array (its
    mask would be dropped) and a bare string or bytes (a scalar, not a sequence)."""
    if isinstance(value, np.ma.MaskedArray):
        raise TypeError(f"{name} is a masked array; its mask would be ignored: pass "
                        f"{name}.filled(...) or {name}.compressed() instead")
    if isinstance(value, str | bytes):
        raise TypeError(f"{name} must be an array or a sequence, got a {type(value).__name__}")
    return np.asarray(value)


def _as_1d(name: str, array, dtype) -> np.ndarray:
    """Convert to a contiguous 1-D array of ``dtype`` without copying when already right.

    Integer targets take integer arrays only (an empty array of any real dtype is accepted, so
    ``[]`` works); float targets take integer or float arrays. Anything else (object, strings,
    booleans, complex) is a TypeError.
    """
    arr = as_array(name, array)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    integral = np.dtype(dtype).kind in "iu"
    allowed = "iu" if integral and arr.size else "iuf"
    if arr.dtype.kind not in allowed:
        raise TypeError(f"{name} must hold {'integers' if integral else 'real numbers'}, "
                        f"got dtype {arr.dtype}")
    if integral and arr.size and arr.dtype != dtype:
        info = np.iinfo(dtype)
        lo, hi = arr.min(), arr.max()
        if lo < info.min or hi > info.max:
            raise ValueError(f"{name} has values outside the {np.dtype(dtype).name} range")
    if not integral:
        with np.errstate(over="ignore"):
            out = np.ascontiguousarray(arr, dtype=dtype)
        if out.size and not np.isfinite(out).all():
            bad = int(np.flatnonzero(~np.isfinite(out))[0])
            raise ValueError(f"{name} must be finite (after rounding to float32); "
                             f"position {bad} holds {arr[bad].item()!r}")
        return out
    return np.ascontiguousarray(arr, dtype=dtype)


def as_float32_array(name: str, array) -> np.ndarray:
    """A contiguous 1-D array of finite float32 values (no copy when already one)."""
    return _as_1d(name, array, np.float32)


def index_dtype_of(indptr, indices) -> np.dtype:
    """int64 when either CSR index array is int64, else int32."""
    dtypes = {np.asarray(indptr).dtype, np.asarray(indices).dtype}
    return np.dtype(np.int64) if np.dtype(np.int64) in dtypes else np.dtype(np.int32)


def rel_code_dtype(n_relations: int) -> np.dtype:
    """The dtype of a ConceptGraph's ``rel_code``: uint8 up to 256 relations, uint16 up to
    ``MAX_RELATIONS``; more relations are a ValueError."""
    if n_relations > MAX_RELATIONS:
        raise ValueError(f"relations: {n_relations} given, at most {MAX_RELATIONS} are supported "
                         f"(rel_code is stored as uint16)")
    return np.dtype(np.uint8 if n_relations <= 256 else np.uint16)


def as_rel_codes(rel_code, n_relations: int) -> np.ndarray:
    """``rel_code`` as a ConceptGraph stores it: integers indexing ``n_relations`` relations, in
    ``rel_code_dtype(n_relations)`` (no copy when already so)."""
    dtype = rel_code_dtype(n_relations)
    codes = as_array("rel_code", rel_code)
    if codes.ndim == 1 and codes.size and codes.dtype.kind in "iu":  # range first: no wrap-around
        if codes.min() < 0 or codes.max() >= n_relations:
            raise ValueError(f"rel_code values must index relations (0 .. {n_relations - 1})")
    return _as_1d("rel_code", codes, dtype)


def _checked_csr(indptr, indices) -> tuple[np.ndarray, np.ndarray]:
    """The CSR structure of docs/spec.md §1: ``indptr`` and ``indices`` in the graph's index dtype."""
    indptr, indices = as_array("indptr", indptr), as_array("indices", indices)
    if indptr.ndim == 1 and indptr.shape[0] - 1 > MAX_NODES:  # before any conversion copies it
        raise ValueError(f"indptr describes {indptr.shape[0] - 1} nodes; at most {MAX_NODES} are supported")
    index_dtype = index_dtype_of(indptr, indices)
    indptr = _as_1d("indptr", indptr, index_dtype)
    indices = _as_1d("indices", indices, index_dtype)
    if indptr.shape[0] < 1:
        raise ValueError("indptr must have length n + 1 >= 1, got an empty array")
    n = indptr.shape[0] - 1
    m = indices.shape[0]
    if indptr[0] != 0:
        raise ValueError(f"indptr[0] must be 0, got {indptr[0]}")
    if indptr[-1] != m:
        raise ValueError(f"indptr[-1] must equal len(indices) = {m}, got {indptr[-1]}")
    if n and (np.diff(indptr) < 0).any():
        raise ValueError("indptr must be non-decreasing")
    if m and (indices.min() < 0 or indices.max() >= n):
        raise ValueError(f"indices must lie in [0, {n}), found values outside")
    return indptr, indices


def _graph_fields(indptr: np.ndarray, indices: np.ndarray, per_edge: dict[str, np.ndarray],
                  key_rank) -> dict[str, np.ndarray]:
    """Every array of the graph by field name: ``per_edge`` checked for one entry per edge,
    ``key_rank`` and the tie order derived from it."""
    n, m = indptr.shape[0] - 1, indices.shape[0]
    for name, arr in per_edge.items():
        if arr.shape[0] != m:
            raise ValueError(f"{name} must have one entry per edge ({m}), got {arr.shape[0]}")
    key_rank = _as_1d("key_rank", key_rank, np.int32)
    if key_rank.shape[0] != n:
        raise ValueError(f"key_rank must have one entry per node ({n}), got {key_rank.shape[0]}")
    node_of_pos = np.argsort(key_rank, kind="stable").astype(np.int32)  # radix sort: O(n)
    tie_pos = np.empty(n, dtype=np.int32)
    tie_pos[node_of_pos] = np.arange(n, dtype=np.int32)
    return dict(indptr=indptr, indices=indices, key_rank=key_rank, tie_pos=tie_pos,
                node_of_pos=node_of_pos, **per_edge)


def validate_graph_arrays(indptr, indices, weights, rel_code, rel_mult, key_rank) -> RawArrays:
    """The raw kernel contract's arrays (docs/spec.md §1), checked (O(n + m))."""
    indptr, indices = _checked_csr(indptr, indices)
    per_edge = {
        "weights": _as_1d("weights", weights, np.float32),
        "rel_code": _as_1d("rel_code", rel_code, np.int32),
        "rel_mult": _as_1d("rel_mult", rel_mult, np.float32),
    }
    return RawArrays(**_graph_fields(indptr, indices, per_edge, key_rank))


def validate_coded_arrays(indptr, indices, weights, rel_code, rel_table, key_rank) -> CSRArrays:
    """A ConceptGraph's arrays (docs/spec.md §1), checked (O(n + m)): ``rel_code`` must index
    ``rel_table`` and is narrowed to ``rel_code_dtype(len(rel_table))``."""
    indptr, indices = _checked_csr(indptr, indices)
    table = _as_1d("rel_table", rel_table, np.float32)
    per_edge = {
        "weights": _as_1d("weights", weights, np.float32),
        "rel_code": as_rel_codes(rel_code, table.shape[0]),
    }
    return CSRArrays(rel_table=table, **_graph_fields(indptr, indices, per_edge, key_rank))


def validate_seeds(seed_nodes, seed_weights, n_nodes: int, index_dtype) -> tuple[np.ndarray, np.ndarray]:
    """Seed indices in ``[0, n)`` (graph's index dtype) and finite float32 weights (default 1.0)."""
    nodes = _as_1d("seed_nodes", seed_nodes, index_dtype)
    if nodes.size and (nodes.min() < 0 or nodes.max() >= n_nodes):
        bad = int(np.flatnonzero((nodes < 0) | (nodes >= n_nodes))[0])
        raise ValueError(f"seed_nodes[{bad}] = {nodes[bad]} is out of range [0, {n_nodes})")
    if seed_weights is None:
        weights = np.ones(nodes.shape[0], dtype=np.float32)
    else:
        weights = _as_1d("seed_weights", seed_weights, np.float32)
        if weights.shape[0] != nodes.shape[0]:
            raise ValueError(f"seed_weights must have one entry per seed ({nodes.shape[0]}), "
                             f"got {weights.shape[0]}")
    return nodes, weights
