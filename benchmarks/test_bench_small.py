"""Small queries vs networkx (issue 15, item 1): ``make bench``.

Each group puts one clematis entry point next to networkx's pure-Python weighted Dijkstra with a
cutoff, on the 64-node graph of ``small_queries.py``; every benchmarked call runs the one-seed
radius-1 query from each of the 64 nodes, so the per-query ratio is the ratio of the means.
Every clematis side is checked to return the bits of ``propagate`` (native).
"""

from __future__ import annotations

import pytest
from small_queries import small_graph, small_query_calls

from clematis.parity import identical

GROUPS = {
    "propagate": ["propagate native", "propagate python"],
    "Query.run": ["Query.run native"],
    "propagate_many (workers=1)": ["propagate_many native"],
}


@pytest.fixture(scope="module")
def calls():
    return small_query_calls(small_graph())


@pytest.fixture(scope="module")
def expected(calls):
    return calls["propagate native"]()


def bench_side(benchmark, calls, expected, side):
    results = benchmark(calls[side])
    if side == "networkx":
        assert len(results) == len(expected) and all(s in r for s, r in enumerate(results))
    else:
        assert all(identical(a, b) for a, b in zip(results, expected, strict=True))


@pytest.mark.benchmark(group="small graph, 64 one-seed queries: propagate vs networkx")
@pytest.mark.parametrize("side", [*GROUPS["propagate"], "networkx"])
def test_propagate(benchmark, calls, expected, side):
    bench_side(benchmark, calls, expected, side)


@pytest.mark.benchmark(group="small graph, 64 one-seed queries: Query.run vs networkx")
@pytest.mark.parametrize("side", [*GROUPS["Query.run"], "networkx"])
def test_query_run(benchmark, calls, expected, side):
    bench_side(benchmark, calls, expected, side)


@pytest.mark.benchmark(group="small graph, 64 one-seed queries: propagate_many (workers=1) vs networkx")
@pytest.mark.parametrize("side", [*GROUPS["propagate_many (workers=1)"], "networkx"])
def test_propagate_many(benchmark, calls, expected, side):
    bench_side(benchmark, calls, expected, side)
