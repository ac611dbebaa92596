"""A plain C implementation of T1 (perf-OFF), built on the fly and called through ctypes.

It is the speed baseline of the benchmarks: the same algorithm as clematis (spec §3, no caps)
with a binary heap of 16-byte entries, compiled with ``gcc -O3 -ffp-contract=off``. Never
committed as a binary: :func:`build_library` compiles ``t1_baseline.c`` into a directory.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np

from clematis.api import Query

SOURCE = Path(__file__).with_name("t1_baseline.c")
COMPILE_FLAGS = ("-O3", "-ffp-contract=off", "-fno-fast-math", "-shared", "-fPIC")
COUNTERS = ("pops", "layers_processed", "propagations", "radius_cap_hits",
                       "layer_cap_hits", "node_budget_hits")


def compiler() -> str | None:
    """The C compiler to use (``$CC``, default ``gcc``), or None when it is not installed."""
    return shutil.which(os.environ.get("CC", "gcc"))


def compile_library(source: Path, directory: str | os.PathLike, extra_flags: tuple[str, ...] = ()) -> Path:
    """Compile ``source`` into ``directory``/lib<stem>.so with the baseline's flags; RuntimeError
    when no compiler is found."""
    cc = compiler()
    if cc is None:
        raise RuntimeError(f"no C compiler found ({os.environ.get('CC', 'gcc')}); set CC")
    target = Path(directory) / f"lib{source.stem}.so"
    subprocess.run([cc, *COMPILE_FLAGS, *extra_flags, "-o", str(target), str(source), "-lm"],
                   check=True)
    return target


def build_library(directory: str | os.PathLike, extra_flags: tuple[str, ...] = ()) -> Path:
    """Compile the baseline into ``directory``; RuntimeError when no compiler is found."""
    return compile_library(SOURCE, directory, extra_flags)


class CBaseline:
    """The loaded library plus one reusable workspace for graphs of ``n_nodes`` nodes."""

    def __init__(self, library: str | os.PathLike, n_nodes: int) -> None:
        self.lib = lib = ctypes.CDLL(str(library))
        lib.t1b_workspace_new.restype = ctypes.c_void_p
        lib.t1b_workspace_new.argtypes = [ctypes.c_int64]
        lib.t1b_workspace_free.restype = None
        lib.t1b_workspace_free.argtypes = [ctypes.c_void_p]
        lib.t1b_counter_count.restype = ctypes.c_int64
        lib.t1b_propagate.restype = ctypes.c_int64
        lib.t1b_propagate.argtypes = (
            [ctypes.c_void_p] * 7 + [ctypes.c_int64, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64,
                                     ctypes.c_float] + [ctypes.c_void_p] * 5
        )
        if lib.t1b_counter_count() != len(COUNTERS):
            raise RuntimeError(f"{library}: counter layout differs from this wrapper")
        self.n_nodes = n_nodes
        self.workspace = lib.t1b_workspace_new(n_nodes)
        if not self.workspace:
            raise MemoryError(f"cannot allocate the C baseline workspace for {n_nodes} nodes")

    def close(self) -> None:
        if self.workspace:
            self.lib.t1b_workspace_free(self.workspace)
            self.workspace = None

    def __enter__(self) -> CBaseline:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def prepare(self, plan: Query, seed_nodes, seed_weights=None) -> PreparedQuery:
        """The query ``plan.run_validated(*plan.seeds(seed_nodes, seed_weights))`` would run, with every
        argument converted up front; calling it runs only the C kernel."""
        return PreparedQuery(self, plan, *plan.seeds(seed_nodes, seed_weights))


class PreparedQuery:
    """Calling it returns ``(d_nodes, d_vals, metrics)`` shaped like clematis' result."""

    def __init__(self, baseline: CBaseline, plan: Query, seeds: np.ndarray,
                 weights: np.ndarray) -> None:
        a, p = plan.graph.arrays, plan.params
        if a.indptr.dtype != np.int32:
            raise TypeError("the C baseline takes graphs with int32 indices only")
        if p.frontier_cap or p.visited_cap or p.dedupe_window or p.queue_budget or p.relax_cap:
            raise ValueError("the C baseline implements perf-OFF T1 only: every cap must be 0")
        if a.n_nodes != baseline.n_nodes:
            raise ValueError(f"the baseline workspace is for {baseline.n_nodes} nodes, "
                             f"the graph has {a.n_nodes}")
        self.iter_cap_layers = p.iter_cap_layers
        self.out_nodes = np.empty(max(a.n_nodes, 1), dtype=np.int32)
        self.out_vals = np.empty(max(a.n_nodes, 1), dtype=np.float32)
        self.counters = np.zeros(len(COUNTERS), dtype=np.int64)
        self.max_delta = ctypes.c_float(0.0)
        rel_mult = a.rel_mult  # per edge, as the C code reads it (a graph computes it on access)
        self._keep = (a, rel_mult, seeds, weights, plan.decay)
        self._fn = baseline.lib.t1b_propagate
        self._args = (
            a.indptr.ctypes.data, a.indices.ctypes.data, a.weights.ctypes.data, rel_mult.ctypes.data,
            a.key_rank.ctypes.data, seeds.ctypes.data, weights.ctypes.data, seeds.shape[0],
            plan.decay.ctypes.data, p.radius_cap, p.iter_cap_layers, float(p.node_budget),
            baseline.workspace, self.out_nodes.ctypes.data, self.out_vals.ctypes.data,
            self.counters.ctypes.data, ctypes.addressof(self.max_delta),
        )

    def __call__(self) -> tuple[np.ndarray, np.ndarray, dict]:
        kept = self._fn(*self._args)
        if kept < 0:
            raise MemoryError("out of memory while growing the C baseline heap")
        c = dict(zip(COUNTERS, self.counters.tolist(), strict=True))
        metrics = {
            "pops": c["pops"],
            "iters": min(c["layers_processed"], self.iter_cap_layers),
            "propagations": c["propagations"],
            "radius_cap_hits": c["radius_cap_hits"],
            "layer_cap_hits": c["layer_cap_hits"],
            "node_budget_hits": c["node_budget_hits"],
            "frontier_evicted": 0,
            "dedupe_hits": 0,
            "visited_evicted": 0,
            "_max_delta_local": float(self.max_delta.value),
        }
        return self.out_nodes[:kept].copy(), self.out_vals[:kept].copy(), metrics
