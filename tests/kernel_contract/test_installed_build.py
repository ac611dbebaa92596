"""The suite must exercise the installed build, with its compiled kernel."""

from __future__ import annotations

import importlib.util
import os
import pathlib

import pytest

import clematis
import clematis.native.t1
from clematis.datasets import load_demo_graph

REPO = pathlib.Path(__file__).resolve().parents[2]


@pytest.mark.native
def test_compiled_kernel_is_the_one_running():
    assert clematis.native.t1.available(), clematis.native.t1.unavailable_reason()
    origin = pathlib.Path(importlib.util.find_spec("clematis._kernels._t1").origin)
    assert origin.suffix in (".so", ".pyd")
    result = clematis.propagate(load_demo_graph(), [0], queue_budget=10)
    assert result.backend == "native"


def test_package_is_not_imported_from_the_source_tree():
    if os.environ.get("CLEMATIS_ALLOW_SOURCE_TREE") == "1":  # editable installs for development
        return
    package_dir = pathlib.Path(clematis.__file__).resolve().parent
    assert REPO / "clematis" != package_dir, f"clematis was imported from the checkout: {package_dir}"


def test_each_kernel_is_installed_once():
    """Two builds of one kernel (say a version-specific .so beside the abi3 one) would let the
    preferred suffix silently shadow the other."""
    kernels = pathlib.Path(clematis.__file__).resolve().parent / "_kernels"
    for name in ("_t1", "_gel"):
        builds = sorted(p.name for p in kernels.glob(f"{name}.*") if p.suffix in (".so", ".pyd"))
        assert len(builds) == 1, f"{name} is installed {len(builds)} times: {builds}"
