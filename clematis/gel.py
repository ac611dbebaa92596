"""GEL (Graph Evolution Layer): edge-weight decay between turns.

Each tick multiplies every edge weight by ``factor = max(rate, floor)`` (both rounded to
float32 first) and rounds the product to float32: ``w = float32(w * factor)``. The Python
reference below defines the result; the Cython kernel ``clematis._kernels._gel`` returns the same
bits. Decay never writes into a graph: it returns new weights or a new :class:`ConceptGraph`.
"""

from __future__ import annotations

import numpy as np

from . import _backend
from ._validation import as_count, as_float32_array, as_unit_interval
from .graph import ConceptGraph

DEFAULT_RATE = 0.95
DEFAULT_FLOOR = 0.0


def gel_factor(rate=DEFAULT_RATE, floor=DEFAULT_FLOOR) -> np.float32:
    """``max(rate, floor)`` in float32; both must lie in [0, 1]."""
    return max(as_unit_interval("rate", rate), as_unit_interval("floor", floor))


def decay_weights_reference(weights: np.ndarray, factor: np.float32, ticks: int) -> np.ndarray:
    """The reference: ``ticks`` elementwise float32 multiplications by ``factor`` (new array)."""
    out = np.array(weights, dtype=np.float32, copy=True)
    for _ in range(ticks):
        out = out * np.float32(factor)
    return out


def decay_weights(weights, *, rate=DEFAULT_RATE, floor=DEFAULT_FLOOR, ticks: int = 1,
                  backend: str | None = None, config: dict | None = None) -> np.ndarray:
    """Decayed float32 copy of ``weights`` after ``ticks`` ticks.

    ``backend`` (``"native"``/``"python"``/None) is resolved with env
    ``PERF_NATIVE_GEL_ENABLED`` and ``config["perf"]["native"]["gel"]["enabled"]``.
    """
    factor = gel_factor(rate, floor)
    ticks = as_count("ticks", ticks)
    checked = as_float32_array("weights", weights)
    return run_decay(checked, factor, ticks, _backend.resolve_gel_backend(backend, config))


def run_decay(weights: np.ndarray, factor: np.float32, ticks: int, backend: str) -> np.ndarray:
    """Validated float32 ``weights`` on an already-resolved backend."""
    if backend == "native":
        return _backend.gel_module.decay(weights, factor, ticks)
    return decay_weights_reference(weights, factor, ticks)


def decay_graph(graph: ConceptGraph, *, rate=DEFAULT_RATE, floor=DEFAULT_FLOOR, ticks: int = 1,
                backend: str | None = None, config: dict | None = None) -> ConceptGraph:
    """A new graph whose weights are ``graph``'s after ``ticks`` ticks; ``graph`` is unchanged."""
    if not isinstance(graph, ConceptGraph):
        raise TypeError(f"graph must be a ConceptGraph, got {type(graph).__name__}")
    factor = gel_factor(rate, floor)
    ticks = as_count("ticks", ticks)
    backend = _backend.resolve_gel_backend(backend, config)
    return graph.with_weights(run_decay(graph.arrays.weights, factor, ticks, backend))
