"""Distance decay, computed once per distance by one shared function (docs/spec.md §2.2, §7).

Both backends read the same float32 table, ``table[d]`` being the decay at distance ``d``,
so the kernel never needs its own ``powf``. The exp-floor table is ``max(round32(rate ** d), floor)``
with ``round32`` the correctly rounded float32 (nearest, ties to even) of the exact power, computed
with integers by :mod:`clematis._exact_pow` rather than by the platform's ``powf``: the same bits
on every C library and CPU.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from ._exact_pow import exp_floor_table
from ._params import Decay, T1Params


def attn_quad(alpha: np.float32, d: int) -> np.float32:
    """``1 / (1 + alpha * d * d)``, every operation rounded to float32."""
    one = np.float32(1.0)
    fd = np.float32(d)
    return one / (one + (alpha * fd) * fd)


@lru_cache(maxsize=64)
def _table(mode: str, a: np.float32, b: np.float32, length: int) -> np.ndarray:
    if mode == "exp_floor":
        values: Sequence[float | np.floating] = exp_floor_table(float(a), float(b), length)
    else:
        with np.errstate(over="ignore", under="ignore"):
            values = [attn_quad(a, d) for d in range(length)]
    table = np.array(values, dtype=np.float32)
    table.flags.writeable = False
    return table


def decay_table(decay: Decay, length: int) -> np.ndarray:
    """Read-only float32 decay values for distances ``0 .. length - 1`` of a validated decay
    spec (:class:`clematis._params.Decay`; cached)."""
    if decay.mode == "exp_floor":
        return _table(decay.mode, decay["rate"], decay["floor"], length)
    return _table(decay.mode, decay["alpha"], np.float32(0), length)


def table_length(radius_cap: int, iter_cap_layers: int, n_nodes: int) -> int:
    """Distances that can receive a contribution: ``1 .. min(radius_cap, iter_cap_layers, n)``."""
    return min(radius_cap, iter_cap_layers, n_nodes) + 1


def decay_for(params: T1Params, n_nodes: int) -> np.ndarray:
    """The decay table a query with ``params`` on an ``n_nodes`` graph reads."""
    return decay_table(params.decay, table_length(params.radius_cap, params.iter_cap_layers, n_nodes))
