"""Backend precedence, dispatch counters, once-only logs, fallbacks, strict parity, diagnostics."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import clematis
import clematis._kernel_calls
from clematis import _backend
from clematis._backend import NativeUnavailableError, choose_backend, strict_parity_enabled
from clematis.config import load_config
from clematis.dispatch import COUNTERS

LOGGER = "clematis.native.t1"
TEXT = "storm trellis"
BUDGET = {"queue_budget": 300}  # keeps the Python reference quick
NATIVE_OFF = {"t1": BUDGET, "perf": {"native": {"t1": {"enabled": False}}}}
STRICT = {"t1": BUDGET, "perf": {"native": {"t1": {"strict_parity": True}}}}
SMALL = {"t1": BUDGET}


def counters_of(turn) -> dict:
    return turn.metrics["native_t1"]


def bumped(turn) -> dict:
    return {k: v for k, v in counters_of(turn).items() if v}


def events(caplog) -> list[tuple[str, int]]:
    return [(r.getMessage().split(":")[0], r.levelno) for r in caplog.records if r.name == LOGGER]


@pytest.fixture
def native_calls(monkeypatch):
    """Counts native kernel calls; ``native_calls.perturb`` / ``.raise_`` alter the next calls."""
    real = _backend.native_module.propagate_batch

    class Spy:
        count = 0
        perturb = 0.0
        raise_ = None

        def __call__(self, *args):
            self.count += 1
            if self.raise_ is not None:
                raise self.raise_
            d_nodes, d_vals, offsets, counters = real(*args)
            if self.perturb:
                d_vals = d_vals.copy()
                d_vals[0] = d_vals[0] + np.float32(self.perturb)
            return d_nodes, d_vals, offsets, counters

    spy = Spy()
    monkeypatch.setattr(_backend.native_module, "propagate_batch", spy)
    return spy


@pytest.fixture
def python_calls(monkeypatch):
    real = clematis._kernel_calls.propagate_reference
    calls = []

    def spy(*args):
        calls.append(1)
        return real(*args)

    monkeypatch.setattr(clematis._kernel_calls, "propagate_reference", spy)
    return calls


@pytest.fixture
def no_native(monkeypatch):
    monkeypatch.setattr(_backend, "native_module", None)
    monkeypatch.setattr(_backend, "import_error", "ImportError: blocked by the test")


# ---- precedence ------------------------------------------------------------------------------

@pytest.mark.parametrize("argument, env, config, requested, source", [
    (None, None, None, "native", "default"),
    (None, None, {}, "native", "default"),
    (None, None, {"perf": {"native": {"t1": {"enabled": True}}}}, "native", "config"),
    (None, None, NATIVE_OFF, "python", "config"),
    (None, None, {"perf": {"native": {"t1": {"backend": "python"}}}}, "python", "config"),
    (None, None, {"perf": {"native": {"t1": {"backend": "rust"}}}}, "native", "config"),
    (None, None, {"perf": {"native": {"gel": {"enabled": False}}}}, "native", "config"),
    (None, "1", NATIVE_OFF, "native", "env"),
    (None, "0", None, "python", "env"),
    (None, "", NATIVE_OFF, "python", "config"),
    ("native", "0", NATIVE_OFF, "native", "argument"),
    ("python", "1", None, "python", "argument"),
])
def test_backend_precedence(monkeypatch, argument, env, config, requested, source):
    if env is not None:
        monkeypatch.setenv("CLEMATIS_NATIVE_T1", env)
    choice = choose_backend(argument, load_config(config) if config is not None else None)
    assert (choice.requested, choice.source, choice.backend) == (requested, source, requested)


@pytest.mark.native
def test_precedence_reaches_results(monkeypatch, demo_graph):
    assert clematis.run_turn(demo_graph, "storm", NATIVE_OFF).graphs[0].backend == "python"
    monkeypatch.setenv("CLEMATIS_NATIVE_T1", "1")
    assert clematis.run_turn(demo_graph, "storm", NATIVE_OFF).graphs[0].backend == "native"
    assert clematis.run_turn(demo_graph, "storm", SMALL, backend="python").graphs[0].backend == "python"


@pytest.mark.native
def test_propagate_and_propagate_one_graph_use_the_same_resolver(monkeypatch, demo_graph):
    assert clematis.propagate(demo_graph, [0], queue_budget=300).backend == "native"
    monkeypatch.setenv("CLEMATIS_NATIVE_T1", "0")
    assert clematis.propagate(demo_graph, [0], queue_budget=300).backend == "python"
    assert clematis.propagate(demo_graph, [0], queue_budget=300, backend="native").backend == "native"


@pytest.mark.native
def test_propagate_one_graph_follows_the_env(monkeypatch, native_calls, python_calls):
    a = demo_arrays()
    params = {"rate": 0.6, "floor": 0.05, "radius_cap": 2, "iter_cap_layers": 5, "node_budget": 1.5,
              "queue_budget": 300}
    monkeypatch.setenv("CLEMATIS_NATIVE_T1", "0")
    clematis.t1.propagate_one_graph(*a, **params)
    assert (native_calls.count, len(python_calls)) == (0, 1)
    monkeypatch.setenv("CLEMATIS_NATIVE_T1", "1")
    clematis.t1.propagate_one_graph(*a, **params)
    assert (native_calls.count, len(python_calls)) == (1, 1)


def demo_arrays():
    g = clematis.datasets.load_demo_graph().arrays
    return (g.indptr, g.indices, g.weights, g.rel_code, g.rel_mult, [0, 5], None, g.key_rank)


@pytest.mark.parametrize("name", ["CLEMATIS_NATIVE_T1", "CLEMATIS_STRICT_PARITY"])
def test_bad_env_values_are_refused(monkeypatch, name, demo_graph):
    monkeypatch.setenv(name, "maybe")
    with pytest.raises(ValueError, match=f"{name} must be one of 1/true/yes/on/0/false/no/off, got 'maybe'"):
        clematis.run_turn(demo_graph, "storm", None)


@pytest.mark.parametrize("env, config, expected", [
    (None, None, False), (None, STRICT, True), ("1", None, True), ("0", STRICT, False),
    ("1", NATIVE_OFF, True),
])
def test_strict_parity_switch(monkeypatch, env, config, expected):
    if env is not None:
        monkeypatch.setenv("CLEMATIS_STRICT_PARITY", env)
    assert strict_parity_enabled(load_config(config) if config else None) is expected


# ---- counters and once-only logs ---------------------------------------------------------------

@pytest.mark.native
def test_native_run_bumps_used_native_only(demo_graph, caplog):
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        turn = clematis.run_turn([demo_graph, demo_graph], TEXT, SMALL)
    assert list(counters_of(turn)) == list(COUNTERS)
    assert bumped(turn) == {"used_native": 2}
    assert events(caplog) == []


@pytest.mark.native
def test_caps_and_dedupe_do_not_gate_native_off(demo_graph):
    cfg = {"t1": BUDGET, "perf": {"t1": {"caps": {"frontier": 30, "visited": 50}, "dedupe_window": 4}}}
    turn = clematis.run_turn(demo_graph, TEXT, cfg)
    assert bumped(turn) == {"used_native": 1}
    assert counters_of(turn)["fallback_gated_caps"] == counters_of(turn)["fallback_gated_dedupe"] == 0


def test_explicit_python_argument_is_not_a_fallback(demo_graph):
    turn = clematis.run_turn(demo_graph, TEXT, SMALL, backend="python")
    assert bumped(turn) == {}


@pytest.mark.native
@pytest.mark.parametrize("switch", ["config", "env"])
def test_gate_off_counts_every_query_and_logs_once(monkeypatch, demo_graph, caplog, switch, native_calls):
    cfg = NATIVE_OFF if switch == "config" else SMALL
    if switch == "env":
        monkeypatch.setenv("CLEMATIS_NATIVE_T1", "0")
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        first = clematis.run_turn([demo_graph, demo_graph], TEXT, cfg)
        clematis.run_turn(demo_graph, TEXT, cfg)
    assert bumped(first) == {"fallback_gated_other": 2}
    assert events(caplog) == [("gate_off", logging.INFO)]
    assert native_calls.count == 0


@pytest.mark.native
def test_import_failure_falls_back_counts_and_warns_once(demo_graph, caplog, no_native):
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        turn = clematis.run_turn([demo_graph, demo_graph], TEXT, SMALL)
        clematis.run_turn(demo_graph, TEXT, {"t1": BUDGET, "perf": {"native": {"t1": {"enabled": True}}}})
    assert bumped(turn) == {"fallback_import_failed": 2}
    assert all(r.backend == "python" for r in turn.graphs)
    assert events(caplog) == [("import_failed", logging.WARNING)]
    assert "blocked by the test" in caplog.records[0].getMessage()
    assert caplog.records[0].clematis_event == "import_failed"


@pytest.mark.native
@pytest.mark.parametrize("error", [MemoryError("no memory"), TypeError("bad type"), ValueError("bad value"),
                                   OverflowError("too big")])
def test_native_runtime_exception_falls_back_to_python(demo_graph, caplog, native_calls, error):
    expected = clematis.run_turn([demo_graph, demo_graph], TEXT, SMALL, backend="python")
    native_calls.raise_ = error
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        turn = clematis.run_turn([demo_graph, demo_graph], TEXT, SMALL)
    assert bumped(turn) == {"fallback_runtime_exc": 2}
    assert turn.graphs[0].backend == "python"
    assert turn.merged == expected.merged
    assert events(caplog) == [("runtime_exc", logging.ERROR)]
    assert type(error).__name__ in caplog.records[0].getMessage()


@pytest.mark.native
def test_other_native_exceptions_propagate(demo_graph, native_calls):
    native_calls.raise_ = KeyError("not a runtime error of the kernel")
    with pytest.raises(KeyError):
        clematis.run_turn(demo_graph, TEXT, SMALL)


@pytest.mark.native
def test_strict_parity_computes_both_backends_on_every_call(monkeypatch, demo_graph, native_calls,
                                                            python_calls):
    monkeypatch.setenv("CLEMATIS_STRICT_PARITY", "1")
    turn = clematis.run_turn([demo_graph, demo_graph, demo_graph], TEXT, SMALL)
    assert (native_calls.count, len(python_calls)) == (3, 3)
    assert bumped(turn) == {"used_native": 3}
    assert all(r.backend == "native" for r in turn.graphs)


@pytest.mark.native
def test_strict_parity_with_native_gated_off_returns_python_but_still_compares(demo_graph, native_calls,
                                                                               python_calls):
    cfg = {"t1": BUDGET, "perf": {"native": {"t1": {"enabled": False, "strict_parity": True}}}}
    turn = clematis.run_turn(demo_graph, TEXT, cfg)
    assert (native_calls.count, len(python_calls)) == (1, 1)
    assert turn.graphs[0].backend == "python"
    assert bumped(turn) == {"fallback_gated_other": 1}


@pytest.mark.native
def test_strict_parity_catches_an_injected_difference(demo_graph, native_calls, caplog, tmp_path):
    native_calls.perturb = 0.001
    reference = clematis.run_turn(demo_graph, TEXT, SMALL, backend="python").graphs[0]
    first = reference.graph.node_id(int(reference.nodes[0]))
    py = reference.values[0]
    with caplog.at_level(logging.DEBUG, logger=LOGGER), pytest.raises(clematis.ParityError) as info:
        clematis.run_turn(demo_graph, TEXT, STRICT, log_dir=tmp_path)
    message = str(info.value)
    assert message == (f"strict parity mismatch: 1 node(s) differ. node={first} py={str(py)} "
                       f"native={str(py + np.float32(0.001))} Δ=0.001")
    assert info.value.report.mismatched[0].node == first
    assert events(caplog) == [("strict_parity_mismatch", logging.ERROR)]
    (record,) = [json.loads(line) for line in (tmp_path / "t1_native_diag.jsonl").read_text().splitlines()]
    assert record["native_t1"]["strict_parity_mismatch"] == 1
    assert not (tmp_path / "turn.jsonl").exists()
    with caplog.at_level(logging.DEBUG, logger=LOGGER), pytest.raises(clematis.ParityError):
        clematis.run_turn(demo_graph, TEXT, STRICT)
    assert len(events(caplog)) == 1


@pytest.mark.native
def test_strict_parity_uses_the_configured_tolerances(demo_graph, native_calls):
    native_calls.perturb = 1e-7  # a few float32 ulps on values around 0.5 .. 2
    loose = clematis.run_turn(demo_graph, TEXT, STRICT)
    assert bumped(loose) == {"used_native": 1}
    exact = {"t1": BUDGET,
             "perf": {"native": {"t1": {"strict_parity": True, "parity": {"atol": 0, "rtol": 0}}}}}
    with pytest.raises(clematis.ParityError, match="1 node"):
        clematis.run_turn(demo_graph, TEXT, exact)


@pytest.mark.native
def test_strict_parity_reraises_native_exceptions(demo_graph, native_calls, caplog, tmp_path):
    native_calls.raise_ = MemoryError("boom")
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        with pytest.raises(MemoryError, match="boom"):
            clematis.run_turn(demo_graph, TEXT, STRICT, log_dir=tmp_path)
        with pytest.raises(MemoryError, match="boom"):
            clematis.run_turn(demo_graph, TEXT, STRICT)
    assert events(caplog) == [("runtime_exc_strict", logging.ERROR)]
    (record,) = [json.loads(line) for line in (tmp_path / "t1_native_diag.jsonl").read_text().splitlines()]
    assert {k: v for k, v in record["native_t1"].items() if v} == {"strict_parity_native_exc": 1}


# ---- native_only -------------------------------------------------------------------------------

@pytest.mark.native
def test_native_only_runs_native(demo_graph):
    turn = clematis.run_turn(demo_graph, TEXT, SMALL, native_only=True)
    assert bumped(turn) == {"used_native": 1}


@pytest.mark.native
def test_native_only_refuses_when_the_kernel_does_not_import(demo_graph, no_native, python_calls):
    with pytest.raises(NativeUnavailableError, match="blocked by the test"):
        clematis.run_turn(demo_graph, TEXT, SMALL, native_only=True)
    assert python_calls == []


@pytest.mark.parametrize("how", ["argument", "env", "config"])
def test_native_only_refuses_a_python_selection(monkeypatch, demo_graph, how):
    if how == "env":
        monkeypatch.setenv("CLEMATIS_NATIVE_T1", "0")
    with pytest.raises(ValueError, match=f"native_only requires the native backend, but the {how}"):
        clematis.run_turn(demo_graph, TEXT, NATIVE_OFF if how == "config" else None,
                          backend="python" if how == "argument" else None, native_only=True)


@pytest.mark.native
def test_native_only_reraises_native_runtime_exceptions(demo_graph, native_calls, python_calls):
    native_calls.raise_ = OverflowError("too big")
    with pytest.raises(OverflowError):
        clematis.run_turn(demo_graph, TEXT, SMALL, native_only=True)
    assert python_calls == []


# ---- diagnostics stream ------------------------------------------------------------------------

def read_jsonl(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.native
def test_diagnostics_records_each_counting_dispatch_and_each_turn(demo_graph, tmp_path):
    turn = clematis.run_turn([demo_graph, demo_graph], TEXT, SMALL, tmp_path, turn=7, agent="ada")
    clematis.run_turn(demo_graph, TEXT, NATIVE_OFF, tmp_path, turn=8, agent="ada")
    diag = read_jsonl(tmp_path / "t1_native_diag.jsonl")
    assert [(d["turn"], d["agent"], d["graph"], d["backend"]) for d in diag] == [
        (7, "ada", 0, "native"), (7, "ada", 1, "native"), (8, "ada", 0, "python")]
    assert diag[0]["native_t1"] == dict(dict.fromkeys(COUNTERS, 0), used_native=1)
    assert diag[2]["native_t1"]["fallback_gated_other"] == 1
    turns = read_jsonl(tmp_path / "turn.jsonl")
    assert turns[0] == {"turn": 7, "agent": "ada", "t1": turn.metrics}
    assert turns[0]["t1"]["native_t1"]["used_native"] == 2
    assert turns[1]["t1"]["native_t1"]["fallback_gated_other"] == 1


@pytest.mark.native
def test_diagnostics_directory_from_the_environment(monkeypatch, demo_graph, tmp_path):
    monkeypatch.setenv("CLEMATIS_LOG_DIR", str(tmp_path / "logs"))
    clematis.run_turn(demo_graph, TEXT, SMALL)
    assert len(read_jsonl(tmp_path / "logs" / "t1_native_diag.jsonl")) == 1
    assert len(read_jsonl(tmp_path / "logs" / "turn.jsonl")) == 1
    explicit = tmp_path / "explicit"
    clematis.run_turn(demo_graph, TEXT, SMALL, explicit)
    assert (explicit / "turn.jsonl").exists()
    assert len(read_jsonl(tmp_path / "logs" / "turn.jsonl")) == 1


def test_no_diagnostics_record_when_no_counter_moves(demo_graph, tmp_path):
    clematis.run_turn(demo_graph, TEXT, SMALL, tmp_path, backend="python")
    clematis.run_turn(demo_graph, "qqqq", None, tmp_path)
    assert not (tmp_path / "t1_native_diag.jsonl").exists()
    assert len(read_jsonl(tmp_path / "turn.jsonl")) == 2


@pytest.mark.native
def test_diagnostics_are_identical_serially_and_in_parallel(demo_graph, tmp_path):
    graphs = [demo_graph] * 4
    parallel = {"t1": BUDGET, "perf": {"parallel": {"enabled": True, "t1": True, "max_workers": 4}}}
    clematis.run_turn(graphs, TEXT, SMALL, tmp_path / "serial")
    clematis.run_turn(graphs, TEXT, parallel, tmp_path / "parallel")
    for name in ("t1_native_diag.jsonl", "turn.jsonl"):
        assert (tmp_path / "serial" / name).read_bytes() == (tmp_path / "parallel" / name).read_bytes()


# ---- import failure in a fresh interpreter -----------------------------------------------------

@pytest.mark.native
def test_import_failure_without_uninstalling(tmp_path):
    script = textwrap.dedent("""
        import json, logging, sys
        sys.modules["clematis._kernels._t1"] = None
        records = []
        handler = logging.Handler()
        handler.emit = records.append
        logging.getLogger("clematis.native.t1").addHandler(handler)
        import clematis
        from clematis.datasets import load_demo_graph
        graph = load_demo_graph()
        turn = clematis.run_turn([graph, graph], "storm trellis", {"t1": {"queue_budget": 300}})
        direct = clematis.propagate(graph, [0], queue_budget=300)
        info = clematis.show_config()
        print(json.dumps({
            "backends": [r.backend for r in turn.graphs] + [direct.backend],
            "counters": turn.metrics["native_t1"],
            "logs": [(r.levelname, r.getMessage()) for r in records],
            "kernel": info["kernel"],
            "merged": turn.merged,
        }))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                         cwd=tmp_path)
    result = json.loads(out.stdout)
    assert result["backends"] == ["python", "python", "python"]
    assert result["counters"]["fallback_import_failed"] == 2
    assert result["counters"]["used_native"] == 0
    assert len(result["logs"]) == 1
    level, message = result["logs"][0]
    assert level == "WARNING" and message.startswith("import_failed:")
    assert result["kernel"]["importable"] is False
    assert "import of clematis._kernels._t1 halted" in result["kernel"]["import_error"]
    expected = clematis.run_turn([clematis.datasets.load_demo_graph()] * 2, TEXT, SMALL)
    assert result["merged"] == expected.merged


@pytest.mark.native
def test_a_failing_graph_raises_in_graph_order_with_the_same_diagnostics_in_parallel(demo_graph, tmp_path,
                                                                                    native_calls):
    native_calls.perturb = 0.001
    graphs = [demo_graph, demo_graph, demo_graph]
    parallel = {**STRICT, "perf": {**STRICT["perf"], "parallel": {"enabled": True, "t1": True}}}
    for name, cfg in (("serial", STRICT), ("parallel", parallel)):
        with pytest.raises(clematis.ParityError):
            clematis.run_turn(graphs, TEXT, cfg, tmp_path / name)
    serial = read_jsonl(tmp_path / "serial" / "t1_native_diag.jsonl")
    assert [d["graph"] for d in serial] == [0]
    assert (tmp_path / "parallel" / "t1_native_diag.jsonl").read_text() == \
        (tmp_path / "serial" / "t1_native_diag.jsonl").read_text()
