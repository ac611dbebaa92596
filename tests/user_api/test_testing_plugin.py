"""clematis.testing: assert_identical's messages and the opt-in backend fixture."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

import clematis
from clematis.testing import assert_identical


def test_assert_identical_passes_and_explains_a_difference(demo_graph):
    a = clematis.propagate(demo_graph, ["weather:storm"], backend="python")
    assert_identical(a, clematis.propagate(demo_graph, ["weather:storm"], backend="python"))
    other = clematis.propagate(demo_graph, ["weather:storm"], backend="python", rate=0.5)
    with pytest.raises(AssertionError, match=r"not bit-identical: \d+ node\(s\) differ\. node="):
        assert_identical(a, other)
    with pytest.raises(AssertionError, match="metrics differ: pops"):
        assert_identical(a, clematis.propagate(demo_graph, ["weather:storm"], backend="python",
                                               queue_budget=5))


def test_the_fixture_runs_a_test_on_both_backends_when_opted_in(tmp_path):
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["clematis.testing"]\n')
    (tmp_path / "test_user.py").write_text(textwrap.dedent("""
        import clematis
        from clematis.datasets import load_demo_graph
        from clematis.testing import assert_identical

        def test_backend(t1_backend):
            graph = load_demo_graph()
            result = clematis.propagate(graph, ["weather:storm"], backend=t1_backend)
            assert result.backend == t1_backend
            assert_identical(result, clematis.propagate(graph, ["weather:storm"], backend="python"))
    """))
    run = subprocess.run([sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert "test_backend[python] PASSED" in run.stdout, run.stdout + run.stderr
    native = "PASSED" if clematis.native.t1.available() else "SKIPPED"
    assert f"test_backend[native] {native}" in run.stdout
    (tmp_path / "conftest.py").write_text("")  # not opted in: no fixture
    assert "fixture 't1_backend' not found" in subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=tmp_path, capture_output=True,
        text=True, timeout=120).stdout
