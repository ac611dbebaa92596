"""run_turn over four smoke-sized graphs: serial vs threads (the kernel releases the GIL)."""

from __future__ import annotations

import pytest
from t1_workloads import smoke_graph

import clematis

N_GRAPHS = 4
MODES = {
    "serial": None,
    "threads": {"perf": {"parallel": {"enabled": True, "t1": True, "max_workers": 0}}},
}


@pytest.fixture(scope="module")
def graphs():
    return [smoke_graph(seed=1337 + i) for i in range(N_GRAPHS)]


@pytest.mark.benchmark(group="stage-4-graphs")
@pytest.mark.parametrize("mode", list(MODES))
def test_run_turn(benchmark, graphs, mode):
    seeds = list(range(0, 8000, 400))
    result = benchmark(clematis.run_turn, graphs, seeds, MODES[mode])
    assert result.metrics["native_t1"]["used_native"] == N_GRAPHS
