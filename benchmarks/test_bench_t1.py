"""T1 benchmarks on the perf-smoke graph (issue 2, "Speed"): ``make bench``.

Groups: seeds 0..3 (python vs native), seeds 0..23 (native vs the C baseline), one seed on a
10k-node vs a 1M-node graph doing the same work (per-query cost must not grow with n), and caps
on (python vs native). Every benchmarked call is checked to return the native result, bit for bit.
"""

from __future__ import annotations

import pytest

CAPS = {"frontier_cap": 64, "dedupe_window": 32, "visited_cap": 1000}
ONE_SEED_SIZES = {"10k": 10_000, "1M": 1_000_000}


@pytest.mark.benchmark(group="smoke graph, seeds 0..3: python vs native")
@pytest.mark.parametrize("prepare", ["python", "native"], indirect=True)
def test_four_seeds(benchmark, prepare, smoke, expected, assert_same):
    assert_same(benchmark(prepare(smoke, 4)), expected(smoke, 4))


@pytest.mark.benchmark(group="smoke graph, seeds 0..23: native vs C baseline (binary heap)")
@pytest.mark.parametrize("prepare", ["c", "native"], indirect=True)
def test_twenty_four_seeds(benchmark, prepare, smoke, expected, assert_same):
    assert_same(benchmark(prepare(smoke, 24)), expected(smoke, 24))


@pytest.mark.benchmark(group="one seed: 10k-node vs 1M-node graph")
@pytest.mark.parametrize("size", list(ONE_SEED_SIZES))
@pytest.mark.parametrize("prepare", ["python", "native"], indirect=True)
def test_one_seed_by_graph_size(benchmark, prepare, graph_of_size, size, expected, assert_same):
    # the 1M-node graph is the 10k-node one plus a part seed 0 cannot reach: same work, bigger n
    run = prepare(graph_of_size(ONE_SEED_SIZES[size]), 1)
    run()  # the first query allocates the graph's native workspace; time the ones after it
    assert_same(benchmark(run), expected(graph_of_size(ONE_SEED_SIZES["10k"]), 1))


@pytest.mark.benchmark(group="smoke graph, seeds 0..23, caps on: python vs native")
@pytest.mark.parametrize("prepare", ["python", "native"], indirect=True)
def test_caps_on(benchmark, prepare, smoke, expected, assert_same):
    assert_same(benchmark(prepare(smoke, 24, **CAPS)), expected(smoke, 24, **CAPS))
