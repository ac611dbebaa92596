"""The design's dispatcher, ``clematis.engine.stages.t1._t1_one_graph_dispatch``, on raw CSR arrays.

``params`` has the design's shape, the kernel contract's scalars (docs/spec.md §1)::

    {"decay": {"rate": 0.6, "floor": 0.05},   # "mode": "exp_floor" may be given; no other mode
     "radius_cap": 4, "iter_cap_layers": 50, "node_budget": 1.5}

``cfg`` is a config as :func:`clematis.load_config` reads it (the design's
``{"perf": {"native": {"t1": {"enabled": True, "backend": "rust"}}}}`` included). The caps come
from it (``perf.t1.caps.frontier``, ``perf.t1.caps.visited``, ``perf.t1.dedupe_window``); the
backend, strict parity and its tolerances from its ``perf.native.t1`` and the environment
(docs/spec.md §9-§11). The pop and propagation budgets, which the design's contract does not
have, stay off (their contract defaults), so with the same parameters the result has the bits of
:func:`clematis.t1.propagate_one_graph`.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from clematis._decay import decay_for
from clematis._kernel_calls import run_query
from clematis._params import DECAY_MODES, PARAMETERS, REQUIRED, T1Params, from_config
from clematis._validation import validate_graph_arrays, validate_seeds
from clematis.config import load_config
from clematis.dispatch import DispatchPolicy, dispatch, new_counters

__all__ = ["_t1_one_graph_dispatch"]

DECAY_MODE = "exp_floor"  # the design's kernel contract has this decay only
DECAY_KEYS = ("mode", *DECAY_MODES[DECAY_MODE].defaults)
PARAMS_KEYS = ("decay", *(p.name for p in PARAMETERS if p.contract is REQUIRED))
CONFIG_CAPS = ("frontier_cap", "visited_cap", "dedupe_window")  # perf.t1.caps.*, perf.t1.dedupe_window


def _check_keys(where: str, given: Mapping, allowed: tuple[str, ...], hint: str = "") -> None:
    unknown = [key for key in given if key not in allowed]
    if unknown:
        raise TypeError(f"{where} has unknown key(s) {', '.join(map(repr, unknown))}; "
                        f"allowed: {', '.join(allowed)}{hint}")


def design_params(params: Mapping) -> dict:
    """The design's ``params`` dict as :meth:`T1Params.build` keywords (decay spelled out)."""
    if not isinstance(params, Mapping):
        raise TypeError(f"params must be a mapping, got {type(params).__name__}")
    _check_keys("params", params, PARAMS_KEYS,
                "; the caps are read from cfg (perf.t1.caps, perf.t1.dedupe_window)")
    decay = params.get("decay")
    if not isinstance(decay, Mapping):
        raise TypeError(f'params["decay"] must be a mapping {{"rate": ..., "floor": ...}}, got {decay!r}')
    _check_keys('params["decay"]', decay, DECAY_KEYS)
    if decay.get("mode", DECAY_MODE) != DECAY_MODE:
        raise ValueError(f'params["decay"]["mode"] must be {DECAY_MODE!r}, got {decay["mode"]!r}')
    scalars = {key: value for key, value in params.items() if key != "decay"}
    return {"decay": DECAY_MODE, **{k: v for k, v in decay.items() if k != "mode"}, **scalars}


def _t1_one_graph_dispatch(
    cfg,
    indptr,
    indices,
    weights,
    rel_code,
    rel_mult,
    key_rank,
    seeds,
    params: Mapping,
    seed_weights=None,
) -> tuple[np.ndarray, np.ndarray, dict]:
    """One query on one CSR graph through the dispatcher (:func:`clematis.dispatch.dispatch`).

    ``seeds`` are node indices, ``seed_weights`` their activations (default 1.0). Validates
    ``cfg`` (ConfigError), the arrays (as :func:`clematis.t1.propagate_one_graph`) and
    ``params`` (TypeError/ValueError naming the key) before any work. Returns ``(d_nodes,
    d_vals, metrics)``; ``metrics["native_t1"]`` holds the dispatch counters of this query.
    """
    config = load_config(cfg)
    policy = DispatchPolicy.from_config(config)
    graph = validate_graph_arrays(indptr, indices, weights, rel_code, rel_mult, key_rank)
    nodes, activations = validate_seeds(seeds, seed_weights, graph.n_nodes, graph.indptr.dtype)
    configured = from_config(config)
    kernel_params = T1Params.build("contract", **design_params(params),
                                   **{name: getattr(configured, name) for name in CONFIG_CAPS})
    decay = decay_for(kernel_params, graph.n_nodes)
    counters = new_counters()

    def run(backend: str) -> tuple[np.ndarray, np.ndarray, dict]:
        d_nodes, d_vals, metrics, _ = run_query(graph, nodes, activations, decay, kernel_params, backend)
        return d_nodes, d_vals, metrics  # the design's shape (no ``truncated``)

    _, (d_nodes, d_vals, metrics) = dispatch(run, policy, counters)
    return d_nodes, d_vals, {**metrics, "native_t1": counters}
