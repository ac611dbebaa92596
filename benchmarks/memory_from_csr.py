"""Peak memory of ``ConceptGraph.from_csr`` against the graph's final array bytes (issue 15, item 3).

Builds a float32 CSR with int32 indices (``--edges`` edges, ``--degree`` per node, integer ids),
then measures ``from_csr`` alone: the peak of memory allocated during the call (tracemalloc,
which sees NumPy's buffers) over the bytes of the arrays the graph keeps (goal: <= 2x). The
process's peak resident size (``resource.getrusage``) is printed too. Not part of ``make test``:

    .venv/bin/python benchmarks/memory_from_csr.py --edges 50000000
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
import tracemalloc

import numpy as np
import scipy.sparse as sp

from clematis import ConceptGraph

MIB = 2**20


def float32_csr(n_edges: int, degree: int, seed: int = 7) -> sp.csr_array:
    """``n_edges // degree`` nodes with ``degree`` random targets each, weights in [0.2, 1.0)."""
    n = n_edges // degree
    rng = np.random.default_rng(seed)
    indptr = np.arange(0, n * degree + 1, degree, dtype=np.int32)
    indices = rng.integers(0, n, n * degree, dtype=np.int32)
    weights = rng.uniform(0.2, 1.0, n * degree).astype(np.float32)
    return sp.csr_array((weights, indices, indptr), shape=(n, n))


def array_bytes(graph: ConceptGraph) -> dict[str, int]:
    """Bytes of each array the graph keeps."""
    return {name: arr.nbytes for name, arr in vars(graph.arrays).items() if isinstance(arr, np.ndarray)}


def peak_rss_bytes() -> int:
    """The process's peak resident set size so far (ru_maxrss: KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def measure(matrix: sp.csr_array) -> dict:
    """Build the graph under tracemalloc; allocation peak, final bytes and timings."""
    rss_before = peak_rss_bytes()
    tracemalloc.start()
    start_bytes = tracemalloc.get_traced_memory()[0]
    started = time.perf_counter()
    graph = ConceptGraph.from_csr(matrix)
    seconds = time.perf_counter() - started
    end_bytes, peak_bytes = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"graph": graph, "seconds": seconds, "peak": peak_bytes - start_bytes,
            "retained": end_bytes - start_bytes, "arrays": array_bytes(graph),
            "rss_growth": peak_rss_bytes() - rss_before}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edges", type=int, default=50_000_000)
    parser.add_argument("--degree", type=int, default=10)
    args = parser.parse_args(argv)
    if args.edges < args.degree or args.degree < 1:
        parser.error("--edges must be >= --degree >= 1")
    matrix = float32_csr(args.edges, args.degree)
    input_bytes = matrix.data.nbytes + matrix.indices.nbytes + matrix.indptr.nbytes
    result = measure(matrix)
    final = sum(result["arrays"].values())
    print(f"from_csr: {matrix.shape[0]:,} nodes, {matrix.nnz:,} edges, float32 CSR with int32 indices "
          f"({input_bytes / MIB:,.1f} MiB), integer ids; {result['seconds']:.2f} s")
    sizes = ", ".join(f"{name} {size / MIB:,.1f}" for name, size in result["arrays"].items())
    print(f"  final arrays: {sizes} MiB; total {final / MIB:,.1f} MiB "
          f"({final / matrix.nnz:.2f} bytes per edge)")
    print(f"  peak allocated during from_csr: {result['peak'] / MIB:,.1f} MiB = "
          f"{result['peak'] / final:.2f}x the final array bytes  (goal: <= 2x)")
    print(f"  retained after the call: {result['retained'] / MIB:,.1f} MiB; "
          f"peak RSS grew by {result['rss_growth'] / MIB:,.1f} MiB")


if __name__ == "__main__":
    main()
