"""Shared fixtures and hooks (helpers live in helpers.py). Tests import the *installed* clematis
(``--import-mode=importlib``)."""

from __future__ import annotations

import pathlib

import pytest
from source_tree import copy_source_tree  # shared with benchmarks/abi3_vs_specific.py

import clematis
import clematis._platform
import clematis.dispatch
import clematis.native.t1
from clematis.datasets import load_demo_graph
from clematis.parity import compare, identical


@pytest.fixture(scope="session")
def demo_graph() -> clematis.ConceptGraph:
    return load_demo_graph()


@pytest.fixture
def assert_identical():
    """``check(a, b)``: the two results are bit-identical (:func:`clematis.parity.identical`)."""
    def check(a, b):
        assert identical(a, b), f"results differ: {compare(a, b).summary()}"
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
