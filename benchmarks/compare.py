"""Side-by-side speed ratios (issues 2 and 15); run by ``make bench-compare``.

On the perf-smoke graph, each measured in one interleaved run with native:

1. native vs the Python reference, seeds 0..3 (target: native >= 100x faster);
2. native vs a plain C implementation with a binary heap of 16-byte entries, seeds 0..23
   (target: native faster);
3. native / the queue-free floor at both seed counts (``benchmarks/floor``: the recorded pops
   replayed with no queue; goal: native <= 3x the floor).

Then small queries on a 64-node graph, clematis / networkx per query (``small_queries.py``), and
the bytes per edge of a ConceptGraph's per-edge arrays.

Every pair is first checked to return identical nodes, float32 bits and metrics (the floor:
nodes, bits and propagations). Timings are the median of interleaved repeats of the call path
only (``Query.run_validated`` for clematis, the ctypes call for C and the floor), inputs prepared
outside the timed region. Where valgrind is installed, callgrind instruction counts and simulated
cache misses of native and C follow (repeatable on a noisy machine), then the instruction cost
of the kernel's Ctrl-C check (``interrupt_overhead.py``: the kernel built with and without it;
target <= 1 %); where hardware counters work, ``perf stat`` instruction counts too.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import interrupt_overhead
import numpy as np
from c_baseline import CBaseline, build_library
from callgrind import C_BASELINE_ENTRY, NATIVE_QUERY_ENTRY, callgrind_command, event_totals
from floor import Floor, build_floor_library
from small_queries import SMALL_PARAMS, small_graph, small_query_calls
from t1_workloads import first_seeds, smoke_graph

from clematis import ConceptGraph
from clematis.api import Query, T1Result
from clematis.parity import identical

# callgrind collects only inside these functions: the compiled call with its argument handling
# and outputs (benchmarks/callgrind.py)
KERNEL_SYMBOLS = {"native": NATIVE_QUERY_ENTRY, "c": C_BASELINE_ENTRY}


def interleaved_medians(calls: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median wall time (s) of each call, the calls taking turns in every repeat.

    Each timed call follows an untimed one of the same call, so every side is measured with
    warm caches (as in repeated use) rather than just after the other side evicted them.
    """
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            call()
            start = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


@dataclass(frozen=True)
class Rival:
    """A call timed against native: ``reproduces(expected)`` is checked first, ``verdict(r)``
    prints the ratio ``r`` = rival time / native time."""

    call: Callable[[], object]
    reproduces: Callable[[T1Result], bool]
    verdict: Callable[[float], str]


class Workbench:
    """The smoke graph with prepared native, python, C and floor queries."""

    def __init__(self, library: Path, floor_library: Path | None = None) -> None:
        self.graph = smoke_graph()
        self.native = Query(self.graph, backend="native", queue_budget=0)
        self.python = Query(self.graph, backend="python", queue_budget=0)
        self.baseline = CBaseline(library, self.graph.n_nodes)
        self.floor = Floor(floor_library, self.graph.n_nodes) if floor_library else None

    def native_call(self, k: int) -> Callable[[], T1Result]:
        seeds = self.native.seeds(first_seeds(k))
        return lambda: self.native.run_validated(*seeds)

    def python_call(self, k: int) -> Callable[[], object]:
        seeds = self.python.seeds(first_seeds(k))
        return lambda: self.python.run_validated(*seeds)

    def c_call(self, k: int) -> Callable[[], tuple]:
        return self.baseline.prepare(self.native, first_seeds(k))

    def python_rival(self, k: int) -> Rival:
        call = self.python_call(k)
        return Rival(call, lambda expected: identical(expected, call()),
                     lambda r: f"native is {r:.2f}x faster than python  (target: >= 100x)")

    def c_rival(self, k: int) -> Rival:
        call = self.c_call(k)
        return Rival(call, lambda expected: identical(expected, call()),
                     lambda r: f"native is {r:.2f}x faster than c  (target: > 1x)")

    def floor_rival(self, k: int) -> Rival:
        replay = self.floor.prepare(self.native, first_seeds(k))
        return Rival(replay, lambda e: replay.reproduces(e.nodes, e.values, e.metrics),
                     lambda r: f"native takes {1 / r:.2f}x the queue-free floor "
                               f"({replay.pops.shape[0]:,} expanded pops replayed; goal: <= 3x)")


