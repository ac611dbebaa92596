"""Calls into the compiled kernels (docs/spec.md §3-§6, §12): imports them, keeps per-graph
scratch spaces, runs validated queries and shapes the metrics of §6.

This is the bottom layer: it knows *how* to run a backend, never *which* one runs (that is
``clematis._backend``). ``CLEMATIS_PUREPYTHON=1`` keeps every compiled module unimported.

Queries are interruptible (docs/spec.md §3.2). On the main thread Ctrl-C raises
KeyboardInterrupt inside a query of either backend. Threads started by :func:`map_cancellable`
share one :class:`Cancellation`, which every query they run polls; when the caller's thread gets
an exception (Ctrl-C included), it sets it, and the threads' queries stop with KeyboardInterrupt.
"""

from __future__ import annotations

import importlib
import itertools
import queue
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
from typing import NamedTuple, TypeVar

import numpy as np

from ._metrics import shape_metrics
from ._params import T1Params
from ._platform import ENV_PUREPYTHON, env_flag
from ._reference import decay_weights_reference, propagate_reference
from ._validation import KernelArrays


def _import_kernel(name: str):
    """``(module, None)``, or ``(None, why it did not import)``."""
    if env_flag(ENV_PUREPYTHON):
        return None, f"blocked by {ENV_PUREPYTHON}=1"
    try:
        return importlib.import_module(f"clematis._kernels.{name}"), None
    except ImportError as exc:  # no compiler at install time, or blocked on purpose
        return None, f"{type(exc).__name__}: {exc}"


native_module, import_error = _import_kernel("_t1")
gel_module, gel_import_error = _import_kernel("_gel")


class QueryOutput(NamedTuple):
    """What one query returns: nodes (ascending), float32 values, the §6 metrics, and whether
    the queue budget or the relax cap ended it with work left (not a §6 metric)."""

    nodes: np.ndarray
    values: np.ndarray
    metrics: dict
    truncated: bool


class BatchOutput(NamedTuple):
    """What the native kernel returns for a batch, as it returns it: every query's nodes and
    values concatenated (query ``q`` at ``offsets[q]:offsets[q + 1]``) and one ``COUNTERS_DTYPE``
    row of counters per query. A few arrays, cheap to pickle and to send."""

    nodes: np.ndarray
    values: np.ndarray
    offsets: np.ndarray
    counters: np.ndarray


class Cancellation:
    """A stop request shared by the threads of one call: set once, never cleared. Setting it
    sets the cancellations of the calls nested in it (made with it as ``parent``) too."""

    def __init__(self, parent: Cancellation | None = None) -> None:
        self.flag = np.zeros(1, dtype=np.int32)  # read by the kernel between pops
        self._children: list[Cancellation] = []
        if parent is not None:
            parent._children.append(self)
            if parent.is_set():  # after the append: a concurrent parent.set() cannot be missed
                self.set()

    def set(self) -> None:
        self.flag[0] = 1
        for child in self._children:
            child.set()

    def is_set(self) -> bool:
        return bool(self.flag[0])


# The cancellation the queries of this thread poll; set on the threads of map_cancellable.
_cancellation: ContextVar[Cancellation | None] = ContextVar("clematis_cancellation", default=None)

Item = TypeVar("Item")
Output = TypeVar("Output")


@contextmanager
def map_cancellable(function: Callable[[Item], Output], items: Iterable[Item], workers: int, *,
                    thread_name_prefix: str) -> Iterator[Iterator[Output]]:
    """``function(item)`` of every item, in order, on up to ``workers`` threads (on the calling
    thread when ``workers <= 1`` or there is one item).

    When the caller's ``with`` block ends with an exception (KeyboardInterrupt included), the
    items not started are dropped, the queries running on the threads stop at their next check
    and the threads are joined before the exception goes on. A call nested in another (made on
    one of its threads) is cancelled with it, but its own failure cancels only its own threads.
    """
    items = list(items)
    if workers <= 1 or len(items) <= 1:
        yield map(function, items)
        return
    cancel = Cancellation(parent=_cancellation.get())

    def call(item: Item) -> Output:
        token = _cancellation.set(cancel)
        try:
            return function(item)
        finally:
            _cancellation.reset(token)

    with ThreadPoolExecutor(min(workers, len(items)), thread_name_prefix=thread_name_prefix) as executor:
        futures = []
        try:  # the submissions inside: Ctrl-C may come while the first items already run
            for item in items:
                futures.append(executor.submit(call, item))
            yield (future.result() for future in futures)
        except BaseException:
            cancel.set()
            for future in futures:
                future.cancel()
            raise


