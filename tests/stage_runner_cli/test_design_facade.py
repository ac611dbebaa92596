"""The design's own examples (native_t1_design.md) run as written, through ``clematis.engine``."""

from __future__ import annotations

import contextlib
import io
import json
import pathlib
import re

import numpy as np
import pytest
from helpers import REPO, csr_graph

from clematis import ConfigError
from clematis.dispatch import COUNTERS
from clematis.engine.stages.t1 import _t1_one_graph_dispatch
from clematis.t1 import propagate_one_graph

DESIGN = REPO.parent / "shared" / "seeds" / "native_t1_design.md"

# The design's "Programmatic smoke (Python)" block, copied verbatim (users have no shared/ folder).
PROGRAMMATIC_SMOKE = '''\
from clematis.engine.orchestrator.core import run_smoke_turn
cfg = {
    "perf": {"native": {"t1": {"enabled": True, "backend": "rust"}}}
}
res = run_smoke_turn(cfg, log_dir="/tmp/clematis-native-smoke")
print("ok", res is not None)
'''
SMOKE_LOG = pathlib.Path("/tmp/clematis-native-smoke/turn.jsonl")

PARAMS = {"decay": {"rate": 0.6, "floor": 0.05}, "radius_cap": 4, "iter_cap_layers": 50, "node_budget": 1.5}
SCALARS = {"rate": 0.6, "floor": 0.05, "radius_cap": 4, "iter_cap_layers": 50, "node_budget": 1.5}
PERF_T1_CAPS = {"caps": {"frontier": 3, "visited": 5}, "dedupe_window": 2}  # cfg["perf"]["t1"]
CAPS = {"frontier_cap": 3, "visited_cap": 5, "dedupe_window": 2}


def native_cfg(**t1) -> dict:
    return {"perf": {"native": {"t1": {"enabled": True, "backend": "rust", **t1}}}}


def graph_and_seeds(index_dtype=np.int32):
    arrays = csr_graph(60, 150, seed=7, index_dtype=index_dtype)  # ~1200 pops
    return arrays, np.array([0, 5, 5, 17], dtype=np.int64)


def dispatch(cfg, params=PARAMS, index_dtype=np.int32, seed_weights=None):
    (indptr, indices, weights, rel_code, rel_mult, key_rank), seeds = graph_and_seeds(index_dtype)
    return _t1_one_graph_dispatch(cfg=cfg, indptr=indptr, indices=indices, weights=weights,
                                  rel_code=rel_code, rel_mult=rel_mult, key_rank=key_rank, seeds=seeds,
                                  params=params, seed_weights=seed_weights)


def kernel_contract(backend, index_dtype=np.int32, seed_weights=None, **caps):
    (indptr, indices, weights, rel_code, rel_mult, key_rank), seeds = graph_and_seeds(index_dtype)
    return propagate_one_graph(indptr, indices, weights, rel_code, rel_mult, seeds, seed_weights, key_rank,
                               backend=backend, **SCALARS, **caps)


def without_counters(result):
    d_nodes, d_vals, metrics = result
    return d_nodes, d_vals, {k: v for k, v in metrics.items() if k != "native_t1"}


def bumped(result) -> dict:
    return {name: value for name, value in result[2]["native_t1"].items() if value}


# ---- the "Programmatic smoke" block ------------------------------------------------------------

def test_programmatic_smoke_runs_verbatim(native_required):
    lines_before = len(SMOKE_LOG.read_text().splitlines()) if SMOKE_LOG.exists() else 0
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(PROGRAMMATIC_SMOKE, "native_t1_design.md", "exec"), {})
    assert out.getvalue() == "ok True\n"
    records = [json.loads(line) for line in SMOKE_LOG.read_text().splitlines()[lines_before:]]
    assert records and all(r["t1"]["native_t1"]["used_native"] >= 1 for r in records)


@pytest.mark.skipif(not DESIGN.exists(), reason="the design document is in the steering repo's shared/")
def test_the_copy_is_the_design_block():
    text = DESIGN.read_text(encoding="utf-8")
    block = re.search(r"Programmatic smoke \(Python\):\s*```python\n(.*?)```", text, re.DOTALL)
    assert block is not None, "the design no longer has a 'Programmatic smoke (Python)' block"
    assert block.group(1) == PROGRAMMATIC_SMOKE


# ---- _t1_one_graph_dispatch ---------------------------------------------------------------------