def compare(k: int, native: Callable[[], T1Result], rivals: dict[str, Rival], repeats: int) -> None:
    """Time native and every rival side by side on seeds 0..k-1, after checking their results."""
    expected = native()
    for name, rival in rivals.items():
        if not rival.reproduces(expected):
            sys.exit(f"MISMATCH: {name} and native differ on seeds 0..{k - 1}; "
                     "the timing would be meaningless")
    medians = interleaved_medians({"native": native, **{n: r.call for n, r in rivals.items()}}, repeats)
    print(f"\nseeds 0..{k - 1}: identical results, pops {expected.metrics['pops']:,}, "
          f"propagations {expected.metrics['propagations']:,} (median of {repeats} interleaved runs)")
    for name, median in medians.items():
        print(f"  {name:<7} {median * 1e3:10.2f} ms")
    for name, rival in rivals.items():
        print(f"  {rival.verdict(medians[name] / medians['native'])}")


# the clematis sides of small_queries.small_query_calls, with issue 15's goals (None: no goal)
SMALL_QUERY_GOALS = {"propagate native": "<= 0.5x", "propagate python": None, "Query.run native": "<= 0.3x",
                     "propagate_many native": "<= 0.2x"}


def compare_small_queries(repeats: int) -> None:
    """Per-query clematis / networkx ratios on the 64-node graph, the clematis sides checked
    bit-identical to each other first."""
    graph = small_graph()
    calls = small_query_calls(graph)
    expected = calls["propagate native"]()
    for name in SMALL_QUERY_GOALS:
        if not all(identical(a, b) for a, b in zip(expected, calls[name](), strict=True)):
            sys.exit(f"MISMATCH: {name} and propagate native differ on the small graph")
    medians = interleaved_medians(calls, repeats)
    queries = graph.n_nodes
    print(f"\nsmall queries: {graph.n_nodes} nodes, {graph.n_edges} edges, one seed, {SMALL_PARAMS}, "
          f"one query per node vs networkx single_source_dijkstra_path_length(cutoff=1.0) "
          f"(median of {repeats} interleaved runs of {queries} queries)")
    per_query = {name: median / queries for name, median in medians.items()}
    for name, seconds in per_query.items():
        ratio = seconds / per_query["networkx"]
        goal = f"  (goal: {SMALL_QUERY_GOALS[name]})" if SMALL_QUERY_GOALS.get(name) else ""
        print(f"  {name:<22} {seconds * 1e6:8.2f} us/query  {ratio:5.2f}x networkx{goal}")


def edge_array_bytes(graph: ConceptGraph) -> dict[str, int]:
    """Bytes per edge of each array the graph holds per edge (``indices``, ``weights``, ...)."""
    return {name: arr.itemsize for name, arr in vars(graph.arrays).items()
            if isinstance(arr, np.ndarray) and arr.shape == (graph.n_edges,)}


def report_bytes_per_edge(graph: ConceptGraph) -> None:
    sizes = edge_array_bytes(graph)
    parts = ", ".join(f"{name} {size}" for name, size in sizes.items())
    print(f"\nbytes per edge in a ConceptGraph's per-edge arrays: {sum(sizes.values())} "
          f"({parts}; goal: <= 13)")


