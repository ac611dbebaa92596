"""GEL (Graph Evolution Layer, docs/spec.md §12): edge-weight decay between turns.

Each tick multiplies every edge weight by ``factor = max(rate, floor)`` (both rounded to
float32 first) and rounds the product to float32: ``w = float32(w * factor)``. The Python
reference (``clematis._reference.decay_weights_reference``) defines the result; the Cython kernel
``clematis._kernels._gel`` returns the same bits. Decay never writes into a graph: it returns new
weights or a new :class:`ConceptGraph`.

Backend choice and fallbacks follow T1's rule (§9) with env ``PERF_NATIVE_GEL_ENABLED`` and
config ``perf.native.gel.enabled``; pass ``counters`` (a dict from
:func:`clematis.dispatch.new_counters`) to see how a decay was computed.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ._backend import GEL
from ._kernel_calls import run_gel
from ._reference import decay_weights_reference
from ._validation import as_count, as_float32_array, as_unit_interval
from .dispatch import DispatchPolicy, dispatch, new_counters
from .graph import ConceptGraph

__all__ = ["decay_graph", "decay_weights", "decay_weights_reference", "gel_factor", "gel_policy", "run_decay"]

DEFAULT_RATE = 0.95
DEFAULT_FLOOR = 0.0


def gel_factor(rate=DEFAULT_RATE, floor=DEFAULT_FLOOR) -> np.float32:
    """``max(rate, floor)`` in float32; both must lie in [0, 1]."""
    return max(as_unit_interval("rate", rate), as_unit_interval("floor", floor))


def gel_policy(backend: str | None = None, config: Mapping | None = None,
               native_only: bool = False) -> DispatchPolicy:
    """The GEL dispatch policy: argument > env > config > default (explicit native raises)."""
    return DispatchPolicy.from_config(config, backend, native_only, kernel=GEL)


def run_decay(weights: np.ndarray, factor: np.float32, ticks: int, policy: DispatchPolicy,
              counters: dict[str, int] | None = None) -> np.ndarray:
    """Validated float32 ``weights`` after ``ticks`` ticks, dispatched under ``policy``."""
    counters = counters if counters is not None else new_counters()
    return dispatch(lambda backend: run_gel(weights, factor, ticks, backend), policy, counters)[1]


def decay_weights(weights, *, rate=DEFAULT_RATE, floor=DEFAULT_FLOOR, ticks: int = 1,
                  backend: str | None = None, config: Mapping | None = None,
                  counters: dict[str, int] | None = None) -> np.ndarray:
    """Decayed float32 copy of ``weights`` after ``ticks`` ticks; ``counters`` (if given) is
    bumped in place (``used_native``, ``fallback_import_failed``, ``fallback_runtime_exc``, ...)."""
    factor = gel_factor(rate, floor)
    ticks = as_count("ticks", ticks)
    checked = as_float32_array("weights", weights)
    return run_decay(checked, factor, ticks, gel_policy(backend, config), counters)


def decay_graph(graph: ConceptGraph, *, rate=DEFAULT_RATE, floor=DEFAULT_FLOOR, ticks: int = 1,
                backend: str | None = None, config: Mapping | None = None,
                counters: dict[str, int] | None = None) -> ConceptGraph:
    """A new graph whose weights are ``graph``'s after ``ticks`` ticks; ``graph`` is unchanged."""
    if not isinstance(graph, ConceptGraph):
        raise TypeError(f"graph must be a ConceptGraph, got {type(graph).__name__}")
    factor = gel_factor(rate, floor)
    ticks = as_count("ticks", ticks)
    policy = gel_policy(backend, config)
    return graph.with_weights(run_decay(graph.arrays.weights, factor, ticks, policy, counters))
