"""The graphs and seeds that benchmarks and tests share: the design's perf-smoke shape (issue 2,
"Speed") and a large uniform graph for the batch benchmarks.

Tests import this module (pytest's ``pythonpath``); nothing in benchmarks/ imports from tests/.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from clematis import ConceptGraph

SMOKE_NODES = 8000
SMOKE_EDGES = 50000
SMOKE_SEED = 1337
RELATION_ASSOCIATES = 1  # rel_code of "associates" (multiplier 0.6) in the default relations


def smoke_matrix(n: int = SMOKE_NODES, m: int = SMOKE_EDGES, seed: int = SMOKE_SEED) -> sp.csr_array:
    """Uniform out-degree ``m // n`` (rows differ by at most one), random targets, weights
    uniform in 0.2-1.0."""
    rng = np.random.default_rng(seed)
    indptr = (np.arange(n + 1, dtype=np.int64) * m // n).astype(np.int32)
    indices = rng.integers(0, n, m).astype(np.int32)
    weights = rng.uniform(0.2, 1.0, m).astype(np.float32)
    return sp.csr_array((weights, indices, indptr), shape=(n, n))


def as_graph(matrix: sp.csr_array) -> ConceptGraph:
    """Every edge "associates" (relation multiplier 0.6)."""
    return ConceptGraph.from_csr(matrix, rel_code=np.full(matrix.nnz, RELATION_ASSOCIATES, np.int32))


def smoke_graph(n: int = SMOKE_NODES, m: int = SMOKE_EDGES, seed: int = SMOKE_SEED) -> ConceptGraph:
    return as_graph(smoke_matrix(n, m, seed))


def padded_smoke_graph(n_base: int, n: int, seed: int = SMOKE_SEED) -> ConceptGraph:
    """A smoke-shaped graph of ``n_base`` nodes followed by a disjoint smoke-shaped one up to ``n``
    nodes (both with the smoke graph's mean out-degree, 6.25).

    A query seeded below ``n_base`` does the same work as on the ``n_base``-node graph alone, so
    timing both shows what the graph size alone costs a query.
    """
    parts = [smoke_matrix(size, size * SMOKE_EDGES // SMOKE_NODES, seed + i)
             for i, size in enumerate((n_base, n - n_base)) if size]
    offsets = np.cumsum([0] + [p.shape[0] for p in parts])
    edge_offsets = np.cumsum([0] + [p.nnz for p in parts])
    indptr = np.concatenate([[0]] + [p.indptr[1:] + e for p, e in zip(parts, edge_offsets, strict=False)])
    indices = np.concatenate([p.indices + o for p, o in zip(parts, offsets, strict=False)])
    weights = np.concatenate([p.data for p in parts])
    return as_graph(sp.csr_array((weights, indices.astype(np.int32), indptr.astype(np.int32)),
                                 shape=(n, n)))


def uniform_graph(n: int, degree: int, seed: int) -> ConceptGraph:
    """``n`` nodes with ``degree`` random out-edges each, weights uniform in [0.2, 1.0)."""
    rng = np.random.default_rng(seed)
    m = n * degree
    indptr = np.arange(0, m + 1, degree, dtype=np.int32)
    indices = rng.integers(0, n, m, dtype=np.int32)
    weights = rng.uniform(0.2, 1.0, m).astype(np.float32)
    return ConceptGraph.from_csr(sp.csr_array((weights, indices, indptr), shape=(n, n)))


def first_seeds(k: int) -> np.ndarray:
    """Seeds ``0 .. k-1`` (weights default to 1.0)."""
    return np.arange(k, dtype=np.int32)
