"""Digests of today's outputs ("freeze the bits"): every later change must keep them.

``python tests/bits_digests.py --write`` rewrites ``tests/golden/bits.json``; do that only with a
reason stated in the commit message. ``tests/kernel_contract/test_frozen_bits.py`` recomputes every digest.
Each digest hashes the exact bytes of a result: node ids, float32 value bits and metrics.
"""

from __future__ import annotations

import hashlib
import json
import pathlib
import shutil
import sys
import tempfile

import numpy as np

GOLDEN = pathlib.Path(__file__).resolve().parent / "golden" / "bits.json"
RAW_RATES = (0.3, 0.5, 0.6, 0.9)


def digest_result(nodes, values, metrics) -> str:
    """sha256 over int64 node ids, float32 value bits and the metrics as sorted JSON."""
    h = hashlib.sha256()
    h.update(np.asarray(nodes, dtype=np.int64).tobytes())
    h.update(np.ascontiguousarray(values, dtype=np.float32).view(np.uint32).tobytes())
    kept = {k: v for k, v in metrics.items() if k != "native_t1"}
    h.update(json.dumps(kept, sort_keys=True, default=float).encode())
    return h.hexdigest()


def digest_tree(root: pathlib.Path) -> dict[str, str]:
    """sha256 of every file below ``root``, by relative path."""
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def demo_digests(backend: str) -> dict[str, str]:
    """The demo's query (``python -m clematis.demo``: text seeds, pop budget 10,000)."""
    from clematis.api import propagate
    from clematis.datasets import DEMO_TEXT, load_demo_graph
    from clematis.seeding import seeds_from_text

    graph = load_demo_graph()
    seeds, weights = seeds_from_text(graph, DEMO_TEXT)
    r = propagate(graph, seeds, weights, queue_budget=10000, backend=backend)
    return {"demo": digest_result(r.nodes, r.values, r.metrics)}


def smoke_digests(backend: str) -> dict[str, str]:
    """The perf-smoke graph (8,000 nodes, 50,000 edges) at 4 and 24 seeds, spec defaults, unbounded."""
    from t1_workloads import first_seeds, smoke_graph

    import clematis

    graph = smoke_graph()
    out = {}
    for k in (4, 24):
        if backend == "python" and k == 24:
            continue  # millions of pops: the native digest, pinned, stands for both
        r = clematis.propagate(graph, first_seeds(k), backend=backend, queue_budget=0)
        out[f"smoke_{k}"] = digest_result(r.nodes, r.values, r.metrics)
    return out


def raw_digests(backend: str) -> dict[str, str]:
    """The raw kernel contract on a random 300-node graph, at several decay rates."""
    from clematis.t1 import propagate_one_graph

    rng = np.random.default_rng(20261201)
    n, m = 300, 1500
    indptr = np.zeros(n + 1, np.int32)
    np.cumsum(np.bincount(np.sort(rng.integers(0, n, m)), minlength=n), out=indptr[1:])
    indices = rng.integers(0, n, m).astype(np.int32)
    weights = rng.uniform(-1.0, 1.0, m).astype(np.float32)
    rel_code = rng.integers(0, 3, m).astype(np.int32)
    rel_mult = np.array([1.0, 0.6, 0.8], np.float32)[rel_code]
    key_rank = rng.permutation(n).astype(np.int32)
    seeds = np.array([3, 17, 17, 250], np.int32)
    seed_weights = np.array([1.0, 0.5, -0.25, 0.75], np.float32)
    out = {}
    for rate in RAW_RATES:
        for radius in (4, 12):
            r = propagate_one_graph(indptr, indices, weights, rel_code, rel_mult, seeds, seed_weights,
                                    key_rank, rate=rate, floor=0.01, radius_cap=radius,
                                    iter_cap_layers=50, node_budget=1.5, queue_budget=20000,
                                    backend=backend)
            out[f"raw_rate{rate}_radius{radius}"] = digest_result(*r)
    return out


def dataset_digests() -> dict[str, str]:
    """Every artifact and state graph of the packaged runner dataset after a full native run."""
    from clematis.cli import main

    with tempfile.TemporaryDirectory() as tmp:
        root = pathlib.Path(tmp) / "ds"
        assert main(["demo-dataset", str(root)]) in (0, None)
        assert main(["run", "--dataset", str(root), "--backend", "native"]) in (0, None)
        out = {}
        for part in ("artifacts", "state"):
            out.update({f"dataset/{part}/{k}": v for k, v in digest_tree(root / part).items()})
        shutil.rmtree(root)
    return out


def all_digests(backend: str = "native") -> dict[str, str]:
    return {**demo_digests(backend), **smoke_digests(backend), **raw_digests(backend)}


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python tests/bits_digests.py --write   (state the reason in the commit)")
    sys.path.insert(0, str(GOLDEN.parents[2] / "benchmarks"))
    digests = {**all_digests("native"), **dataset_digests()}
    GOLDEN.write_text(json.dumps(digests, indent=1, sort_keys=True) + "\n")
    print(f"wrote {len(digests)} digests to {GOLDEN}")
