"""Limited-API (abi3) build vs version-specific build of the T1 kernel, on the same queries.

Builds both wheels from a clean copy of this checkout with the running interpreter
(``CLEMATIS_LIMITED_API=1`` and ``=0``), installs each into its own temporary directory and times
the perf-smoke queries (8000 nodes, 50000 edges, seeds 0..23 and 0..3, default parameters without
a pop budget, as in ``compare.py``) in child processes that import only that build. Rounds
alternate between the builds so the noise of a shared machine hits both alike; the ratio is
abi3 / specific of each build's best time over all rounds (> 1 means abi3 is slower); the median
ratio of the rounds shows how much noise there was.
``--callgrind`` adds instruction counts (valgrind), which do not depend on machine load: those
executed inside the compiled ``CompiledQuery.run`` entry point (argument unpacking, buffer access,
the T1 loop, the output arrays) for one run of each query; the symbol pattern is
``callgrind.NATIVE_QUERY_ENTRY``.

    .venv/bin/python benchmarks/abi3_vs_specific.py [--rounds 7] [--repeats 5] [--callgrind]
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

from callgrind import NATIVE_QUERY_ENTRY, callgrind_command, event_totals
from source_tree import copy_source_tree
from t1_workloads import smoke_graph  # in a child, clematis is the build on its PYTHONPATH

BUILDS = {"abi3": "1", "specific": "0"}
QUERIES = {"seeds 0..23": range(24), "seeds 0..3": range(4)}
PARAMS = {"queue_budget": 0}  # the perf-smoke workload: default parameters, no pop budget


def build_and_install(name: str, workdir: pathlib.Path) -> pathlib.Path:
    """Build one variant's wheel from a clean source copy; return the directory it is installed in."""
    source = copy_source_tree(workdir / f"src-{name}")
    wheels = workdir / f"wheel-{name}"
    env = {**os.environ, "CLEMATIS_LIMITED_API": BUILDS[name]}
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-build-isolation", "--no-deps",
                    "--wheel-dir", str(wheels), str(source)], env=env, check=True)
    (wheel,) = wheels.glob("*.whl")
    target = workdir / f"site-{name}"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target),
                    str(wheel)], check=True)
    print(f"{name:9s} {wheel.name}")
    return target


def run_child(site: pathlib.Path, repeats: int, warmup: int, labels=tuple(QUERIES), prefix=()) -> dict:
    """Run this script's ``--child`` mode against one installed build; return its JSON report."""
    env = {**os.environ, "PYTHONPATH": str(site), "PYTHONHASHSEED": "0"}
    queries = [arg for label in labels for arg in ("--query", label)]
    out = subprocess.run([*prefix, sys.executable, __file__, "--child", "--repeats", str(repeats),
                          "--warmup", str(warmup), *queries], env=env, cwd=site, check=True,
                         capture_output=True, text=True).stdout
    report = json.loads(out.splitlines()[-1])
    if not report["kernel"].startswith(str(site)):
        raise RuntimeError(f"the child imported the wrong kernel: {report['kernel']}")
    return report


def child(repeats: int, warmup: int, labels: list[str]) -> None:
    """Time the queries with whichever clematis is importable; print one JSON line."""
    import clematis
    import clematis._kernels._t1 as kernel
    from clematis.native import t1 as native_t1

    if not native_t1.available():
        raise RuntimeError(f"the compiled kernel did not import: {native_t1.unavailable_reason()}")
    graph = smoke_graph()
    seconds = {}
    for label in labels:
        seeds = list(QUERIES[label])
        for _ in range(warmup):
            clematis.propagate(graph, seeds, backend="native", **PARAMS)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            clematis.propagate(graph, seeds, backend="native", **PARAMS)
            times.append(time.perf_counter() - start)
        seconds[label] = min(times) if times else None
    print(json.dumps({"kernel": kernel.__file__, "seconds": seconds}))


def instructions(site: pathlib.Path, workdir: pathlib.Path, label: str) -> int:
    """Instructions inside the kernel's entry point (Cython's typed wrapper) for one run of a query."""
    out = pathlib.Path(tempfile.mkstemp(prefix=f"callgrind-{site.name}-", dir=workdir)[1])
    run_child(site, 1, 0, (label,), callgrind_command(NATIVE_QUERY_ENTRY, out))
    return event_totals(out, NATIVE_QUERY_ENTRY)["Ir"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7, help="alternating child runs per build")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs of each query per child")
    parser.add_argument("--callgrind", action="store_true", help="also count instructions (slow)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--warmup", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--query", action="append", choices=QUERIES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.repeats, args.warmup, args.query or list(QUERIES))
        return

    with tempfile.TemporaryDirectory(prefix="clematis-abi3-") as tmp:
        workdir = pathlib.Path(tmp)
        sites = {name: build_and_install(name, workdir) for name in BUILDS}
        samples = {name: {label: [] for label in QUERIES} for name in BUILDS}
        for _ in range(args.rounds):
            for name, site in sites.items():
                for label, value in run_child(site, args.repeats, args.warmup)["seconds"].items():
                    samples[name][label].append(value)

        print(f"\nbest of {args.rounds} rounds x {args.repeats} runs, Python {sys.version.split()[0]}")
        print(f"{'query':12s} {'abi3 ms':>10s} {'specific ms':>12s} {'abi3/specific':>14s} "
              f"{'median of rounds':>17s}")
        for label in QUERIES:
            abi3, specific = (samples[name][label] for name in BUILDS)
            per_round = statistics.median(a / s for a, s in zip(abi3, specific, strict=True))
            print(f"{label:12s} {min(abi3) * 1e3:10.3f} {min(specific) * 1e3:12.3f} "
                  f"{min(abi3) / min(specific):14.4f} {per_round:17.4f}")

        if args.callgrind:
            print(f"\ncallgrind instructions in {NATIVE_QUERY_ENTRY}, one run of each query")
            print(f"{'query':12s} {'abi3':>15s} {'specific':>15s} {'abi3/specific':>14s}")
            for label in QUERIES:
                abi3, specific = (instructions(site, workdir, label) for site in sites.values())
                print(f"{label:12s} {abi3:15,} {specific:15,} {abi3 / specific:14.4f}")


if __name__ == "__main__":
    main()
