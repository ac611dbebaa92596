"""Type information as a user's mypy sees it: py.typed, the kernels' stubs, T1Result from propagate."""

from __future__ import annotations

import importlib.resources
import textwrap

import pytest

import clematis
import clematis._platform

PURE_PYTHON = clematis._platform.env_flag(clematis._platform.ENV_PUREPYTHON) is True


def test_markers_and_stubs_are_installed():
    package = importlib.resources.files("clematis")
    assert package.joinpath("py.typed").is_file()
    for stub in ("_t1.pyi", "_gel.pyi"):
        assert package.joinpath("_kernels", stub).is_file()


@pytest.mark.native
def test_compiled_docstrings_carry_no_dispatch_signature():
    from clematis._kernels import _gel, _t1

    assert _t1.propagate_batch.__doc__.startswith("Run many validated queries on one graph")
    assert "signatures, args, kwargs" not in _t1.propagate_batch.__doc__
    assert _gel.decay.__doc__.startswith("New float32 weights")


@pytest.mark.skipif(PURE_PYTHON, reason="a static check: once, in the normal pass")
def test_mypy_reveals_t1result_for_propagate(tmp_path, monkeypatch):
    api = pytest.importorskip("mypy.api")
    script = tmp_path / "user.py"
    script.write_text(textwrap.dedent("""
        import clematis
        from clematis.datasets import load_demo_graph

        reveal_type(clematis.propagate(load_demo_graph(), ["garden:clematis"], rate=0.5))
        clematis.propagate(load_demo_graph(), ["garden:clematis"], rte=0.5)
    """))
    monkeypatch.chdir(tmp_path)  # the installed package, not the checkout
    stdout, _, status = api.run([str(script), "--no-incremental", "--cache-dir", str(tmp_path / "cache")])
    assert 'Revealed type is "clematis.api.T1Result"' in stdout, stdout
    assert 'Unexpected keyword argument "rte"' in stdout and status == 1
