"""Packaging: the sdist ships the Cython sources and installs without a compiler (slow: each
builds from source; ``make wheel-test`` runs them). The fast check of the fallback, blocking the
compiled module in a subprocess, is in ``test_dispatch.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile

import pytest
from conftest import REPO

KERNEL = "clematis._kernels._t1"

# Prints what a user of an installation without the compiled kernel sees, as one JSON line.
FALLBACK_PROBE = """
import json, logging
records = []
handler = logging.Handler()
handler.emit = lambda record: records.append([record.levelname, record.getMessage()])
logging.getLogger("clematis.native.t1").addHandler(handler)

import clematis
import clematis.native.t1
from clematis.datasets import load_demo_graph

graph = load_demo_graph()
by_default = clematis.propagate(graph, [0], queue_budget=10).backend
asked_native = [clematis.propagate(graph, [0], backend="native", queue_budget=10).backend
                for _ in range(2)]
config = clematis.show_config()
print(json.dumps({
    "package": clematis.__file__,
    "available": clematis.native.t1.available(),
    "reason": clematis.native.t1.unavailable_reason(),
    "backends": [by_default, *asked_native],
    "warnings": [message for level, message in records if level == "WARNING"],
    "config": config,
}, default=str))
"""


def fallback_report(cwd, site) -> dict:
    """Run the probe with ``site`` (an install directory) first on the path."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("CLEMATIS_")}
    env["PYTHONPATH"] = str(site)
    out = subprocess.run([sys.executable, "-c", FALLBACK_PROBE], cwd=cwd, env=env, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.splitlines()[-1])


@pytest.fixture(scope="module")
def sdist(clean_checkout, tmp_path_factory):
    out = tmp_path_factory.mktemp("sdist")
    subprocess.run([sys.executable, "-m", "build", "--sdist", "--no-isolation", "--outdir", str(out),
                    str(clean_checkout)], check=True, capture_output=True)
    (archive,) = out.glob("*.tar.gz")
    return archive


@pytest.mark.slow
def test_sdist_ships_the_cython_sources_and_no_generated_code(sdist):
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    cython_sources = {str(path.relative_to(REPO)) for path in (REPO / "clematis" / "_kernels").iterdir()
                      if path.suffix in (".pyx", ".pxd")}
    assert cython_sources and cython_sources <= names
    assert "setup.py" in names and "tests/conftest.py" in names
    assert not [name for name in names if name.endswith((".so", ".pyd", ".o"))]
    assert not [name for name in names if name.startswith("clematis/") and name.endswith(".c")]
    tracked_c = {str(path.relative_to(REPO)) for path in (REPO / "benchmarks").rglob("*.c")}
    assert tracked_c <= names


@pytest.mark.slow
def test_sdist_installs_without_a_compiler_and_falls_back_to_python(sdist, tmp_path):
    site = tmp_path / "site"
    no_compiler = {**os.environ, "CC": "false", "CXX": "false", "LDSHARED": "false"}
    install = subprocess.run([sys.executable, "-m", "pip", "install", "-v", "--no-build-isolation",
                              "--no-deps", "--target", str(site), str(sdist)],
                             env=no_compiler, capture_output=True, text=True)
    assert install.returncode == 0, install.stderr
    assert f'building extension "{KERNEL}" failed' in install.stdout + install.stderr
    assert list(site.glob("clematis/_kernels/_t1.pyx"))
    assert not list(site.glob("clematis/_kernels/_t1*.so")) + list(site.glob("clematis/_kernels/_t1*.pyd"))

    report = fallback_report(tmp_path, site)
    assert report["package"].startswith(str(site))
    assert report["available"] is False
    assert KERNEL.rpartition(".")[2] in report["reason"]
    assert report["backends"] == ["python"] * 3
    assert len([message for message in report["warnings"] if "import_failed" in message]) == 1
    assert report["config"]["backend"]["active"] == "python"
    assert report["config"]["kernel"]["importable"] is False
    assert report["config"]["kernel"]["import_error"] == report["reason"]