@pytest.mark.parametrize("index_dtype", [np.int32, np.int64])
def test_native_dispatch_has_the_bits_of_the_kernel_contract(native_required, assert_identical, index_dtype):
    weights = np.linspace(0.5, 1.5, 4, dtype=np.float32)
    got = dispatch(native_cfg(), index_dtype=index_dtype, seed_weights=weights)
    assert_identical(without_counters(got), kernel_contract("native", index_dtype, weights))
    assert_identical(without_counters(got), kernel_contract("python", index_dtype, weights))
    assert got[0].dtype == index_dtype and got[2]["pops"] > 0
    assert bumped(got) == {"used_native": 1}


def test_config_switching_native_off_runs_python_and_counts_it(assert_identical):
    got = dispatch({"perf": {"native": {"t1": {"enabled": False}}}})
    assert_identical(without_counters(got), kernel_contract("python"))
    assert bumped(got) == {"fallback_gated_other": 1}


def test_caps_are_read_from_cfg(native_required, assert_identical):
    cfg = native_cfg()
    cfg["perf"]["t1"] = PERF_T1_CAPS
    got = dispatch(cfg)
    assert_identical(without_counters(got), kernel_contract("python", **CAPS))
    uncapped = dispatch(native_cfg())
    assert got[2]["frontier_evicted"] > 0 and got[2]["dedupe_hits"] > 0
    assert got[2]["pops"] != uncapped[2]["pops"]


def test_strict_parity_from_cfg(native_required, assert_identical):
    got = dispatch(native_cfg(strict_parity=True))
    assert_identical(without_counters(got), kernel_contract("native"))
    assert bumped(got) == {"used_native": 1}


def test_every_counter_is_present():
    assert tuple(dispatch(None)[2]["native_t1"]) == COUNTERS


def test_the_design_signature_positionally(assert_identical):
    (indptr, indices, weights, rel_code, rel_mult, key_rank), seeds = graph_and_seeds()
    params = {"decay": {"mode": "exp_floor", "rate": 0.6, "floor": 0.05},
              "radius_cap": 4, "iter_cap_layers": 50, "node_budget": 1.5}
    got = _t1_one_graph_dispatch({"perf": {"native": {"t1": {"backend": "python"}}}}, indptr, indices,
                                 weights, rel_code, rel_mult, key_rank, seeds, params)
    assert_identical(without_counters(got), kernel_contract("python"))


@pytest.mark.parametrize("params, error, message", [
    ([("radius_cap", 4)], TypeError, "params must be a mapping"),
    ({**PARAMS, "frontier_cap": 3}, TypeError, r"unknown key\(s\) 'frontier_cap'.*read from cfg"),
    ({**PARAMS, "decay": 0.6}, TypeError, r'params\["decay"\] must be a mapping'),
    ({**PARAMS, "decay": {"rate": 0.6, "floor": 0.05, "alpha": 1.0}}, TypeError, "unknown key.*'alpha'"),
    ({**PARAMS, "decay": {"mode": "attn_quad", "rate": 0.6, "floor": 0.05}}, ValueError,
     "must be 'exp_floor'"),
    ({**PARAMS, "decay": {"rate": 0.6}}, TypeError, "missing required decay parameter 'floor'"),
    ({k: v for k, v in PARAMS.items() if k != "radius_cap"}, TypeError, "missing required T1 parameter"),
    ({**PARAMS, "node_budget": 0.0}, ValueError, "node_budget must be > 0"),
])
def test_bad_params_name_the_key(params, error, message):
    with pytest.raises(error, match=message):
        dispatch(None, params=params)


def test_bad_arrays_raise_as_the_kernel_contract():
    (indptr, indices, weights, rel_code, rel_mult, key_rank), _ = graph_and_seeds()
    graph, bad_seeds = (indptr, indices, weights, rel_code, rel_mult), np.array([0, 60])
    with pytest.raises(ValueError) as contract:
        propagate_one_graph(*graph, bad_seeds, None, key_rank, **SCALARS)
    with pytest.raises(ValueError) as facade:
        _t1_one_graph_dispatch(None, *graph, key_rank, bad_seeds, PARAMS)
    assert str(facade.value) == str(contract.value)


def test_a_bad_cfg_is_a_config_error():
    with pytest.raises(ConfigError, match="perf.t1.caps.frontier"):
        dispatch({"perf": {"t1": {"caps": {"frontier": -1}}}})
