"""The multiplier read per edge, side by side in one kernel build (issue 15, item 3).

The same compiled query run two ways: ``rel`` = the float32 ``rel_mult`` of each edge (4 bytes
per edge, what a ConceptGraph stored before; the raw contract's path) and ``rel`` = the uint8
``rel_code`` into ``rel_table`` (1 byte per edge, what a ConceptGraph stores). Both are checked
to return the same bits, then timed interleaved; the ratio is code time / per-edge time. On the
perf-smoke graph (50,000 edges: the arrays stay in cache) and on a uniform graph of
``--edges`` edges (random rows: memory traffic counts). Where valgrind is installed, callgrind
instruction counts and simulated cache misses of one call of each form follow (exact, where the
shared machine's wall-clock times are not):

    .venv/bin/python benchmarks/relation_table.py --edges 20000000
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from callgrind import NATIVE_QUERY_ENTRY, callgrind_command, event_totals
from compare import interleaved_medians
from t1_workloads import RELATION_ASSOCIATES, first_seeds, smoke_graph, uniform_graph

from clematis import ConceptGraph
from clematis._kernel_calls import native_module, workspaces_for
from clematis.api import Query

NO_TABLE = np.zeros(0, dtype=np.float32)


def workloads(edges: int, degree: int) -> dict[str, tuple[ConceptGraph, np.ndarray, dict]]:
    """name -> (graph, seeds, parameters)."""
    big = uniform_graph(edges // degree, degree, seed=5)
    big = ConceptGraph.from_csr(big.matrix, rel_code=np.full(big.n_edges, RELATION_ASSOCIATES, np.uint8))
    return {
        "perf-smoke graph, seeds 0..23": (smoke_graph(), first_seeds(24), {"queue_budget": 0}),
        f"uniform graph, degree {degree}, 64 seeds, 200,000 pops":
            (big, np.linspace(0, big.n_nodes - 1, 64).astype(np.int64), {"queue_budget": 200_000}),
    }


def compiled_forms(graph: ConceptGraph, seeds: np.ndarray,
                   params: dict) -> tuple[dict, np.ndarray, np.ndarray]:
    """The query compiled with each multiplier form, and its validated seeds and weights."""
    a = graph.arrays
    plan = Query(graph, backend="native", **params).plan
    record = plan.params.record(native_module.PARAMS_DTYPE)
    forms = {"rel_mult": (a.rel_mult, NO_TABLE), "rel_code": (a.rel_code, a.rel_table)}
    compiled = {form: native_module.CompiledQuery(a.indptr, a.indices, a.weights, rel, table, a.tie_pos,
                                                  a.node_of_pos, plan.decay, record)
                for form, (rel, table) in forms.items()}
    nodes = seeds.astype(a.indptr.dtype)
    return compiled, nodes, np.ones(nodes.shape[0], np.float32)


def compare(name: str, graph: ConceptGraph, seeds: np.ndarray, params: dict, repeats: int) -> None:
    """Time one query with per-edge multipliers and with codes into the table."""
    compiled, nodes, weights = compiled_forms(graph, seeds, params)
    with workspaces_for(graph.arrays).acquire() as workspace:
        results = {form: q.run(nodes, weights, workspace) for form, q in compiled.items()}
        first, second = results.values()
        if not (np.array_equal(first[0], second[0]) and first[2] == second[2]
                and np.array_equal(first[1].view(np.uint32), second[1].view(np.uint32))):
            raise SystemExit(f"MISMATCH on {name}: the two multiplier forms differ")
        medians = interleaved_medians({form: (lambda q=q: q.run(nodes, weights, workspace))
                                       for form, q in compiled.items()}, repeats)
    pops, propagations = first[2][0], first[2][2]
    print(f"{name}: {graph.n_edges:,} edges, pops {pops:,}, propagations {propagations:,}; identical "
          f"results (median of {repeats} interleaved runs)")
    for form, median in medians.items():
        print(f"  {form:<9} {median * 1e3:10.2f} ms")
    print(f"  rel_code / rel_mult: {medians['rel_code'] / medians['rel_mult']:.3f}")


def callgrind_counts(name: str, form: str, edges: int, degree: int, workdir: Path) -> dict[str, int]:
    """Instructions and simulated data-cache misses inside one compiled call of ``form``."""
    out = workdir / "callgrind.out"
    subprocess.run([*callgrind_command(NATIVE_QUERY_ENTRY, out, "--cache-sim=yes"), sys.executable, __file__,
                    "--worker", name, form, "--edges", str(edges), "--degree", str(degree)],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    counts = event_totals(out, NATIVE_QUERY_ENTRY)
    return {"instructions": counts["Ir"], "L1 data misses": counts.get("D1mr", 0) + counts.get("D1mw", 0),
            "last-level data misses": counts.get("DLmr", 0) + counts.get("DLmw", 0)}


def report_counts(names: list[str], edges: int, degree: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            counts = {form: callgrind_counts(name, form, edges, degree, Path(tmp))
                      for form in ("rel_mult", "rel_code")}
            print(f"\ncallgrind (cache simulation on), {name}, one compiled call:")
            print(f"  {'':24} {'rel_mult':>15} {'rel_code':>15} {'code / mult':>11}")
            for event, mult in counts["rel_mult"].items():
                code = counts["rel_code"][event]
                print(f"  {event:24} {mult:15,} {code:15,} {code / mult if mult else float('nan'):11.3f}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edges", type=int, default=20_000_000, help="edges of the uniform graph")
    parser.add_argument("--degree", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--callgrind-edges", type=int, default=5_000_000,
                        help="edges of the uniform graph under callgrind (0: no callgrind)")
    parser.add_argument("--worker", nargs=2, metavar=("WORKLOAD", "FORM"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:  # the process callgrind observes: one call of one form
        name, form = args.worker
        graph, seeds, params = workloads(args.edges, args.degree)[name]
        compiled, nodes, weights = compiled_forms(graph, seeds, params)
        with workspaces_for(graph.arrays).acquire() as workspace:
            compiled[form].run(nodes, weights, workspace)
        return
    built = workloads(args.edges, args.degree)
    for name, (graph, seeds, params) in built.items():
        compare(name, graph, seeds, params, args.repeats)
    if args.callgrind_edges and shutil.which("valgrind"):
        names = list(built)  # the uniform graph's name does not depend on its size
        del built
        report_counts(names, args.callgrind_edges, args.degree)


if __name__ == "__main__":
    main()
