"""``clematis.dask.propagate_many`` through a GraphHandle vs passing the graph again (issue 15, item 4).

On a LocalCluster of worker processes (loopback), a graph of ``--nodes`` nodes (out-degree 6,
weights 0.2-1.0) and a batch of ``--queries`` one-seed queries: rounds alternate one call
through a handle (the graph stays on the workers), one call given the graph (scattered again
by the call) and, for reference, the local threaded ``clematis.propagate_many`` (``--workers``
threads); the Dask calls are checked bit-identical to the local one, and each call starts once
the workers have dropped the graph the previous call scattered. For the handle calls, the
busiest worker's compute time (Dask's task stream) tells the kernel's share from Dask's, and
calls whose queries stop after one pop show Dask's cost per call alone.
Then a longer batch through the handle gives the throughput per worker (docs/batch.md).

    .venv/bin/python benchmarks/dask_handle.py --nodes 1000000 --queries 200
    .venv/bin/python benchmarks/dask_handle.py --nodes 1000000 --queries 200 --chunk-size 100
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from distributed import Client, LocalCluster, get_task_stream
from t1_workloads import uniform_graph

import clematis
import clematis.dask
from clematis.parity import identical

DEGREE = 6
OVERHEAD_CALLS = 20


def timed(call) -> tuple[float, list]:
    start = time.perf_counter()
    results = call()
    return time.perf_counter() - start, results


def busy_seconds(task_stream: list[dict]) -> dict[str, float]:
    """Seconds each worker spent computing tasks, from Dask's task stream records."""
    busy: dict[str, float] = {}
    for task in task_stream:
        for span in task["startstops"]:
            if span["action"] == "compute":
                busy[task["worker"]] = busy.get(task["worker"], 0.0) + span["stop"] - span["start"]
    return busy


def settle(client: Client, timeout: float = 30.0) -> None:
    """Wait until the workers hold no data: the copy a graph call scattered is dropped
    asynchronously, and freeing it must not be timed as part of the next call. (A handle's graph
    is held by a worker plugin, not as data.)"""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        held = client.run(lambda dask_worker: len(dask_worker.data))
        if not any(held.values()):
            return
        time.sleep(0.05)
    raise SystemExit(f"the workers still hold data after {timeout} s: {held}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--chunk-size", type=int, default=None,
                        help="queries per task (default: clematis.dask.default_chunk_size)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2, help="worker processes, one thread each")
    parser.add_argument("--throughput-queries", type=int, default=4000)
    args = parser.parse_args(argv)
    graph = uniform_graph(args.nodes, DEGREE, seed=11)
    rng = np.random.default_rng(5)
    seed_sets = rng.integers(0, args.nodes, (args.queries, 1))
    expected = clematis.propagate_many(graph, seed_sets)
    array_mib = sum(a.nbytes for a in vars(graph.arrays).values() if isinstance(a, np.ndarray)) / 2**20
    threads = args.workers  # one thread per worker process
    size = args.chunk_size or clematis.dask.default_chunk_size(args.queries, threads)
    chunking = f"{'default' if args.chunk_size is None else 'explicit'}: {-(-args.queries // size)} tasks"
    print(f"graph: {args.nodes:,} nodes, {graph.n_edges:,} edges ({array_mib:,.0f} MiB of arrays); "
          f"{args.queries} one-seed queries, chunk_size {size} ({chunking}), "
          f"mean pops {statistics.mean(r.metrics['pops'] for r in expected):,.0f}")
    with LocalCluster(n_workers=args.workers, processes=True, threads_per_worker=1, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster) as client:
        scatter_seconds, handle = timed(lambda: clematis.dask.scatter_graph(client, graph))
        sides = {
            "handle": lambda: clematis.dask.propagate_many(handle, seed_sets, client=client,
                                                           chunk_size=args.chunk_size),
            "graph": lambda: clematis.dask.propagate_many(graph, seed_sets, client=client,
                                                          chunk_size=args.chunk_size),
            "local": lambda: clematis.propagate_many(graph, seed_sets, workers=threads),
        }
        times: dict[str, list[float]] = {name: [] for name in sides}
        busiest_worker: list[float] = []
        for _ in range(args.rounds):
            for name, call in sides.items():
                with get_task_stream(client) as stream:
                    seconds, results = timed(call)
                if not all(identical(a, b) for a, b in zip(results, expected, strict=True)):
                    raise SystemExit(f"MISMATCH: the {name} call differs from the local call")
                times[name].append(seconds)
                if name == "handle":
                    busiest_worker.append(max(busy_seconds(stream.data).values()))
                settle(client)
        medians = {name: statistics.median(t) for name, t in times.items()}
        print(f"{args.workers} workers; scatter_graph once: {scatter_seconds:.2f} s")
        labels = {"handle": "handle", "graph": "graph", "local": f"local, {threads} threads"}
        for name, median in medians.items():
            rounds = ", ".join(f"{t:.3f}" for t in times[name])
            print(f"  {labels[name]:<17} median {median:.3f} s per call of {args.queries} queries ({rounds})")
        busy = statistics.median(busiest_worker)
        print(f"  handle calls: the busiest worker's tasks (kernel) median {busy:.3f} s, the rest (Dask) "
              f"{medians['handle'] - busy:.3f} s")
        print(f"  through the handle: {medians['graph'] / medians['handle']:.1f}x faster  (goal: >= 3x)")
        one_pop = [timed(lambda: clematis.dask.propagate_many(handle, seed_sets, client=client,
                                                             chunk_size=args.chunk_size, queue_budget=1))[0]
                   for _ in range(OVERHEAD_CALLS)]
        print(f"  a handle call of queries of one pop (kernel negligible, Dask's cost per call): median "
              f"{statistics.median(one_pop) * 1000:.1f} ms of {OVERHEAD_CALLS}")
        many = rng.integers(0, args.nodes, (args.throughput_queries, 3))
        seconds, _ = timed(lambda: clematis.dask.propagate_many(handle, many, client=client))
        rate = args.throughput_queries / seconds
        per_task = clematis.dask.default_chunk_size(args.throughput_queries, threads)
        print(f"throughput through the handle, {args.throughput_queries} three-seed queries, default "
              f"chunking ({-(-args.throughput_queries // per_task)} tasks): {rate:,.0f} q/s, "
              f"{rate / args.workers:,.0f} q/s per worker")
        handle.release()


if __name__ == "__main__":
    main()
