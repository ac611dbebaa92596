"""Queries per second of ``propagate_many`` with 1 and 2 worker threads, side by side.

Builds a large graph of uniform out-degree (default 1M nodes, 6 edges each, weights 0.2-1.0)
and runs the same batch of small queries alternately with ``workers=1`` and ``workers=2``, so
both see the same machine load; prints every round and the ratio of the medians. "cores busy"
is the process's CPU time over wall time: below 2 with ``workers=2``, the operating system did
not give the process two cores (other load), whatever the code could do.

    .venv/bin/python benchmarks/batch_scaling.py [--nodes 1000000] [--queries 4000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
from t1_workloads import uniform_graph

import clematis


def timed(graph, seed_sets, workers: int, params: dict) -> tuple[float, float]:
    """Queries per second (wall clock) and the process's CPU seconds per wall second."""
    wall, cpu = time.perf_counter(), time.process_time()
    clematis.propagate_many(graph, seed_sets, workers=workers, **params)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return len(seed_sets) / wall, cpu / wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1_000_000)
    parser.add_argument("--degree", type=int, default=6)
    parser.add_argument("--queries", type=int, default=4000)
    parser.add_argument("--seeds", type=int, default=3, help="seeds per query")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--queue-budget", type=int, default=0, help="0: no pop budget")
    args = parser.parse_args()

    graph = uniform_graph(args.nodes, args.degree, seed=7)
    rng = np.random.default_rng(11)
    seed_sets = rng.integers(0, args.nodes, (args.queries, args.seeds))
    params = {"queue_budget": args.queue_budget}
    clematis.propagate_many(graph, seed_sets[:200], workers=2, **params)  # warm both workspaces
    pops = sum(r.metrics["pops"] for r in clematis.propagate_many(graph, seed_sets[:200], **params)) / 200
    print(f"graph: {graph.n_nodes} nodes, {graph.n_edges} edges; {args.queries} queries of "
          f"{args.seeds} seeds (~{pops:.0f} pops each); backend native")

    rates: dict[int, list[float]] = {1: [], 2: []}
    cpu_per_query: dict[int, list[float]] = {1: [], 2: []}
    for rnd in range(args.rounds):
        busy = {}
        for workers in (1, 2):
            rate, busy[workers] = timed(graph, seed_sets, workers, params)
            rates[workers].append(rate)
            cpu_per_query[workers].append(busy[workers] / rate)
        print(f"round {rnd + 1}: workers=1 {rates[1][-1]:7.0f} q/s ({busy[1]:.2f} cores busy)   "
              f"workers=2 {rates[2][-1]:7.0f} q/s ({busy[2]:.2f} cores busy)   "
              f"ratio {rates[2][-1] / rates[1][-1]:.2f}   load avg {os.getloadavg()[0]:.1f}")
    one, two = statistics.median(rates[1]), statistics.median(rates[2])
    ratios = [b / a for a, b in zip(rates[1], rates[2], strict=True)]
    print(f"median: workers=1 {one:.0f} q/s, workers=2 {two:.0f} q/s, ratio {two / one:.2f} "
          f"(per-round ratios {min(ratios):.2f} .. {max(ratios):.2f})")
    cpu_one, cpu_two = statistics.median(cpu_per_query[1]), statistics.median(cpu_per_query[2])
    print(f"CPU time per query: workers=1 {cpu_one * 1e3:.2f} ms, workers=2 {cpu_two * 1e3:.2f} ms "
          f"(equal when the threads do not slow each other down)")


if __name__ == "__main__":
    main()
