"""Distance decay, computed once per distance by one shared function (spec §2, §7).

Both backends read the same float32 table, ``table[d]`` being the decay at distance ``d``,
so the kernel never needs its own ``powf``. The exp-floor table is ``max(round32(rate ** d), floor)``
with ``round32`` the correctly rounded float32 (nearest, ties to even) of the exact power, computed
with integers by :mod:`clematis._exact_pow` rather than by the platform's ``powf``: the same bits
on every C library and CPU.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ._exact_pow import exp_floor_table
from ._validation import as_float32_scalar, as_unit_interval

DECAY_MODES = ("exp_floor", "attn_quad")


def attn_quad(alpha: np.float32, d: int) -> np.float32:
    """``1 / (1 + alpha * d * d)``, every operation rounded to float32."""
    one = np.float32(1.0)
    fd = np.float32(d)
    return one / (one + (alpha * fd) * fd)


@lru_cache(maxsize=64)
def _table(mode: str, a: np.float32, b: np.float32, length: int) -> np.ndarray:
    if mode == "exp_floor":
        values = exp_floor_table(float(a), float(b), length)
    else:
        with np.errstate(over="ignore", under="ignore"):
            values = [attn_quad(a, d) for d in range(length)]
    table = np.array(values, dtype=np.float32)
    table.flags.writeable = False
    return table


def decay_table(mode: str, length: int, *, rate=0.6, floor=0.05, alpha=0.8) -> np.ndarray:
    """Read-only float32 decay values for distances ``0 .. length - 1`` (cached)."""
    if mode == "exp_floor":
        return _table(mode, as_unit_interval("rate", rate), as_unit_interval("floor", floor), length)
    if mode == "attn_quad":
        alpha32 = as_float32_scalar("alpha", alpha)
        if alpha32 < 0:
            raise ValueError(f"alpha must be >= 0, got {alpha!r}")
        return _table(mode, alpha32, np.float32(0), length)
    raise ValueError(f"decay mode must be one of {', '.join(DECAY_MODES)}, got {mode!r}")


def table_length(radius_cap: int, iter_cap_layers: int, n_nodes: int) -> int:
    """Distances that can receive a contribution: ``1 .. min(radius_cap, iter_cap_layers, n)``."""
    return min(radius_cap, iter_cap_layers, n_nodes) + 1
