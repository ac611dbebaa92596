"""Side-by-side speed ratios on the perf-smoke graph (issue 2, "Speed"); run by ``make bench-compare``.

1. native vs the Python reference, seeds 0..3 (target: native >= 100x faster);
2. native vs a plain C implementation with a binary heap of 16-byte entries, seeds 0..23
   (target: native faster).

Every pair is first checked to return identical nodes, float32 bits and metrics. Timings are
the median of interleaved repeats of the kernel call path only (``Query.run_validated`` for clematis,
the ctypes call for C), inputs prepared outside the timed region. Where valgrind is installed,
callgrind instruction counts and simulated cache misses of the two kernels follow (repeatable on
a noisy machine); where hardware counters work, ``perf stat`` instruction counts too.
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
from pathlib import Path

import numpy as np
from c_baseline import CBaseline, build_library
from callgrind import C_BASELINE_ENTRY, NATIVE_KERNEL_ENTRY, callgrind_command, event_totals
from t1_workloads import first_seeds, smoke_graph

from clematis.api import Query
from clematis.parity import identical

# callgrind collects only inside these functions: the compiled call with its argument handling
# and outputs (benchmarks/callgrind.py)
KERNEL_SYMBOLS = {"native": NATIVE_KERNEL_ENTRY, "c": C_BASELINE_ENTRY}


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


class Workbench:
    """The smoke graph with prepared native, python and C queries."""

    def __init__(self, library: Path) -> None:
        self.graph = smoke_graph()
        self.native = Query(self.graph, backend="native", queue_budget=0)
        self.python = Query(self.graph, backend="python", queue_budget=0)
        self.baseline = CBaseline(library, self.graph.n_nodes)

    def native_call(self, k: int) -> Callable[[], object]:
        seeds = self.native.seeds(first_seeds(k))
        return lambda: self.native.run_validated(*seeds)

    def python_call(self, k: int) -> Callable[[], object]:
        seeds = self.python.seeds(first_seeds(k))
        return lambda: self.python.run_validated(*seeds)

    def c_call(self, k: int) -> Callable[[], tuple]:
        return self.baseline.prepare(self.native, first_seeds(k))


def compare(name: str, other: Callable, native: Callable, k: int,
            repeats: int, target: str) -> None:
    expected = native()
    if not identical(expected, other()):
        sys.exit(f"MISMATCH: {name} and native differ on seeds 0..{k - 1}; the timing would be meaningless")
    medians = interleaved_medians({"native": native, name: other}, repeats)
    ratio = medians[name] / medians["native"]
    print(f"\nseeds 0..{k - 1}: identical results, pops {expected.metrics['pops']:,}, "
          f"propagations {expected.metrics['propagations']:,} (median of {repeats} interleaved runs)")
    print(f"  native  {medians['native'] * 1e3:10.2f} ms")
    print(f"  {name:<7} {medians[name] * 1e3:10.2f} ms")
    print(f"  native is {ratio:.2f}x faster than {name}  (target: {target})")


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
        bench = Workbench(library)
        print(f"perf-smoke graph: {bench.graph.n_nodes:,} nodes, {bench.graph.n_edges:,} edges; "
              f"default params; python {sys.version.split()[0]}, numpy {np.__version__}, "
              f"{os.cpu_count()} cpus")
        kp, kc = args.python_seeds, args.c_seeds
        compare("python", bench.python_call(kp), bench.native_call(kp), kp, args.repeats,
                ">= 100x")
        compare("c", bench.c_call(kc), bench.native_call(kc), kc, args.repeats, "> 1x")
        if not args.no_counters:
            report_instruction_counts(kc, library)


if __name__ == "__main__":
    main()
