"""Ctrl-C latency: SIGINT to KeyboardInterrupt for a runaway T1 query (issue 11, item 1).

A runaway query never ends on its own: a gain-1 cycle with mixed signs (``a -> b`` weight 1,
``b -> a`` weight -1, decay 1 at every distance) and no queue budget, so the activation
circulates forever without saturating anything (docs/spec.md §3.3). Each run starts a child
process on one entry point, waits until the child's query is running (the child says
``started``), sends SIGINT and reads the time the child caught KeyboardInterrupt; the latency is
the median over ``--runs`` runs (POSIX only: both sides read CLOCK_MONOTONIC).

The same child serves tests/test_interrupt.py, which also asks it to run a bounded query on the
interrupted call's workspaces afterwards (``--then-normal``) and compares its digest with a
fresh process's (``--normal-only``).

    python benchmarks/interrupt_latency.py [--runs 5] [--backend native]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

import clematis
from clematis.runner.dataset import write_dataset

# The T1 parameters that make the cycle run forever; BOUNDED ends the same queries.
RUNAWAY = {"rate": 1.0, "floor": 1.0, "radius_cap": 4, "iter_cap_layers": 50, "node_budget": 1.5,
           "queue_budget": 0}
BOUNDED = {**RUNAWAY, "queue_budget": 5000}
SEED_SETS = [["a"], ["b"], ["a"], ["b"]]  # propagate_many: four one-query chunks on two threads
SCENARIOS = ("propagate", "many-1", "many-2", "turn-1", "turn-2", "cli", "dask")
STARTED_TIMEOUT = 60.0  # s, for the child to reach its query (a dask cluster takes a while)
# Python functions the child's threads are in while a query of either backend runs.
QUERY_FRAMES = {"run_batch", "_run_native", "_propagate"}


def runaway_graph(tail: int = 50) -> clematis.ConceptGraph:
    """The runaway cycle ``a <-> b`` plus a chain ``a -> c0 -> c1 ...`` of ``tail`` nodes (weights
    0.5), so that a bounded query touches more than the cycle."""
    edges = [("a", "b", 1.0, "supports"), ("b", "a", -1.0, "supports"), ("a", "c0", 0.5, "supports")]
    edges += [(f"c{i}", f"c{i + 1}", 0.5, "supports") for i in range(tail - 1)]
    return clematis.ConceptGraph.from_edges(edges)


def stage_config(params: dict, threads: int) -> dict:
    """A T1 stage configuration with ``params`` and ``threads`` threads across graphs."""
    return {"t1": {"decay": {"mode": "exp_floor", "rate": params["rate"], "floor": params["floor"]},
                   "radius_cap": params["radius_cap"], "iter_cap": params["iter_cap_layers"],
                   "node_budget": params["node_budget"], "queue_budget": params["queue_budget"]},
            "perf": {"parallel": {"enabled": threads > 1, "t1": threads > 1, "max_workers": threads}}}


def write_runaway_dataset(root: Path, threads: int = 2) -> Path:
    """A runner dataset of two runaway graphs, one turn seeded at ``a``."""
    import yaml

    graphs = {"g0": runaway_graph(), "g1": runaway_graph(tail=20)}
    config = yaml.safe_dump(stage_config(RUNAWAY, threads))
    return write_dataset(root, graphs, [{"seeds": {"a": 1.0}}], config)


def run_scenario(scenario: str, backend: str, graph: clematis.ConceptGraph, params: dict,
                 dataset: str | None = None) -> object:
    """One call of ``scenario`` with ``params``; returns its results (or the CLI's exit status)."""
    if scenario == "propagate":
        return [clematis.propagate(graph, ["a"], backend=backend, **params)]
    if scenario.startswith("many-"):
        return clematis.propagate_many(graph, SEED_SETS, workers=int(scenario[-1]), backend=backend, **params)
    if scenario.startswith("turn-"):
        threads = int(scenario[-1])
        graphs = [graph] * threads
        return clematis.run_turn(graphs, {"a": 1.0}, stage_config(params, threads), backend=backend)
    if scenario == "cli":
        from clematis.cli import main

        return main(["run", "--dataset", dataset, "--backend", backend])
    raise ValueError(f"unknown scenario {scenario!r}")


def digest(results) -> str:
    """SHA-256 of the bits of T1Results (nodes, float32 values, metrics, truncated) or a turn."""
    h = hashlib.sha256()
    if isinstance(results, clematis.TurnResult):
        results = results.graphs
    for r in results:
        h.update(r.nodes.tobytes())
        h.update(np.asarray(r.values, np.float32).tobytes())
        h.update(json.dumps(r.metrics, sort_keys=True).encode())
        h.update(b"T" if r.truncated else b"F")
    return h.hexdigest()


def announce_when_running(frames: set[str] = QUERY_FRAMES) -> None:
    """Print ``started`` once any thread of this process is inside a query."""
    def watch() -> None:
        me = threading.get_ident()
        while True:
            for ident, frame in sys._current_frames().items():
                while ident != me and frame is not None:
                    if frame.f_code.co_name in frames:
                        time.sleep(0.05)  # well inside the loop
                        print("started", flush=True)
                        return
                    frame = frame.f_back
            time.sleep(0.005)

    threading.Thread(target=watch, daemon=True).start()


def chunk_tasks(dask_scheduler) -> int:
    """The scheduler's tasks of query chunks (the scattered graph not counted)."""
    return sum(1 for key in dask_scheduler.tasks if "run_chunk" in str(key))


def dask_child(backend: str) -> None:
    """Runaway-length chunks on a one-worker LocalCluster; after Ctrl-C, print how many tasks
    the scheduler still holds (0 when the futures were cancelled)."""
    from distributed import Client, LocalCluster

    import clematis.dask

    long_query = {**RUNAWAY, "queue_budget": 30_000_000}  # ends: the worker thread cannot be stopped
    with LocalCluster(n_workers=1, processes=True, threads_per_worker=1, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster) as client:
        graph = runaway_graph()
        client.run(lambda: __import__("clematis._kernel_calls"))  # warm the worker
        announce_when_running({"_gather_in_order"})
        try:
            clematis.dask.propagate_many(graph, [["a"]] * 8, client=client, chunk_size=1,
                                         backend=backend, **long_query)
        except KeyboardInterrupt as interrupt:  # held: its frames keep the futures referenced
            print(f"interrupted {time.monotonic()}", flush=True)
            deadline = time.monotonic() + 30
            while (left := client.run_on_scheduler(chunk_tasks)) and time.monotonic() < deadline:
                time.sleep(0.1)
            print(f"tasks left {left}", flush=True)
            del interrupt


def child(scenario: str, backend: str, then_normal: bool, normal_only: bool, dataset: str | None) -> int:
    """The process the parent interrupts: prints ``started``, then ``interrupted <time>`` and,
    with ``then_normal``, ``digest <hex>`` of a bounded run of the same scenario."""
    if scenario == "dask":
        dask_child(backend)
        return 0
    graph = runaway_graph()
    if normal_only:
        print(f"digest {digest(run_scenario(scenario, backend, graph, BOUNDED))}", flush=True)
        return 0
    announce_when_running()
    try:
        status = run_scenario(scenario, backend, graph, RUNAWAY, dataset)
    except KeyboardInterrupt:
        print(f"interrupted {time.monotonic()}", flush=True)
    else:
        return status if isinstance(status, int) else 3  # the runaway query ended: a bug
    if then_normal:
        print(f"digest {digest(run_scenario(scenario, backend, graph, BOUNDED))}", flush=True)
    return 0


def start_child(scenario: str, backend: str, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, os.path.abspath(__file__), "--child", scenario,
                             "--backend", backend, *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def interrupt_child(scenario: str, backend: str, *extra: str, timeout: float = 30.0):
    """Start a child, wait for ``started``, send SIGINT; returns ``(seconds the signal was sent
    at, returncode, stdout lines after started, stderr)``."""
    proc = start_child(scenario, backend, *extra)
    try:
        timer = threading.Timer(STARTED_TIMEOUT, proc.kill)  # a child that never starts
        timer.start()
        line = proc.stdout.readline().strip()
        timer.cancel()
        if line != "started":
            proc.kill()
            out, err = proc.communicate()
            raise RuntimeError(f"child {scenario} did not start: {line!r} {out} {err}")
        sent = time.monotonic()
        os.kill(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return sent, proc.returncode, out.splitlines(), err


def latency(scenario: str, backend: str, dataset: str | None = None) -> float:
    """Seconds from SIGINT to the child's KeyboardInterrupt, one run."""
    extra = ["--dataset", dataset] if dataset else []
    sent, status, lines, err = interrupt_child(scenario, backend, *extra)
    caught = [float(line.split()[1]) for line in lines if line.startswith("interrupted ")]
    if not caught:
        raise RuntimeError(f"{scenario}: no KeyboardInterrupt (exit {status}): {err}")
    return caught[0] - sent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--backend", choices=("native", "python"), default="native")
    parser.add_argument("--child", choices=SCENARIOS, help=argparse.SUPPRESS)
    parser.add_argument("--then-normal", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--normal-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--dataset", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args.child, args.backend, args.then_normal, args.normal_only, args.dataset)
    print(f"SIGINT -> KeyboardInterrupt, backend {args.backend}, median of {args.runs} runs:")
    for scenario in ("propagate", "many-1", "many-2", "turn-2"):
        runs = [latency(scenario, args.backend) for _ in range(args.runs)]
        print(f"  {scenario:10} {statistics.median(runs) * 1e3:8.2f} ms  (max {max(runs) * 1e3:.2f} ms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