class WorkspacePool:
    """Native scratch spaces for one graph, reused across queries; one per concurrent caller.

    It also holds the graph's ``tie_tables``: ``(tie_pos, node_of_pos)`` for the kernel, or
    ``(None, None)`` when every node's tie position is its index (``key_rank`` ascending with the
    index, as for integer ids), which spares the kernel both lookups (docs/spec.md §5).
    """

    def __init__(self, graph: KernelArrays) -> None:
        self._n_nodes = graph.n_nodes
        self._free: queue.SimpleQueue = queue.SimpleQueue()
        identity = np.array_equal(graph.node_of_pos, np.arange(graph.n_nodes, dtype=np.int32))
        self.tie_tables = (None, None) if identity else (graph.tie_pos, graph.node_of_pos)

    def take(self):
        """A free workspace (a new one when none is free); hand it back with :meth:`give`."""
        try:
            return self._free.get_nowait()
        except queue.Empty:
            return native_module.Workspace(self._n_nodes)

    def give(self, workspace) -> None:
        self._free.put(workspace)

    @contextmanager
    def acquire(self):
        workspace = self.take()
        try:
            yield workspace
        finally:
            self.give(workspace)


_pools: weakref.WeakKeyDictionary[KernelArrays, WorkspacePool] = weakref.WeakKeyDictionary()
_pools_lock = threading.Lock()


def workspaces_for(graph: KernelArrays) -> WorkspacePool:
    """The scratch pool of ``graph`` (made on first use, dropped with the graph's arrays)."""
    with _pools_lock:
        pool = _pools.get(graph)
        if pool is None:
            pool = _pools[graph] = WorkspacePool(graph)
        return pool


def current_cancel_flag() -> np.ndarray | None:
    """The flag the queries of this thread poll (None outside :func:`map_cancellable`)."""
    cancel = _cancellation.get()
    return None if cancel is None else cancel.flag


def compile_query(graph: KernelArrays, decay: np.ndarray, params: T1Params):
    """The native kernel's compiled query: ``graph``, ``decay`` and ``params`` held once."""
    return native_module.CompiledQuery(graph.indptr, graph.indices, graph.weights,
                                       *graph.kernel_multipliers(), *workspaces_for(graph).tie_tables,
                                       decay, params.record(native_module.PARAMS_DTYPE))


COUNTER_NAMES = ("pops", "layers_processed", "propagations", "radius_cap_hits", "layer_cap_hits",
                 "node_budget_hits", "frontier_evicted", "dedupe_hits", "visited_evicted", "truncated",
                 "max_delta")  # the kernel's COUNTERS_DTYPE fields, in order
TRUNCATED = COUNTER_NAMES.index("truncated")


def counters_metrics(counters: tuple | np.void, iter_cap_layers: int) -> dict:
    """The §6 metrics of one query's kernel counters (a ``COUNTERS_DTYPE`` record, or one as a
    tuple)."""
    # a record's item() is its tuple of Python numbers, as the reference's metrics hold
    values = counters if isinstance(counters, tuple) else tuple(counters.item())
    raw = dict(zip(COUNTER_NAMES, values, strict=True))
    del raw["truncated"]
    return shape_metrics(iter_cap_layers=iter_cap_layers, **raw)


def run_query(graph: KernelArrays, seed_nodes: np.ndarray, seed_weights: np.ndarray, decay: np.ndarray,
              params: T1Params, backend: str) -> QueryOutput:
    """One query; ``backend`` is already resolved to ``"native"`` or ``"python"``."""
    if backend == "python":
        return QueryOutput(*propagate_reference(graph, seed_nodes, seed_weights, decay, params,
                                                _cancellation.get()))
    seed_ptr = np.array([0, seed_nodes.shape[0]], dtype=np.int64)
    return run_batch(graph, seed_ptr, seed_nodes, seed_weights, decay, params, backend)[0]


def run_batch(graph: KernelArrays, seed_ptr: np.ndarray, seed_nodes: np.ndarray, seed_weights: np.ndarray,
              decay: np.ndarray, params: T1Params, backend: str) -> list[QueryOutput]:
    """Query ``q`` has seeds ``seed_ptr[q]:seed_ptr[q + 1]``; one ``run_query`` output per query.

    The native backend runs the whole batch in one GIL-free kernel call on one workspace.
    """
    bounds = seed_ptr.tolist()
    cancel = _cancellation.get()
    if backend == "python":
        return [QueryOutput(*propagate_reference(graph, seed_nodes[a:b], seed_weights[a:b], decay, params,
                                                 cancel))
                for a, b in itertools.pairwise(bounds)]
    record = params.record(native_module.PARAMS_DTYPE)
    pool = workspaces_for(graph)
    with pool.acquire() as workspace:
        d_nodes, d_vals, offsets, counters = native_module.propagate_batch(
            graph.indptr, graph.indices, graph.weights, *graph.kernel_multipliers(), *pool.tie_tables,
            seed_ptr, seed_nodes, seed_weights, decay, workspace, record,
            None if cancel is None else cancel.flag)
    return [QueryOutput(d_nodes[a:b], d_vals[a:b], counters_metrics(row, params.iter_cap_layers),
                        bool(row[TRUNCATED]))
            for (a, b), row in zip(itertools.pairwise(offsets.tolist()), counters.tolist(), strict=True)]


def run_gel(weights: np.ndarray, factor: np.float32, ticks: int, backend: str) -> np.ndarray:
    """GEL decay (§12) of validated float32 ``weights`` on an already-resolved backend."""
    if backend == "native":
        return gel_module.decay(weights, factor, ticks)
    return decay_weights_reference(weights, factor, ticks)
