"""Fixtures of the T1 benchmarks (``make bench``): graphs, and queries prepared per backend.

Both ``test_*.py`` and ``bench_*.py`` files here are collected (:func:`pytest_collect_file`).

The ``prepare`` fixture is parametrised (indirectly) over backends, so every benchmark group
shows its backends side by side. A prepared query runs only the kernel call path
(``Query.run_validated``, or the ctypes call of the C baseline); its inputs are built beforehand.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from c_baseline import CBaseline, build_library, compiler
from t1_workloads import first_seeds, padded_smoke_graph, smoke_graph

from clematis import ConceptGraph
from clematis.api import Query
from clematis.parity import identical

Triple = tuple[np.ndarray, np.ndarray, dict]
BENCH_FILES = "bench_*.py"  # besides pytest's default python_files (test_*.py)


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Module | None:
    """Collect ``bench_*.py`` as test modules (a file named on the command line already is)."""
    if file_path.match(BENCH_FILES) and not parent.session.isinitpath(file_path):
        return pytest.Module.from_parent(parent, path=file_path)
    return None


@pytest.fixture(scope="session")
def smoke() -> ConceptGraph:
    return smoke_graph()


ONE_SEED_BASE_NODES = 10_000


@pytest.fixture(scope="session")
def graph_of_size() -> Callable[[int], ConceptGraph]:
    """A 10k-node smoke-shaped graph padded with a disjoint part to ``n`` nodes (built once):
    seed 0 does the same work whatever ``n`` is."""
    graphs: dict[int, ConceptGraph] = {}

    def get(n: int) -> ConceptGraph:
        if n not in graphs:
            graphs[n] = padded_smoke_graph(ONE_SEED_BASE_NODES, n)
        return graphs[n]

    return get


@pytest.fixture(scope="session")
def c_library(tmp_path_factory):
    if compiler() is None:
        pytest.skip("no C compiler (gcc or $CC) to build the C baseline")
    return build_library(tmp_path_factory.mktemp("c_baseline"))


@pytest.fixture
def prepare(request) -> Callable[..., Callable[[], Triple]]:
    """``prepare(graph, k, **params)``: a call running seeds 0..k-1 on the parametrised backend."""
    backend = request.param

    def clematis_query(graph: ConceptGraph, k: int, **params) -> Callable[[], Triple]:
        plan = Query(graph, backend=backend, **{"queue_budget": 0, **params})
        if plan.backend != backend:
            pytest.fail(f"backend {backend} is not available (the compiled kernel did not import)")
        seeds = plan.seeds(first_seeds(k))

        def run() -> Triple:
            result = plan.run_validated(*seeds)
            return result.nodes, result.values, result.metrics

        return run

    def c_query(graph: ConceptGraph, k: int, **params) -> Callable[[], Triple]:
        baseline = CBaseline(request.getfixturevalue("c_library"), graph.n_nodes)
        request.addfinalizer(baseline.close)
        query = Query(graph, backend="python", **{"queue_budget": 0, **params})
        return baseline.prepare(query, first_seeds(k))

    return c_query if backend == "c" else clematis_query


@pytest.fixture(scope="session")
def expected() -> Callable[..., Triple]:
    """``expected(graph, k, **params)``: the native result every backend must reproduce (cached)."""
    results: dict[tuple, Triple] = {}

    def get(graph: ConceptGraph, k: int, **params) -> Triple:
        key = (id(graph), k, tuple(sorted(params.items())))
        if key not in results:
            plan = Query(graph, backend="native", **{"queue_budget": 0, **params})
            result = plan.run_validated(*plan.seeds(first_seeds(k)))
            results[key] = (result.nodes, result.values, result.metrics)
        return results[key]

    return get


@pytest.fixture
def assert_same() -> Callable[[Triple, Triple], None]:
    def check(got: Triple, want: Triple) -> None:
        assert identical(got, want), "the benchmarked call did not return the native result, bit for bit"

    return check
