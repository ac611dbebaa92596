"""GEL edge-weight decay: reference semantics, kernel bit-identity, backend choice, no mutation."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import clematis._kernel_calls
from clematis import NativeUnavailableError, _backend
from clematis.dispatch import new_counters
from clematis.gel import decay_graph, decay_weights, decay_weights_reference, gel_factor, gel_policy

finite_f32 = st.floats(width=32, allow_nan=False, allow_infinity=False)
unit_f32 = st.floats(0.0, 1.0, width=32)


def test_one_tick_is_one_float32_multiplication_by_max_of_rate_and_floor():
    weights = np.array([0.5, 0.3, 1.0, 0.0, 1e-40], dtype=np.float32)
    got = decay_weights(weights, rate=0.9, floor=0.95, backend="python")
    expected = np.array([np.float32(w) * np.float32(0.95) for w in weights], dtype=np.float32)
    np.testing.assert_array_equal(got.view(np.int32), expected.view(np.int32))


def test_ticks_round_after_every_multiplication():
    weights = np.array([0.7], dtype=np.float32)
    factor = np.float32(0.9)
    stepwise = weights[0]
    for _ in range(5):
        stepwise = np.float32(stepwise * factor)
    got = decay_weights(weights, rate=0.9, ticks=5, backend="python")
    assert got.view(np.int32)[0] == np.array([stepwise], np.float32).view(np.int32)[0]


def test_gel_factor_rounds_to_float32_and_validates():
    assert gel_factor(0.3, 0.5) == np.float32(0.5)
    assert gel_factor(0.9, 0.0).dtype == np.float32
    with pytest.raises(ValueError, match="rate"):
        gel_factor(1.5, 0.0)
    with pytest.raises(ValueError, match="floor"):
        gel_factor(0.9, -0.1)


@pytest.mark.parametrize("backend", ["python", "native"])
def test_bad_weights_and_ticks_are_refused_before_work(backend):
    with pytest.raises(ValueError, match="weights"):
        decay_weights(np.array([1.0, np.nan]), backend=backend)
    with pytest.raises(ValueError, match="weights must be one-dimensional"):
        decay_weights(np.ones((2, 2)), backend=backend)
    with pytest.raises(ValueError, match="ticks"):
        decay_weights(np.ones(2), ticks=-1, backend=backend)
    with pytest.raises(TypeError, match="ticks"):
        decay_weights(np.ones(2), ticks=1.5, backend=backend)


@pytest.mark.native
@settings(max_examples=300, deadline=None)
@given(weights=hnp.arrays(np.float32, st.integers(0, 64), elements=finite_f32),
       rate=unit_f32, floor=unit_f32, ticks=st.integers(0, 6))
def test_kernel_is_bit_identical_to_reference(weights, rate, floor, ticks):
    factor = gel_factor(rate, floor)
    expected = decay_weights_reference(weights, factor, ticks)
    got = _backend.gel_module.decay(weights, factor, ticks)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got.view(np.int32), expected.view(np.int32))


@pytest.mark.native
def test_kernel_does_not_write_its_input():
    weights = np.linspace(0.1, 1.0, 10, dtype=np.float32)
    before = weights.copy()
    weights.flags.writeable = False
    decay_weights(weights, rate=0.5, backend="native")
    np.testing.assert_array_equal(weights, before)


@pytest.mark.native
def test_decay_graph_returns_a_new_graph_and_leaves_the_old_one(demo_graph):
    before = demo_graph.arrays.weights.copy()
    decayed = decay_graph(demo_graph, rate=0.8, ticks=2, backend="native")
    assert decayed is not demo_graph
    np.testing.assert_array_equal(demo_graph.arrays.weights.view(np.int32), before.view(np.int32))
    expected = decay_weights_reference(before, np.float32(0.8), 2)
    np.testing.assert_array_equal(decayed.arrays.weights.view(np.int32), expected.view(np.int32))
    assert not decayed.arrays.weights.flags.writeable
    np.testing.assert_array_equal(decayed.arrays.indices, demo_graph.arrays.indices)
    assert decayed.node_ids == demo_graph.node_ids and decayed.labels == demo_graph.labels


def test_next_turn_propagates_over_the_decayed_weights(demo_graph):
    import clematis

    # radius 1: every activation is one edge's contribution, and halving weights is exact in float32
    full = clematis.propagate(demo_graph, ["garden:clematis"], radius_cap=1)
    halved = clematis.propagate(decay_graph(demo_graph, rate=0.5), ["garden:clematis"], radius_cap=1)
    np.testing.assert_array_equal(full.nodes, halved.nodes)
    seed = full.nodes == demo_graph.index_of("garden:clematis")
    np.testing.assert_array_equal(halved.values[~seed], full.values[~seed] * np.float32(0.5))


@pytest.mark.parametrize(("env", "config", "argument", "expected"), [
    (None, None, None, "native"),
    (None, {"perf": {"native": {"gel": {"enabled": False}}}}, None, "python"),
    ("1", {"perf": {"native": {"gel": {"enabled": False}}}}, None, "native"),
    ("on", {"perf": {"native": {"gel": {"enabled": False}}}}, None, "native"),
    ("0", None, None, "python"),
    ("FALSE", None, None, "python"),
    ("0", None, "native", "native"),
    ("1", None, "python", "python"),
    ("1", None, "NATIVE", "native"),
])
def test_backend_precedence_argument_env_config_default(monkeypatch, env, config, argument, expected):
    if env is None:
        monkeypatch.delenv(_backend.ENV_GEL, raising=False)
    else:
        monkeypatch.setenv(_backend.ENV_GEL, env)
    assert gel_policy(argument, config).backend == expected


def test_bad_env_value_is_refused(monkeypatch):
    monkeypatch.setenv(_backend.ENV_GEL, "maybe")
    with pytest.raises(ValueError, match="PERF_NATIVE_GEL_ENABLED"):
        gel_policy(None, None)


def _without_gel_kernel(monkeypatch):
    monkeypatch.setattr(_backend, "gel_module", None)
    monkeypatch.setattr(_backend, "gel_import_error", "ImportError: blocked")
    _backend.reset_once_logs()


@pytest.mark.native
def test_missing_kernel_falls_back_to_python_with_one_warning(monkeypatch, caplog):
    _without_gel_kernel(monkeypatch)
    counters = new_counters()
    weights = np.array([1.0, 0.5], np.float32)
    with caplog.at_level(logging.WARNING, logger="clematis.native.gel"):
        first = decay_weights(weights, counters=counters)
        decay_weights(weights, counters=counters)
    np.testing.assert_array_equal(first, decay_weights_reference(weights, gel_factor(), 1))
    assert counters["fallback_import_failed"] == 2 and counters["used_native"] == 0
    assert [r.getMessage().split(":")[0] for r in caplog.records] == ["gel_import_failed"]
    assert "ImportError: blocked" in caplog.records[0].getMessage()


def test_explicit_native_without_the_kernel_raises(monkeypatch):
    _without_gel_kernel(monkeypatch)
    with pytest.raises(NativeUnavailableError, match="native GEL requested.*ImportError: blocked"):
        decay_weights([1.0], backend="native")
    monkeypatch.setenv(_backend.ENV_GEL, "1")
    with pytest.raises(NativeUnavailableError, match="PERF_NATIVE_GEL_ENABLED=1"):
        decay_weights([1.0])


@pytest.mark.native
def test_native_runtime_error_falls_back_counted_and_logged_once(monkeypatch, caplog):
    class Broken:
        @staticmethod
        def decay(*args):
            raise MemoryError("injected")

    monkeypatch.setattr(clematis._kernel_calls, "gel_module", Broken)
    _backend.reset_once_logs()
    counters = new_counters()
    weights = np.array([1.0, 0.25], np.float32)
    with caplog.at_level(logging.ERROR, logger="clematis.native.gel"):
        out = [decay_weights(weights, counters=counters, backend="native") for _ in range(2)]
    np.testing.assert_array_equal(out[0], decay_weights_reference(weights, gel_factor(), 1))
    assert counters["fallback_runtime_exc"] == 2 and counters["used_native"] == 0
    assert [r.getMessage().split(":")[0] for r in caplog.records] == ["gel_runtime_exc"]


def test_native_decay_counts_used_native(native_required):
    counters = new_counters()
    decay_weights([1.0, 2.0], counters=counters)
    assert counters["used_native"] == 1 and counters["fallback_import_failed"] == 0
