"""``python -m clematis.demo``: the main job on the packaged concept graph (``make demo``)."""

from __future__ import annotations

import argparse
import json

from . import _backend
from .api import propagate
from .datasets import DEMO_TEXT, load_demo_graph
from .parity import identical
from .seeding import seeds_from_text

STAGE_QUEUE_BUDGET = 10000  # the T1 stage default (docs/spec.md §7)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("text", nargs="?", default=DEMO_TEXT, help="the sentence to seed from")
    parser.add_argument("--top", type=int, default=12, help="how many activations to print")
    args = parser.parse_args(argv)

    graph = load_demo_graph()
    seeds, weights = seeds_from_text(graph, args.text)
    print(f"graph: {graph}")
    print(f"text:  {args.text!r}")
    print(f"seeds: {', '.join(graph.labels[i] for i in seeds) or '(none)'}")
    result = propagate(graph, seeds, weights, queue_budget=STAGE_QUEUE_BUDGET)
    print(f"\nbackend: {result.backend}  (compiled kernel importable: {_backend.native_available()})")
    print(f"\ntop {args.top} activations of {len(result)} touched concepts:")
    for node_id, label, value in result.top(args.top):
        print(f"  {value:+.6f}  {label:<14} {node_id}")
    print("\nmetrics:", json.dumps(result.metrics))

    if _backend.native_available():
        reference = propagate(graph, seeds, weights, backend="python", queue_budget=STAGE_QUEUE_BUDGET)
        same = identical(reference, result)
        print(f"\nparity native vs python: {'bit-identical' if same else 'MISMATCH'} "
              f"({len(result)} nodes, {len(result.metrics)} metrics)")
        return 0 if same else 1
    print("\nparity: skipped, only the Python backend is available")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
