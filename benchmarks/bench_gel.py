"""GEL decay, python reference vs Cython kernel: ``make bench`` (one tick over 1M and 10M weights)."""

from __future__ import annotations

import numpy as np
import pytest

from clematis.dispatch import DispatchPolicy
from clematis.gel import gel_factor, gel_policy, run_decay


@pytest.fixture(params=["python", "native"])
def policy(request) -> DispatchPolicy:
    """The GEL dispatch policy of an explicit backend (native raises when the kernel is missing)."""
    return gel_policy(request.param)


@pytest.mark.parametrize("n_edges", [1_000_000, 10_000_000])
def test_gel_decay_one_tick(benchmark, policy, n_edges):
    weights = np.random.default_rng(0).uniform(0.2, 1.0, n_edges).astype(np.float32)
    benchmark.group = f"gel decay, {n_edges:,} edges, 1 tick"
    out = benchmark(run_decay, weights, gel_factor(0.9, 0.0), 1, policy)
    assert out.shape == weights.shape


@pytest.mark.parametrize("ticks", [8])
def test_gel_decay_many_ticks(benchmark, policy, ticks):
    weights = np.random.default_rng(0).uniform(0.2, 1.0, 1_000_000).astype(np.float32)
    benchmark.group = f"gel decay, 1,000,000 edges, {ticks} ticks"
    out = benchmark(run_decay, weights, gel_factor(0.9, 0.0), ticks, policy)
    assert out.shape == weights.shape
