"""Many queries on one graph: ``propagate_many``, threads over the GIL-free kernel on every core."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Unpack

import numpy as np
from tqdm.auto import tqdm

from ._kernel_calls import map_cancellable
from ._params import T1Options
from ._platform import available_cpus
from ._validation import as_count, validate_seeds
from .api import Query, T1Result, cached_plan
from .graph import ConceptGraph
from .interop import conversion_hint

MAX_CHUNK = 64     # queries per kernel call at most: keeps the progress bar moving
GUIDED_SHARES = 4  # a chunk takes 1 / (GUIDED_SHARES * workers) of the queries still to run


@dataclass(frozen=True)
class SeedBatch:
    """Validated seeds of many queries in CSR form: query ``q`` is ``nodes[ptr[q]:ptr[q + 1]]``."""

    ptr: np.ndarray      # int64, len = queries + 1
    nodes: np.ndarray    # the graph's index dtype
    weights: np.ndarray  # float32

    def __len__(self) -> int:
        return self.ptr.shape[0] - 1

    def slice(self, start: int, stop: int) -> SeedBatch:
        """Queries ``start .. stop - 1``."""
        a, b = self.ptr[start], self.ptr[stop]
        return SeedBatch(self.ptr[start:stop + 1] - a, self.nodes[a:b], self.weights[a:b])

    def chunks(self, size: int) -> list[SeedBatch]:
        """Consecutive sub-batches of ``size`` queries (the last may be shorter)."""
        if len(self) <= size:
            return [self]
        return [self.slice(start, min(start + size, len(self))) for start in range(0, len(self), size)]


def guided_bounds(n_queries: int, n_workers: int) -> list[tuple[int, int]]:
    """``(start, stop)`` of chunks of at most ``MAX_CHUNK`` queries that shrink towards the end
    (each a share of what remains), so that the threads run out of work together."""
    bounds, start = [], 0
    while start < n_queries:
        size = max(1, min(MAX_CHUNK, math.ceil((n_queries - start) / (GUIDED_SHARES * n_workers))))
        bounds.append((start, start + size))
        start += size
    return bounds


def split_seed_set(seed_set) -> tuple[object, object]:
    """``(nodes, weights or None)`` of one seed set given as nodes, ``{node: weight}`` or a
    ``(nodes, weights)`` tuple. A tuple is a pair when its first item is not itself a node."""
    if (isinstance(seed_set, tuple) and len(seed_set) == 2
            and not isinstance(seed_set[0], str | int | np.integer)):
        return seed_set
    return seed_set, None


def index_rows(seed_sets, n_nodes: int, index_dtype) -> SeedBatch | None:
    """The batch of seed sets given as a 2-D integer array (one row per query) or as a list of
    lists of ints, every node in ``[0, n_nodes)``, made without a Python step per query; None for
    any other form, or when a node is out of range (the caller then names the bad seed set)."""
    if isinstance(seed_sets, np.ndarray):
        if seed_sets.ndim != 2 or seed_sets.dtype.kind not in "iu":
            return None
        rows, width = seed_sets.shape
        try:
            nodes, weights = validate_seeds(seed_sets.reshape(-1), None, n_nodes, index_dtype)
        except ValueError:
            return None
        return SeedBatch(np.arange(rows + 1, dtype=np.int64) * width, nodes, weights)
    if type(seed_sets) is not list or not set(map(type, seed_sets)) <= {list}:
        return None
    flat = list(itertools.chain.from_iterable(seed_sets))
    # exactly int (bools and NumPy scalars go the long way); the range checked on the Python
    # ints, which also keeps np.array from wrapping a huge one
    if not set(map(type, flat)) <= {int} or (flat and (min(flat) < 0 or max(flat) >= n_nodes)):
        return None
    ptr = np.array(list(itertools.accumulate(map(len, seed_sets), initial=0)), dtype=np.int64)
    return SeedBatch(ptr, np.array(flat, dtype=index_dtype), np.ones(len(flat), dtype=np.float32))


def seed_batch(plan: Query, seed_sets: Iterable) -> SeedBatch:
    """Validate every seed set with ``plan`` before any work; errors name ``seed_sets[q]``.

    Index rows (:func:`index_rows`) are validated all at once; when one is bad, the seed sets
    are validated one by one, for the error naming it."""
    arrays = plan.graph.arrays
    batch = index_rows(seed_sets, arrays.n_nodes, arrays.indptr.dtype)
    if batch is not None:
        return batch
    if isinstance(seed_sets, str | bytes | Mapping) or not isinstance(seed_sets, Iterable):
        raise TypeError(f"seed_sets must be an iterable of seed sets, got {type(seed_sets).__name__}")
    nodes, weights = [], []
    for q, seed_set in enumerate(seed_sets):
        try:
            n, w = plan.seeds(*split_seed_set(seed_set))
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"seed_sets[{q}]: {exc}") from None
        nodes.append(n)
        weights.append(w)
    ptr = np.zeros(len(nodes) + 1, dtype=np.int64)
    np.cumsum([n.shape[0] for n in nodes], out=ptr[1:])
    return SeedBatch(ptr, np.concatenate(nodes) if nodes else np.zeros(0, dtype=arrays.indptr.dtype),
                     np.concatenate(weights) if weights else np.zeros(0, dtype=np.float32))


def propagate_many(
    graph: ConceptGraph,
    seed_sets: Iterable,
    *,
    workers: int = 0,
    backend: str | None = None,
    progress: bool = False,
    **params: Unpack[T1Options],
) -> list[T1Result]:
    """Run one query per seed set; ``results[q]`` is bit-identical to ``propagate`` on ``seed_sets[q]``.

    A seed set is a sequence of node ids or indices (weights 1.0), a mapping ``{node: weight}``,
    or a ``(nodes, weights)`` tuple; ``seed_sets`` may also be a 2-D integer array, one row of
    node indices per query (validated and batched without a Python step per query). Every seed
    set and parameter is validated before any work; an error names the seed set
    (``seed_sets[17]: ...``). ``params`` are those of :func:`clematis.propagate`, shared by all
    queries.

    ``workers`` threads (0: every CPU this process may use) run chunks of queries, each chunk in
    one GIL-free kernel call on its own scratch space; the graph is shared, never copied.
    ``progress=True`` shows a progress bar (``tqdm.auto``: a widget in Jupyter, else on stderr).
    Ctrl-C stops every thread's query and raises KeyboardInterrupt once the threads are done.
    """
    if not isinstance(graph, ConceptGraph):
        raise TypeError(f"graph must be a ConceptGraph, got {type(graph).__name__}{conversion_hint(graph)}")
    n_workers = as_count("workers", workers) or available_cpus()
    query = Query.planned(graph, cached_plan(graph, backend, params))
    batch = seed_batch(query, seed_sets)
    if n_workers == 1 and not progress:  # no threads to balance, no bar to move: fewest calls
        chunks = batch.chunks(MAX_CHUNK)
    else:
        chunks = [batch.slice(start, stop) for start, stop in guided_bounds(len(batch), n_workers)]

    def run(chunk: SeedBatch) -> list[T1Result]:
        return query.plan.run_batch(graph, chunk.ptr, chunk.nodes, chunk.weights)

    results: list[T1Result] = []
    bar = tqdm(total=len(batch), desc="propagate_many", unit="query") if progress else None
    with bar or nullcontext(), map_cancellable(run, chunks, n_workers,
                                               thread_name_prefix="clematis") as outputs:
        for chunk_results in outputs:
            results.extend(chunk_results)
            if bar is not None:
                bar.update(len(chunk_results))
    return results
