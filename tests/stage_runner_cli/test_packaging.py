"""Packaging: the sdist ships the Cython sources and installs without a compiler (slow: each
builds from source; ``make pypi-test`` runs them on dist/'s sdist, named by ``CLEMATIS_TEST_SDIST``;
without it they build one from a clean copy of the checkout); the compiler flags setup.py picks.
The fast check of the fallback, blocking the compiled module in a subprocess, is in
``test_dispatch.py``.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import pathlib
import re
import subprocess
import sys
import tarfile
import time
import urllib.parse
import urllib.request

import pytest
from helpers import REPO

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
by_default = [clematis.propagate(graph, [0], queue_budget=10).backend for _ in range(2)]
try:  # an explicit request is never substituted (docs/spec.md 9.2)
    clematis.propagate(graph, [0], backend="native", queue_budget=10)
    asked_native = "ran"
except clematis.NativeUnavailableError as exc:
    asked_native = str(exc)
config = clematis.show_config()
print(json.dumps({
    "package": clematis.__file__,
    "available": clematis.native.t1.available(),
    "reason": clematis.native.t1.unavailable_reason(),
    "backends": by_default,
    "asked_native": asked_native,
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
def sdist(request, tmp_path_factory):
    if given := os.environ.get("CLEMATIS_TEST_SDIST"):
        path = pathlib.Path(given)
        if not (path.is_file() and path.name.endswith(".tar.gz")):
            pytest.fail(f"CLEMATIS_TEST_SDIST={given!r} is not an sdist (.tar.gz) file")
        return path
    clean_checkout = request.getfixturevalue("clean_checkout")
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
    assert {"setup.py", "tests/conftest.py", "LICENSE", "CHANGELOG.md", "tools/local_index.py"} <= names
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
    log = install.stdout + install.stderr
    assert f'building extension "{KERNEL}" failed' in log
    assert "-ffp-contract=off" in log  # the compile command that `false` refused
    assert list(site.glob("clematis/_kernels/_t1.pyx"))
    assert not list(site.glob("clematis/_kernels/_t1*.so")) + list(site.glob("clematis/_kernels/_t1*.pyd"))

    report = fallback_report(tmp_path, site)
    assert report["package"].startswith(str(site))
    assert report["available"] is False
    assert KERNEL.rpartition(".")[2] in report["reason"]
    assert report["backends"] == ["python"] * 2
    assert report["asked_native"].startswith('native T1 requested (backend="native")')
    assert len([message for message in report["warnings"] if "import_failed" in message]) == 1
    assert report["config"]["backend"]["active"] == "python"
    assert report["config"]["kernel"]["importable"] is False
    assert report["config"]["kernel"]["import_error"] == report["reason"]


@pytest.fixture(scope="module")
def setup_script():
    """setup.py imported as a module (it only calls setup() when run as __main__)."""
    pytest.importorskip("Cython", reason="setup.py imports Cython (a build requirement)")
    spec = importlib.util.spec_from_file_location("clematis_setup_script", REPO / "setup.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("compiler_type", ["unix", "mingw32", "cygwin"])
def test_gcc_and_clang_compile_without_contraction(setup_script, compiler_type):
    flags = setup_script.compile_flags(compiler_type)
    assert "-ffp-contract=off" in flags and "-fno-fast-math" in flags
    assert not [flag for flag in flags if flag.startswith("/")]


def test_msvc_gets_precise_floats_and_no_gcc_options(setup_script):
    flags = setup_script.compile_flags("msvc")
    assert "/fp:precise" in flags
    assert not [flag for flag in flags if flag.startswith("-")]


def load_tool(name: str):
    """A script of tools/ imported as a module."""
    spec = importlib.util.spec_from_file_location(f"clematis_tool_{name}", REPO / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_min_deps_pins_each_dependency_to_its_floor(tmp_path):
    min_deps = load_tool("min_deps")
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\ndependencies = ["numpy>=1.26.4", "SciPy>=1.12,<2", "tqdm"]\n')
    assert min_deps.floor_pins(["numpy", "scipy"], pyproject) == ["numpy==1.26.4", "SciPy==1.12"]
    with pytest.raises(ValueError, match="tqdm: expected one '>=' floor"):
        min_deps.floor_pins(["tqdm"], pyproject)
    with pytest.raises(ValueError, match="pandas: not a runtime dependency"):
        min_deps.floor_pins(["pandas"], pyproject)


@pytest.fixture
def local_index(tmp_path):
    """tools/local_index.py serving a directory with one (fake) wheel; yields (process, url, wheel)."""
    dist = tmp_path / "dist"
    dist.mkdir()
    wheel = dist / "Clematis-0.1.0-py3-none-any.whl"
    wheel.write_bytes(os.urandom(64))
    url_file = tmp_path / "url"
    server = subprocess.Popen([sys.executable, str(REPO / "tools" / "local_index.py"), str(dist),
                               "--url-file", str(url_file), "--lifetime", "60"], stderr=subprocess.PIPE)
    try:
        for _ in range(200):
            if url_file.exists() or server.poll() is not None:
                break
            time.sleep(0.05)
        assert url_file.exists(), server.stderr.read().decode() if server.poll() is not None else "no URL"
        yield server, url_file.read_text().strip(), wheel
    finally:
        server.kill()
        server.wait(timeout=10)


def test_local_index_serves_a_pep503_project_page_with_hashes(local_index):
    server, url, wheel = local_index
    assert url.startswith("http://127.0.0.1:") and url.endswith("/simple/")
    page = urllib.request.urlopen(url + "clematis/", timeout=10).read().decode()
    (href,) = re.findall(r'href="([^"]+)"', page)
    path, _, digest = href.partition("#sha256=")
    assert path.endswith("/" + wheel.name) and digest == hashlib.sha256(wheel.read_bytes()).hexdigest()
    assert urllib.request.urlopen(urllib.parse.urljoin(url + "clematis/", path), timeout=10).read() == \
        wheel.read_bytes()
    server.terminate()
    assert server.wait(timeout=10) == 0


def test_local_index_refuses_a_file_that_is_no_distribution(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "clematis-0.1.0.zip").write_text("x")
    run = subprocess.run([sys.executable, str(REPO / "tools" / "local_index.py"), str(tmp_path),
                          "--url-file", str(tmp_path / "url")], capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and "no wheel or sdist to serve" in run.stderr
    assert not (tmp_path / "url").exists()
