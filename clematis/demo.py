"""``python -m clematis.demo ["your sentence"]``: T1 on the packaged concept graph (``make demo``)."""

from __future__ import annotations

import argparse
import json
import time

from . import _backend
from .api import Query, T1Result
from .datasets import DEMO_TEXT, load_demo_graph
from .parity import identical
from .seeding import seeds_from_text

STAGE_QUEUE_BUDGET = 10000  # the default of propagate and of the T1 stage (docs/spec.md §7.4)


def timed(query: Query, text: str) -> tuple[T1Result, float]:
    """The result of ``query`` seeded from ``text`` and its wall time in seconds."""
    start = time.perf_counter()
    result = query.run(text=text)
    return result, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("text", nargs="?", default=DEMO_TEXT, help="the sentence to seed from")
    parser.add_argument("--top", type=int, default=12, help="how many activations to print")
    args = parser.parse_args(argv)

    graph = load_demo_graph()
    query = Query(graph, queue_budget=STAGE_QUEUE_BUDGET)
    print(f"graph: {graph}")
    print(f"text:  {args.text!r}")
    result, seconds = timed(query, args.text)
    seeds, _ = seeds_from_text(graph, args.text)
    print(f"seeds: {', '.join(graph.labels[i] for i in seeds) or '(none)'} (labels found in the text)")
    print(f"\nbackend: {result.backend}  (compiled kernel importable: {_backend.native_available()})")
    cut = "cut short by it" if result.truncated else "not cut short"
    print(f"pop budget: {STAGE_QUEUE_BUDGET:,} pops applied (queue_budget, the default); this query made "
          f"{result.metrics['pops']:,} pops and was {cut}")
    print(f"\ntop {args.top} activations of {len(result)} touched concepts:")
    print("  (activation: the signed sum of what reached a concept along weighted, decaying edges)")
    for node_id, label, value in result.top(args.top):
        print(f"  {value:+.6f}  {label:<14} {node_id}")
    print("\nmetrics:", json.dumps(result.metrics))
    print("  (_max_delta_local: the largest |seed weight| or |contribution| the query added to a concept)")

    if _backend.native_available():
        native, native_seconds = (result, seconds) if result.backend == "native" else timed(
            Query(graph, backend="native", queue_budget=STAGE_QUEUE_BUDGET), args.text)
        reference, python_seconds = timed(Query(graph, backend="python", queue_budget=STAGE_QUEUE_BUDGET),
                                          args.text)
        same = identical(reference, native)
        print(f"\ntiming: native {native_seconds * 1e3:.2f} ms, python {python_seconds * 1e3:.2f} ms "
              f"(native is {python_seconds / max(native_seconds, 1e-9):.0f}x faster)")
        print(f"parity native vs python: {'bit-identical' if same else 'MISMATCH'} "
              f"({len(native)} nodes, {len(native.metrics)} metrics)")
        return 0 if same else 1
    print(f"\ntiming: python {seconds * 1e3:.2f} ms (the compiled kernel is not importable)")
    print("parity: skipped, only the Python backend is available")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
