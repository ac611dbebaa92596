"""Helpers for users' own tests: :func:`assert_identical` and a pytest fixture over both backends.

Opt in from a ``conftest.py`` with ``pytest_plugins = ["clematis.testing"]``; then a test that
takes the ``t1_backend`` fixture runs once per backend (``"python"``, ``"native"``), the native
run skipped when the compiled kernel is not importable::

    def test_my_graph(t1_backend, benchmark):
        benchmark(clematis.propagate, graph, seeds, backend=t1_backend)
"""

from __future__ import annotations

from .interop import require
from .native.t1 import available, unavailable_reason
from .parity import compare, identical

pytest = require("pytest", "test", "clematis.testing")

BACKENDS = ("python", "native")


def assert_identical(a, b, *, labels: tuple[str, str] = ("a", "b")) -> None:
    """Raise AssertionError unless ``a`` and ``b`` are bit-identical (:func:`clematis.parity.identical`);
    the message lists what differs (nodes, values, metrics, or only the order or the dtype)."""
    if identical(a, b):
        return
    report = compare(a, b, atol=0.0, rtol=0.0, labels=labels)
    detail = report.summary() if not report.ok else (
        "equal at zero tolerance, but not bit-identical (node order, index dtype or the sign of a zero)")
    raise AssertionError(f"results are not bit-identical: {detail}")


@pytest.fixture(params=BACKENDS)
def t1_backend(request) -> str:
    """Each backend in turn; ``native`` is skipped when the compiled kernel does not import."""
    if request.param == "native" and not available():
        pytest.skip(f"the compiled kernel is not importable: {unavailable_reason()}")
    return request.param
