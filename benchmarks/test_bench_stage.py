"""run_turn over four smoke-sized graphs: serial vs threads (the kernel releases the GIL)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import clematis

N_GRAPHS = 4
MODES = {
    "serial": None,
    "threads": {"perf": {"parallel": {"enabled": True, "t1": True, "max_workers": 0}}},
}


def smoke_graph(seed: int, n: int = 8000, m: int = 50000) -> clematis.ConceptGraph:
    rng = np.random.default_rng(seed)
    indptr = (np.arange(n + 1, dtype=np.int64) * m // n).astype(np.int32)
    weights = rng.uniform(0.2, 1.0, m).astype(np.float32)
    matrix = sp.csr_array((weights, rng.integers(0, n, m).astype(np.int32), indptr), shape=(n, n))
    return clematis.ConceptGraph.from_csr(matrix, rel_code=np.ones(m, np.int32))


@pytest.fixture(scope="module")
def graphs():
    return [smoke_graph(1337 + i) for i in range(N_GRAPHS)]


@pytest.mark.benchmark(group="stage-4-graphs")
@pytest.mark.parametrize("mode", list(MODES))
def test_run_turn(benchmark, graphs, mode):
    seeds = list(range(0, 8000, 400))
    result = benchmark(clematis.run_turn, graphs, seeds, MODES[mode])
    assert result.metrics["native_t1"]["used_native"] == N_GRAPHS
