"""The queue-free floor of T1 (issue 15, item 2), built on the fly and called through ctypes.

A query's expanded pops (node, popped c, layer) are recorded once by the C baseline, then
replayed by ``floor.c`` with the same edge arithmetic, ``acc``/``dist`` updates and one 8-byte
store per pushed entry, but no priority queue: what is left of the kernel's work once the queue
costs nothing. The replay adds the same contributions in the same order, so it reproduces the
reference's ``acc`` bits (:meth:`PreparedReplay.result` returns them in clematis' form).
"""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

import numpy as np
from c_baseline import CBaseline, compile_library

from clematis.api import Query

SOURCE = Path(__file__).with_name("floor.c")
POP_DTYPE = np.dtype([("node", np.int32), ("c", np.float32), ("layer", np.int32)])
REPLAY_COUNTERS = ("propagations", "pushed")
OUTPUT_EPS = np.float32(1e-8)  # docs/spec.md §2.3, the output filter


def build_floor_library(directory: str | os.PathLike) -> Path:
    """Compile ``floor.c`` (which includes the C baseline) into ``directory``."""
    return compile_library(SOURCE, directory)


class Floor:
    """The loaded floor library plus a replay workspace for graphs of ``n_nodes`` nodes."""

    def __init__(self, library: str | os.PathLike, n_nodes: int) -> None:
        self.library = library
        self.lib = lib = ctypes.CDLL(str(library))
        for name, restype in (("floor_pop_size", ctypes.c_int64), ("floor_log_stop", ctypes.c_int64),
                              ("floor_replay_counter_count", ctypes.c_int64),
                              ("floor_log_start", None), ("floor_log_take", None),
                              ("floor_workspace_free", None), ("floor_workspace_new", ctypes.c_void_p),
                              ("floor_replay", ctypes.c_int64)):
            getattr(lib, name).restype = restype
        lib.floor_log_take.argtypes = [ctypes.c_void_p]
        lib.floor_workspace_new.argtypes = [ctypes.c_int64]
        lib.floor_workspace_free.argtypes = [ctypes.c_void_p]
        lib.floor_replay.argtypes = (
            [ctypes.c_void_p] * 7 + [ctypes.c_int64, ctypes.c_void_p, ctypes.c_float, ctypes.c_void_p,
                                     ctypes.c_int64, ctypes.c_void_p, ctypes.c_int64]
            + [ctypes.c_void_p] * 4
        )
        if (lib.floor_pop_size() != POP_DTYPE.itemsize
                or lib.floor_replay_counter_count() != len(REPLAY_COUNTERS)):
            raise RuntimeError(f"{library}: record layout differs from this wrapper")
        self.n_nodes = n_nodes
        self.workspace = lib.floor_workspace_new(n_nodes)
        if not self.workspace:
            raise MemoryError(f"cannot allocate the floor workspace for {n_nodes} nodes")

    def close(self) -> None:
        if self.workspace:
            self.lib.floor_workspace_free(self.workspace)
            self.workspace = None

    def __enter__(self) -> Floor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def record(self, plan: Query, seed_nodes, seed_weights=None) -> np.ndarray:
        """The expanded pops of the query, in pop order (a ``POP_DTYPE`` array), from one run of
        the C baseline (perf-OFF parameters only, as the baseline)."""
        with CBaseline(self.library, self.n_nodes) as baseline:
            query = baseline.prepare(plan, seed_nodes, seed_weights)
            self.lib.floor_log_start()
            try:
                query()
            finally:
                size = self.lib.floor_log_stop()
                pops = np.empty(max(size, 0), dtype=POP_DTYPE)
                self.lib.floor_log_take(pops.ctypes.data)
        if size < 0:
            raise MemoryError("out of memory while recording the pop sequence")
        return pops

    def prepare(self, plan: Query, seed_nodes, seed_weights=None) -> PreparedReplay:
        """Record the query's pops, then return its replay with every argument converted up front."""
        pops = self.record(plan, seed_nodes, seed_weights)
        return PreparedReplay(self, plan, pops, *plan.seeds(seed_nodes, seed_weights))


class PreparedReplay:
    """Calling it runs only the C replay; :meth:`result` then gives its output in clematis' form."""

    def __init__(self, floor: Floor, plan: Query, pops: np.ndarray, seeds: np.ndarray,
                 weights: np.ndarray) -> None:
        a, p = plan.graph.arrays, plan.params
        if a.n_nodes != floor.n_nodes:
            raise ValueError(f"the floor workspace is for {floor.n_nodes} nodes, the graph has {a.n_nodes}")
        self.pops = pops
        # room for every edge of every expanded row: the replay never runs out
        capacity = seeds.shape[0] + int((a.indptr[pops["node"] + 1] - a.indptr[pops["node"]]).sum())
        self.entries = np.empty(max(capacity, 1), dtype=np.uint64)
        self.out_nodes = np.empty(max(a.n_nodes, 1), dtype=np.int32)
        self.out_vals = np.empty(max(a.n_nodes, 1), dtype=np.float32)
        self.counters = np.zeros(len(REPLAY_COUNTERS), dtype=np.int64)
        self.touched = 0
        rel_mult = a.rel_mult  # per edge, as the C code reads it (a graph computes it on access)
        self._keep = (a, rel_mult, seeds, weights, plan.decay)
        self._fn = floor.lib.floor_replay
        self._args = (
            a.indptr.ctypes.data, a.indices.ctypes.data, a.weights.ctypes.data, rel_mult.ctypes.data,
            a.tie_pos.ctypes.data, seeds.ctypes.data, weights.ctypes.data, seeds.shape[0],
            plan.decay.ctypes.data, float(p.node_budget), pops.ctypes.data, pops.shape[0],
            self.entries.ctypes.data, capacity, floor.workspace, self.out_nodes.ctypes.data,
            self.out_vals.ctypes.data, self.counters.ctypes.data,
        )

    def __call__(self) -> int:
        """Replay once; the number of nodes touched."""
        self.touched = self._fn(*self._args)
        if self.touched < 0:
            raise RuntimeError("the replay's entry buffer was too small")
        return self.touched

    def reproduces(self, nodes: np.ndarray, values: np.ndarray, metrics: dict) -> bool:
        """Replay once: True when it gives exactly these nodes, value bits and propagations."""
        self()
        got_nodes, got_values, counters = self.result()
        return (np.array_equal(got_nodes, nodes) and got_values.shape == values.shape
                and np.array_equal(got_values.view(np.int32), values.view(np.int32))
                and counters["propagations"] == metrics["propagations"])

    def result(self) -> tuple[np.ndarray, np.ndarray, dict]:
        """``(nodes, values, counters)`` of the last replay: nodes ascending with ``|acc| >= 1e-8``
        (clematis' output rule), counters ``propagations`` and ``pushed``."""
        nodes, vals = self.out_nodes[:self.touched], self.out_vals[:self.touched]
        order = np.argsort(nodes, kind="stable")
        nodes, vals = nodes[order], vals[order]
        kept = np.abs(vals) >= OUTPUT_EPS
        return nodes[kept], vals[kept], dict(zip(REPLAY_COUNTERS, self.counters.tolist(), strict=True))
