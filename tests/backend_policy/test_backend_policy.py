"""docs/spec.md §9: explicit native requests never run Python; defaults fall back and say why."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import clematis
from clematis import _backend, _platform

BLOCKED = ("import sys; sys.modules['clematis._kernels._t1'] = None; "
           "sys.modules['clematis._kernels._gel'] = None\n")
DEMO = "import clematis\nfrom clematis.datasets import load_demo_graph\ng = load_demo_graph()\n"


def run_python(code: str, *, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter from outside the checkout, without clematis's switches."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("CLEMATIS_", "PERF_NATIVE"))}
    environment.update(env or {})
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/",
                          env=environment, timeout=120)


EXPLICIT = """
import json, clematis
from clematis.datasets import load_demo_graph
g = load_demo_graph()
out = {}
for name, call in {
    "propagate": lambda: clematis.propagate(g, [0], backend="native"),
    "Query": lambda: clematis.Query(g, backend="native"),
    "propagate_many": lambda: clematis.propagate_many(g, [[0]], backend="native"),
    "propagate_one_graph": lambda: clematis.t1.propagate_one_graph(
        g.arrays.indptr, g.arrays.indices, g.arrays.weights, g.arrays.rel_code, g.arrays.rel_mult,
        [0], None, g.arrays.key_rank, rate=0.6, floor=0.05, radius_cap=4, iter_cap_layers=50,
        node_budget=1.5, backend="native"),
    "run_turn": lambda: clematis.run_turn(g, "storm", backend="native"),
    "decay_weights": lambda: clematis.gel.decay_weights([1.0], backend="native"),
}.items():
    try:
        call()
        out[name] = "ran"
    except clematis.NativeUnavailableError as exc:
        out[name] = str(exc)
print(json.dumps(out))
"""


@pytest.mark.parametrize("how", ["blocked import", "CLEMATIS_PUREPYTHON=1"])
def test_explicit_native_raises_at_every_entry_point_when_the_kernel_is_missing(how):
    code = (BLOCKED if how == "blocked import" else "") + "import clematis.gel\n" + EXPLICIT
    env = {"CLEMATIS_PUREPYTHON": "1"} if how != "blocked import" else {}
    done = run_python(code, env=env)
    assert done.returncode == 0, done.stderr
    messages = json.loads(done.stdout)
    assert set(messages) == {"propagate", "Query", "propagate_many", "propagate_one_graph", "run_turn",
                             "decay_weights"}
    for name, message in messages.items():
        assert message.startswith("native "), (name, message)
        assert "requested (backend=\"native\")" in message and "cannot run" in message
        cause = "halted; None in sys.modules" if how == "blocked import" else "CLEMATIS_PUREPYTHON"
        assert cause in message


def test_env_request_raises_and_names_the_variable():
    done = run_python(BLOCKED + DEMO + "clematis.propagate(g, [0])", env={"CLEMATIS_NATIVE_T1": "yes"})
    assert done.returncode != 0
    assert "NativeUnavailableError: native T1 requested (CLEMATIS_NATIVE_T1=1)" in done.stderr


def test_strict_parity_without_the_kernel_raises():
    done = run_python(BLOCKED + DEMO + "clematis.run_smoke_turn()", env={"CLEMATIS_STRICT_PARITY": "1"})
    assert done.returncode != 0 and "NativeUnavailableError" in done.stderr


def test_default_falls_back_with_one_warning_naming_the_cause():
    code = BLOCKED + DEMO + "r = [clematis.propagate(g, [0]) for _ in range(3)]\nprint(r[0].backend)"
    done = run_python(code)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "python"
    warnings = [line for line in done.stderr.splitlines() if "import_failed" in line]
    assert len(warnings) == 1
    assert "import of clematis._kernels._t1 halted" in warnings[0] and "Fix:" in warnings[0]


def test_purepython_default_runs_python_without_a_fallback_warning():
    code = DEMO + "print(clematis.propagate(g, [0]).backend)"
    done = run_python(code, env={"CLEMATIS_PUREPYTHON": "1"})
    assert (done.returncode, done.stdout.strip(), done.stderr) == (0, "python", "")


def test_fallback_message_names_a_source_checkout_and_the_fix(tmp_path, monkeypatch):
    checkout = tmp_path / "checkout"
    (checkout / "clematis").mkdir(parents=True)
    (checkout / "setup.py").write_text("")
    (checkout / "pyproject.toml").write_text("")
    assert "source checkout" not in _backend.source_checkout_hint()  # the installed package is not one
    monkeypatch.setattr(_backend, "__file__", str(checkout / "clematis" / "_backend.py"))
    hint = _backend.source_checkout_hint()
    assert str(checkout) in hint and "shadows the installed package" in hint and "make install" in hint


@pytest.mark.parametrize(("value", "expected"), [
    ("1", True), ("TRUE", True), ("yes", True), ("On", True),
    ("0", False), ("false", False), ("NO", False), ("off", False), ("", None),
])
def test_env_flag_words(monkeypatch, value, expected):
    monkeypatch.setenv("CLEMATIS_TEST_FLAG", value)
    assert _platform.env_flag("CLEMATIS_TEST_FLAG") is expected


def test_env_flag_refuses_other_words(monkeypatch):
    monkeypatch.setenv("CLEMATIS_TEST_FLAG", "2")
    with pytest.raises(ValueError, match="TEST_FLAG must be one of 1/true/yes/on/0/false/no/off, got '2'"):
        _platform.env_flag("CLEMATIS_TEST_FLAG")


@pytest.mark.parametrize("name", ["native", "NATIVE", " Native ", "rust", "RUST", "python", "PYTHON"])
def test_backend_names_are_case_insensitive(name):
    assert _backend.backend_name(name) == ("python" if "y" in name.lower() else "native")
    config = clematis.load_config({"perf": {"native": {"t1": {"backend": name}}}})
    assert config["perf"]["native"]["t1"]["backend"] == _backend.backend_name(name)


def test_unknown_backend_name_is_refused():
    with pytest.raises(ValueError, match="backend must be one of native, python or None, got 'cuda'"):
        _backend.backend_name("cuda")
    with pytest.raises(clematis.ConfigError, match="native.t1.backend: 'cuda' is not one of native, python"):
        clematis.load_config({"perf": {"native": {"t1": {"backend": "cuda"}}}})


def test_available_cpus_without_sched_getaffinity(monkeypatch):
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(os, "process_cpu_count", lambda: 3, raising=False)
    assert _platform.available_cpus() == 3
    monkeypatch.delattr(os, "process_cpu_count", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert _platform.available_cpus() == 1


def without_sched_getaffinity(monkeypatch) -> None:
    """This process as on macOS or Windows: no ``os.sched_getaffinity``, and (Python 3.13+) a
    ``process_cpu_count`` that does not use it (on Linux it does)."""
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    if hasattr(os, "process_cpu_count"):
        monkeypatch.setattr(os, "process_cpu_count", os.cpu_count)


def test_suite_parts_that_count_cpus_work_without_sched_getaffinity(monkeypatch, demo_graph):
    without_sched_getaffinity(monkeypatch)
    results = clematis.propagate_many(demo_graph, [[0], [1], [2]], queue_budget=50)
    assert len(results) == 3
    parallel = {"perf": {"parallel": {"enabled": True, "t1": True, "max_workers": 0}}}
    assert clematis.run_turn([demo_graph, demo_graph], "storm", parallel).metrics["graphs_touched"] == 2
