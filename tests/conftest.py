"""Shared fixtures. Tests import the *installed* clematis (``--import-mode=importlib``)."""

from __future__ import annotations

import pathlib

import numpy as np
import pytest
from source_tree import copy_source_tree  # shared with benchmarks/abi3_vs_specific.py
from t1_workloads import smoke_graph  # noqa: F401  (the perf-smoke graph, shared with benchmarks)

import clematis
import clematis._platform
import clematis.dispatch
import clematis.native.t1
from clematis.datasets import load_demo_graph
from clematis.parity import identical  # noqa: F401  (the one comparator, for the tests)

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




@pytest.fixture(scope="session")
def demo_graph() -> clematis.ConceptGraph:
    return load_demo_graph()


@pytest.fixture
def assert_identical():
    def check(a, b):
        assert a[0].dtype == b[0].dtype
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1].view(np.int32), b[1].view(np.int32))
        assert a[2] == b[2]
    return check


@pytest.fixture(scope="session")
def clean_checkout(tmp_path_factory) -> pathlib.Path:
    """A clean copy of the checkout, shared by the tests that build from source."""
    return copy_source_tree(tmp_path_factory.mktemp("checkout") / "clematis")


PURE_PYTHON = clematis._platform.env_flag(clematis._platform.ENV_PUREPYTHON) is True


def pytest_collection_modifyitems(config, items):
    """Tests that need the kernel are marked ``native`` (explicitly, or by a ``"native"``
    parameter); the pure-Python pass (``CLEMATIS_PUREPYTHON=1``) skips them."""
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if any(isinstance(value, str) and value == "native" for value in params.values()):
            item.add_marker(pytest.mark.native)
        if PURE_PYTHON and item.get_closest_marker("native"):
            item.add_marker(pytest.mark.skip(reason="pure-Python pass: needs the compiled kernel"))


@pytest.fixture(autouse=True)
def _native_tests_need_the_kernel(request):
    """In the normal pass a missing kernel fails every ``native`` test: never Python as native."""
    if request.node.get_closest_marker("native") and not clematis.native.t1.available():
        pytest.fail(f"the compiled kernel must be importable: {clematis.native.t1.unavailable_reason()}")


@pytest.fixture
def native_required():
    """For tests that need the kernel beyond a ``native`` mark (e.g. in a fixture chain)."""
    if PURE_PYTHON:
        pytest.skip("pure-Python pass: needs the compiled kernel")
    if not clematis.native.t1.available():
        pytest.fail("the compiled kernel must be importable in the test environment")


RUNTIME_ENV = ("CLEMATIS_NATIVE_T1", "CLEMATIS_STRICT_PARITY", "CLEMATIS_LOG_DIR", "PERF_NATIVE_GEL_ENABLED")


@pytest.fixture(autouse=True)
def clean_runtime_env(monkeypatch):
    """Every test starts without the runtime switches and with the once-only logs re-armed."""
    for name in RUNTIME_ENV:
        monkeypatch.delenv(name, raising=False)
    clematis.dispatch.reset_once_logs()
