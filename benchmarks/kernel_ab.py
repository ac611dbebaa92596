"""Two builds of the T1 kernel side by side in one process: the wall-clock ratio of a kernel
change, steadier on a shared machine than runs in separate processes (issue 15).

Loads the installed ``clematis._kernels._t1`` (A, or ``--baseline`` if given) and another build
of the same module (B, e.g. a copy of a worktree's ``_t1*.so``), prepares one compiled query of
each on the perf-smoke graph (same arrays, seeds and parameters, ``queue_budget=0``), checks that
they return the same bits and counters, then times the two calls alternately and prints the
median of the per-pair ratios B/A with its quartiles. Run it once with B = a copy of A to see
the noise floor of the machine.

``--small`` times the small-call path instead: the one-seed radius-1 query of
``small_queries.py`` on its 64-node graph through each entry point (``run_indices``, ``run``,
``run_batch`` of one query), SMALL_CALLS calls per timed sample: what a call costs besides its
work (argument unpacking, buffers, output arrays).

    python benchmarks/kernel_ab.py /tmp/new_t1.so [--seeds 24 | --small] [--pairs 21] [--baseline OLD.so]
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
from small_queries import SMALL_PARAMS, small_graph
from t1_workloads import first_seeds, smoke_graph

from clematis import ConceptGraph
from clematis._kernel_calls import native_module, workspaces_for
from clematis.api import Query

MODULE = "clematis._kernels._t1"  # the name the extension's init function is built for
SMALL_CALLS = 2000  # calls per timed sample of a small-call entry point


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


def compiled_query(module: ModuleType, graph: ConceptGraph, **params) -> tuple:
    """``module``'s CompiledQuery of ``graph`` with ``params``, and a workspace of its own."""
    plan = Query(graph, backend="native", **params).plan
    arrays = graph.arrays
    compiled = module.CompiledQuery(arrays.indptr, arrays.indices, arrays.weights,
                                    *arrays.kernel_multipliers(), *workspaces_for(arrays).tie_tables,
                                    plan.decay, plan.params.record(module.PARAMS_DTYPE))
    return compiled, module.Workspace(graph.n_nodes)


def prepared_call(module: ModuleType, graph: ConceptGraph, k: int) -> Callable[[], tuple]:
    """One query of seeds ``0..k-1`` through ``module``'s CompiledQuery and its own workspace."""
    compiled, workspace = compiled_query(module, graph, queue_budget=0)
    seeds = first_seeds(k).astype(graph.arrays.indptr.dtype)
    weights = np.ones(k, np.float32)
    return lambda: compiled.run(seeds, weights, workspace)


def small_calls(module: ModuleType, graph: ConceptGraph) -> dict[str, Callable[[], tuple]]:
    """The small query from node 3 through each entry point of ``module``'s CompiledQuery, each
    called SMALL_CALLS times; the last call's ``(nodes, values, counters)``."""
    compiled, workspace = compiled_query(module, graph, **SMALL_PARAMS)
    seeds = np.array([3], dtype=graph.arrays.indptr.dtype)
    weights = np.ones(1, np.float32)
    ptr = np.array([0, 1], dtype=np.int64)

    def repeated(call: Callable[[], tuple]) -> Callable[[], tuple]:
        def run() -> tuple:
            for _ in range(SMALL_CALLS - 1):
                call()
            return call()
        return run

    def batch_of_one() -> tuple:
        nodes, values, _, counters = compiled.run_batch(ptr, seeds, weights, workspace)
        return nodes, values, tuple(counters[0].item())

    return {"run_indices": repeated(lambda: compiled.run_indices([3], workspace)),
            "run": repeated(lambda: compiled.run(seeds, weights, workspace)),
            "run_batch": repeated(batch_of_one)}


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
    parser.add_argument("--small", action="store_true",
                        help="time the small-call entry points on the 64-node graph instead")
    parser.add_argument("--pairs", type=int, default=21, help="alternating timed pairs (default 21)")
    args = parser.parse_args(argv)
    if args.seeds < 1 or args.pairs < 1:
        parser.error("--seeds and --pairs must be >= 1")
    if native_module is None:
        parser.error("the installed clematis has no compiled kernel")
    baseline = load_build(args.baseline) if args.baseline else native_module
    other = load_build(args.build)
    if args.small:
        graph = small_graph()
        sides = zip(small_calls(baseline, graph).items(), small_calls(other, graph).values(), strict=True)
        calls = {f"{name}, one query x {SMALL_CALLS}": (a, b) for (name, a), b in sides}
    else:
        graph = smoke_graph()
        calls = {f"seeds 0..{args.seeds - 1}": (prepared_call(baseline, graph, args.seeds),
                                                prepared_call(other, graph, args.seeds))}
    for name, (call_a, call_b) in calls.items():
        if not same_output(call_a(), call_b()):
            print(f"{name}: the two builds return different results")
            return 1
        times_a, times_b = paired_times(call_a, call_b, args.pairs)
        ratios = [tb / ta for ta, tb in zip(times_a, times_b, strict=True)]
        low, high = np.percentile(ratios, [25, 75])
        print(f"{name}, {args.pairs} pairs: A {statistics.median(times_a) * 1e3:.2f} ms, "
              f"B {statistics.median(times_b) * 1e3:.2f} ms; median B/A {statistics.median(ratios):.3f} "
              f"(quartiles {low:.3f}-{high:.3f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
