"""Two builds of the T1 kernel side by side in one process: the wall-clock ratio of a kernel
change, steadier on a shared machine than runs in separate processes (issue 15).

Loads the installed ``clematis._kernels._t1`` (A, or ``--baseline`` if given) and another build
of the same module (B, e.g. a copy of a worktree's ``_t1*.so``), prepares one compiled query of
each on the perf-smoke graph (same arrays, seeds and parameters, ``queue_budget=0``), checks that
they return the same bits and counters, then times the two calls alternately and prints the
median of the per-pair ratios B/A with its quartiles. Run it once with B = a copy of A to see
the noise floor of the machine.

    python benchmarks/kernel_ab.py /tmp/new_t1.so [--seeds 24] [--pairs 21] [--baseline OLD.so]
"""

from __future__ import annotations

import argparse
import importlib.machinery
import importlib.util
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np
from t1_workloads import first_seeds, smoke_graph

from clematis import ConceptGraph
from clematis._kernel_calls import native_module, workspaces_for
from clematis.api import Query

MODULE = "clematis._kernels._t1"  # the name the extension's init function is built for


def load_build(path: Path) -> ModuleType:
    """The T1 extension module at ``path``, loaded under its own name but not registered in
    ``sys.modules`` (so the installed one stays what clematis uses)."""
    if not path.is_file():
        raise ValueError(f"{path}: no such kernel build")
    loader = importlib.machinery.ExtensionFileLoader(MODULE, str(path))
    spec = importlib.util.spec_from_file_location(MODULE, path, loader=loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def prepared_call(module: ModuleType, graph: ConceptGraph, k: int) -> Callable[[], tuple]:
    """One query of seeds ``0..k-1`` through ``module``'s CompiledQuery and its own workspace."""
    plan = Query(graph, backend="native", queue_budget=0).plan
    arrays = graph.arrays
    compiled = module.CompiledQuery(arrays.indptr, arrays.indices, arrays.weights,
                                    *arrays.kernel_multipliers(), *workspaces_for(arrays).tie_tables,
                                    plan.decay, plan.params.record(module.PARAMS_DTYPE))
    workspace = module.Workspace(graph.n_nodes)
    seeds = first_seeds(k).astype(arrays.indptr.dtype)
    weights = np.ones(k, np.float32)
    return lambda: compiled.run(seeds, weights, workspace)


def same_output(a: tuple, b: tuple) -> bool:
    """Same nodes, same float32 bits, same counters."""
    return (np.array_equal(a[0], b[0]) and a[1].tobytes() == b[1].tobytes()) and a[2] == b[2]


def paired_times(a: Callable[[], object], b: Callable[[], object], pairs: int) -> tuple[list, list]:
    """Wall times of ``a`` and ``b``, called alternately ``pairs`` times (every other pair
    starting with ``b``, so that neither side always runs just after the other)."""
    times_a, times_b = [], []
    for pair in range(pairs):
        order = ((a, times_a), (b, times_b))
        for call, times in order if pair % 2 == 0 else order[::-1]:
            start = time.perf_counter()
            call()
            times.append(time.perf_counter() - start)
    return times_a, times_b


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("build", type=Path, help="the other build of clematis/_kernels/_t1 (B)")
    parser.add_argument("--baseline", type=Path, help="A (default: the installed kernel)")
    parser.add_argument("--seeds", type=int, default=24, help="seeds 0..N-1 (default 24)")
    parser.add_argument("--pairs", type=int, default=21, help="alternating timed pairs (default 21)")
    args = parser.parse_args(argv)
    if args.seeds < 1 or args.pairs < 1:
        parser.error("--seeds and --pairs must be >= 1")
    if native_module is None:
        parser.error("the installed clematis has no compiled kernel")
    graph = smoke_graph()
    baseline = load_build(args.baseline) if args.baseline else native_module
    call_a = prepared_call(baseline, graph, args.seeds)
    call_b = prepared_call(load_build(args.build), graph, args.seeds)
    if not same_output(call_a(), call_b()):
        print("the two builds return different results")
        return 1
    times_a, times_b = paired_times(call_a, call_b, args.pairs)
    ratios = [tb / ta for ta, tb in zip(times_a, times_b, strict=True)]
    low, high = np.percentile(ratios, [25, 75])
    print(f"seeds 0..{args.seeds - 1}, {args.pairs} pairs: A {statistics.median(times_a) * 1e3:.2f} ms, "
          f"B {statistics.median(times_b) * 1e3:.2f} ms; median B/A {statistics.median(ratios):.3f} "
          f"(quartiles {low:.3f}-{high:.3f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
