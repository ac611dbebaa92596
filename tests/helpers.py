"""Helpers the tests share (one module: tests import it, benchmarks never do)."""

from __future__ import annotations

import json
import pathlib

import numpy as np
from t1_workloads import smoke_graph  # noqa: F401  (the perf-smoke graph, shared with benchmarks)

import clematis
import clematis.batch
from clematis.parity import identical  # the one comparator

REPO = pathlib.Path(__file__).resolve().parents[1]


def csr_graph(n: int, m: int, seed: int, *, index_dtype=np.int32, low=0.2, high=1.0):
    """A random CSR graph as (indptr, indices, weights, rel_code, rel_mult, key_rank)."""
    rng = np.random.default_rng(seed)
    src = np.sort(rng.integers(0, n, m)) if n else np.zeros(0, np.int64)
    dst = rng.integers(0, n, m) if n else np.zeros(0, np.int64)
    indptr = np.zeros(n + 1, dtype=index_dtype)
    np.cumsum(np.bincount(src, minlength=n), out=indptr[1:])
    weights = rng.uniform(low, high, m).astype(np.float32)
    return (indptr, dst.astype(index_dtype), weights, np.zeros(m, np.int32),
            np.full(m, 0.6, np.float32), np.arange(n, dtype=np.int32))


def save_version_1(g: clematis.ConceptGraph, path) -> None:
    """The file ``ConceptGraph.save`` wrote in format version 1: rel_code as int32."""
    a = g.arrays
    meta = json.dumps({"format_version": 1, "node_ids": g.node_ids, "labels": g.labels,
                       "relations": g.relations, "relation_multipliers": g.relation_multipliers},
                      sort_keys=True)
    with open(path, "wb") as fh:
        np.savez(fh, format=np.array("csr"), shape=np.array([g.n_nodes, g.n_nodes]), indptr=a.indptr,
                 indices=a.indices, data=a.weights, rel_code=a.rel_code.astype(np.int32),
                 clematis_meta=np.array(meta))


PARAM_SETS = {
    "defaults": {"queue_budget": 600},
    "caps": {"frontier_cap": 12, "visited_cap": 40, "dedupe_window": 6, "queue_budget": 400,
             "relax_cap": 2500},
    "attn_quad": {"decay": "attn_quad", "alpha": 0.5, "radius_cap": 3, "node_budget": 0.9,
                  "queue_budget": 800},
}


def demo_seed_sets(graph: clematis.ConceptGraph, count: int, seed: int = 5) -> list:
    """Seed sets in every accepted form: ids, indices, {id: weight}, (nodes, weights), empty."""
    rng = np.random.default_rng(seed)
    ids = graph.node_ids
    sets: list = []
    for q in range(count):
        picks = [int(i) for i in rng.choice(graph.n_nodes, size=int(rng.integers(1, 5)), replace=False)]
        weights = rng.uniform(-1.0, 1.5, len(picks)).astype(np.float32)
        form = q % 5
        if form == 0:
            sets.append([ids[i] for i in picks])
        elif form == 1:
            sets.append(np.array(picks + picks[:1]))  # indices, with a duplicate seed
        elif form == 2:
            sets.append({ids[i]: float(w) for i, w in zip(picks, weights, strict=True)})
        elif form == 3:
            sets.append((picks, weights))
        else:
            sets.append([] if q % 10 == 4 else (tuple(ids[i] for i in picks[:2])))
    return sets


def one_by_one(graph, seed_sets, **kwargs) -> list[clematis.T1Result]:
    out = []
    for seed_set in seed_sets:
        nodes, weights = clematis.batch.split_seed_set(seed_set)
        out.append(clematis.propagate(graph, nodes, weights, **kwargs))
    return out


def assert_same_results(got, expected):
    assert len(got) == len(expected)
    for q, (a, b) in enumerate(zip(got, expected, strict=True)):
        assert identical(a, b), f"query {q} differs"
        assert a.backend == b.backend and a.graph is b.graph
