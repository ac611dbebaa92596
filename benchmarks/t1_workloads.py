"""Graphs and seeds the benchmarks share: the design's perf-smoke shape (spec, issue 2)."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from clematis import ConceptGraph

SMOKE_NODES = 8000
SMOKE_EDGES = 50000
SMOKE_SEED = 1337
RELATION_ASSOCIATES = 1  # rel_code of "associates" (multiplier 0.6) in the default relations


def smoke_graph(n: int = SMOKE_NODES, m: int = SMOKE_EDGES, seed: int = SMOKE_SEED) -> ConceptGraph:
    """Uniform out-degree ``m // n`` (rows differ by at most one), random targets, weights
    uniform in 0.2-1.0, every edge "associates" (relation multiplier 0.6)."""
    rng = np.random.default_rng(seed)
    indptr = (np.arange(n + 1, dtype=np.int64) * m // n).astype(np.int32)
    indices = rng.integers(0, n, m).astype(np.int32)
    weights = rng.uniform(0.2, 1.0, m).astype(np.float32)
    matrix = sp.csr_array((weights, indices, indptr), shape=(n, n))
    return ConceptGraph.from_csr(matrix, rel_code=np.full(m, RELATION_ASSOCIATES, np.int32))


def scaled_smoke_graph(n: int, seed: int = SMOKE_SEED) -> ConceptGraph:
    """The smoke shape at ``n`` nodes with the smoke graph's mean out-degree (6.25)."""
    return smoke_graph(n, n * SMOKE_EDGES // SMOKE_NODES, seed)


def first_seeds(k: int) -> np.ndarray:
    """Seeds ``0 .. k-1`` (weights default to 1.0)."""
    return np.arange(k, dtype=np.int32)
