"""Small queries against networkx (issue 15, item 1): one workload, shared by
``test_bench_small.py`` and ``compare.py``.

A 64-node graph (4 distinct random out-neighbours per node, no self-loops, weights 0.2-1.0, one
relation) and, from every node in turn, a one-seed radius-1 query — in clematis, and as
networkx's pure-Python weighted ``single_source_dijkstra_path_length(G, s, cutoff=1.0)``. Every
call below runs the 64 queries, so ``clematis time / networkx time`` is the per-query ratio.
"""

from __future__ import annotations

from collections.abc import Callable

import networkx as nx
import numpy as np
import scipy.sparse as sp

import clematis
from clematis import ConceptGraph

SMALL_NODES = 64
SMALL_DEGREE = 4
SMALL_SEED = 15
SMALL_PARAMS = {"radius_cap": 1}
NETWORKX_CUTOFF = 1.0


def small_graph(n: int = SMALL_NODES, degree: int = SMALL_DEGREE, seed: int = SMALL_SEED) -> ConceptGraph:
    """``degree`` distinct random targets per node, none the node itself; every edge relation 0."""
    rng = np.random.default_rng(seed)
    targets = [np.sort(rng.choice(np.delete(np.arange(n), u), degree, replace=False)) for u in range(n)]
    indices = np.concatenate(targets).astype(np.int32)
    indptr = np.arange(0, n * degree + 1, degree, dtype=np.int32)
    weights = rng.uniform(0.2, 1.0, n * degree).astype(np.float32)
    return ConceptGraph.from_csr(sp.csr_array((weights, indices, indptr), shape=(n, n)))


def as_networkx(graph: ConceptGraph) -> nx.DiGraph:
    """The same directed edges with their weights as ``weight``."""
    a = graph.arrays
    g = nx.DiGraph()
    g.add_nodes_from(range(graph.n_nodes))
    rows = np.repeat(np.arange(graph.n_nodes), np.diff(a.indptr))
    g.add_weighted_edges_from(zip(rows.tolist(), a.indices.tolist(), a.weights.tolist(), strict=True))
    return g


def small_query_calls(graph: ConceptGraph) -> dict[str, Callable[[], list]]:
    """Each side's call running the one-seed query from every node; the results as a list.

    ``propagate_many`` runs in the calling thread (``workers=1``), like every other side.
    """
    sources = range(graph.n_nodes)
    seed_sets = [[s] for s in sources]
    native = clematis.Query(graph, backend="native", **SMALL_PARAMS)
    g = as_networkx(graph)
    return {
        "propagate native": lambda: [clematis.propagate(graph, s, backend="native", **SMALL_PARAMS)
                                     for s in seed_sets],
        "propagate python": lambda: [clematis.propagate(graph, s, backend="python", **SMALL_PARAMS)
                                     for s in seed_sets],
        "Query.run native": lambda: [native.run(s) for s in seed_sets],
        "propagate_many native": lambda: clematis.propagate_many(graph, seed_sets, workers=1,
                                                                 backend="native", **SMALL_PARAMS),
        "networkx": lambda: [nx.single_source_dijkstra_path_length(g, s, cutoff=NETWORKX_CUTOFF)
                             for s in sources],
    }