def callgrind_counts(backend: str, k: int, library: Path, workdir: Path) -> dict[str, int]:
    """Instructions and simulated cache misses inside one compiled call of ``backend``."""
    out = workdir / f"callgrind.{backend}.out"
    pattern = KERNEL_SYMBOLS[backend]
    subprocess.run(
        [*callgrind_command(pattern, out, "--cache-sim=yes"), sys.executable, __file__,
         "--worker", backend, "--seeds", str(k), "--library", str(library)],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    counts = event_totals(out, pattern)
    return {
        "instructions": counts["Ir"],
        "L1 data misses": counts.get("D1mr", 0) + counts.get("D1mw", 0),
        "last-level data misses": counts.get("DLmr", 0) + counts.get("DLmw", 0),
    }


def perf_counts_instructions() -> bool:
    """True when ``perf stat`` can count instructions here (hardware counters available)."""
    result = subprocess.run(["perf", "stat", "-x,", "-e", "instructions", "true"],
                            capture_output=True, text=True)
    return any(line.split(",")[0].isdigit() for line in result.stderr.splitlines())


def perf_stat_instructions(backend: str, k: int, library: Path, queries: int) -> int:
    """Instructions of a worker process running ``queries`` queries."""
    result = subprocess.run(
        ["perf", "stat", "-x,", "-e", "instructions", sys.executable, __file__, "--worker", backend,
         "--seeds", str(k), "--library", str(library), "--queries", str(queries)],
        capture_output=True, text=True, check=True,
    )
    for line in result.stderr.splitlines():
        fields = line.split(",")
        if len(fields) > 2 and fields[2].startswith("instructions") and fields[0].isdigit():
            return int(fields[0])
    raise RuntimeError(f"perf stat printed no instruction count:\n{result.stderr}")


def report_instruction_counts(k: int, library: Path) -> None:
    if shutil.which("valgrind"):
        with tempfile.TemporaryDirectory() as tmp:
            counts = {b: callgrind_counts(b, k, library, Path(tmp)) for b in KERNEL_SYMBOLS}
        print(f"\ncallgrind (cache simulation on), seeds 0..{k - 1}, one compiled call:")
        print(f"  {'':24} {'native':>15} {'c':>15} {'c / native':>10}")
        for event, native in counts["native"].items():
            c = counts["c"][event]
            print(f"  {event:24} {native:15,} {c:15,} {c / native if native else float('nan'):10.2f}")
    else:
        print("\ncallgrind: valgrind not installed, skipped")
    if not shutil.which("perf") or not perf_counts_instructions():
        print("perf stat: no hardware instruction counter here (or perf missing), skipped")
        return
    # the difference of 3 queries and 1 query cancels start-up and graph building
    per_query = {b: (perf_stat_instructions(b, k, library, 3) - perf_stat_instructions(b, k, library, 1)) / 2
                 for b in KERNEL_SYMBOLS}
    print(f"perf stat, seeds 0..{k - 1}, instructions per query (incl. Python call path): "
          f"native {per_query['native']:,.0f}, c {per_query['c']:,.0f}, "
          f"ratio {per_query['c'] / per_query['native']:.2f}")


def worker(backend: str, k: int, library: Path, queries: int) -> None:
    """Run ``queries`` queries of one backend (the process that callgrind and perf observe)."""
    bench = Workbench(library)
    call = bench.native_call(k) if backend == "native" else bench.c_call(k)
    for _ in range(queries):
        call()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="interleaved timed runs per pair")
    parser.add_argument("--python-seeds", type=int, default=4)
    parser.add_argument("--c-seeds", type=int, default=24)
    parser.add_argument("--small-repeats", type=int, default=15,
                        help="interleaved timed runs of the small-query comparison")
    parser.add_argument("--no-counters", action="store_true", help="skip callgrind and perf stat")
    parser.add_argument("--worker", choices=sorted(KERNEL_SYMBOLS), help=argparse.SUPPRESS)
    parser.add_argument("--seeds", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--library", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--queries", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker, args.seeds, args.library, args.queries)
        return
    with tempfile.TemporaryDirectory(prefix="clematis-c-baseline-") as build_dir:
        library = build_library(build_dir)
        bench = Workbench(library, build_floor_library(build_dir))
        print(f"perf-smoke graph: {bench.graph.n_nodes:,} nodes, {bench.graph.n_edges:,} edges; "
              f"default params; python {sys.version.split()[0]}, numpy {np.__version__}, "
              f"{os.cpu_count()} cpus")
        kp, kc = args.python_seeds, args.c_seeds
        compare(kp, bench.native_call(kp), {"python": bench.python_rival(kp), "floor": bench.floor_rival(kp)},
                args.repeats)
        compare(kc, bench.native_call(kc), {"c": bench.c_rival(kc), "floor": bench.floor_rival(kc)},
                args.repeats)
        compare_small_queries(args.small_repeats)
        report_bytes_per_edge(bench.graph)
        if not args.no_counters:
            report_instruction_counts(kc, library)
            print()
            interrupt_overhead.main([])  # the Ctrl-C check's cost, in instructions (issue 11)

if __name__ == "__main__":
    main()
