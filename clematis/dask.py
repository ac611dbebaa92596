"""``propagate_many`` on a Dask cluster: a graph kept on the workers, chunks of queries mapped.

``scatter_graph`` keeps a graph on every worker (a :class:`GraphHandle`); ``propagate_many``
given the handle then moves only queries and results. Given a graph, it scatters it for that call.

Needs the optional extra: ``pip install 'clematis[dask]'``.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Sequence
from typing import Unpack

try:
    from distributed import Client, Future, WorkerPlugin, as_completed, get_worker
except ImportError as exc:
    raise ImportError("clematis.dask needs dask.distributed, which is not installed; "
                      "install it with: pip install 'clematis[dask]'") from exc
from tqdm.auto import tqdm

from ._kernel_calls import BatchOutput, QueryOutput
from ._params import T1Options
from ._validation import as_count
from .api import Query, T1Result, cached_plan
from .batch import SeedBatch, seed_batch
from .graph import ConceptGraph

__all__ = ["GraphHandle", "default_chunk_size", "propagate_many", "scatter_graph"]

MAX_TASK_QUERIES = 512  # the default chunking's largest task: keeps the bar moving and Ctrl-C prompt


class _GraphPlugin(WorkerPlugin):
    """One graph held by every worker, those that join later included.

    A worker plugin rather than scattered data: Dask's active memory manager drops the extra
    replicas of scattered data that no task is waiting for, so between calls a broadcast graph
    would shrink to one copy and be fetched again by every other worker on the next call.
    """

    def __init__(self, graph: ConceptGraph) -> None:
        self.graph = graph


class GraphHandle:
    """A graph kept on every worker of one client, and the local graph results attach to.

    The graph stays on the workers (and, to bring workers that join later up to date, pickled on
    the scheduler) until :meth:`release`. Seeds are validated against the local ``graph``.
    """

    def __init__(self, client: Client, name: str, graph: ConceptGraph) -> None:
        self.client = client
        self.name = name
        self.graph = graph
        self.released = False

    def release(self) -> None:
        """Let the workers and the scheduler drop the graph; the handle cannot be used afterwards."""
        if not self.released:
            self.client.unregister_worker_plugin(self.name)
            self.released = True

    def __repr__(self) -> str:
        state = "released" if self.released else f"on {self.client.scheduler.address}"
        return f"<GraphHandle {self.name} {self.graph!r} {state}>"


def _check_client(client) -> None:
    if not isinstance(client, Client):
        raise TypeError(f"client must be a distributed.Client, got {type(client).__name__}")


def _scatter(client: Client, graph: ConceptGraph) -> Future:
    """One copy of ``graph`` on every worker of ``client``, for one call."""
    return client.scatter(graph, broadcast=True, hash=False)


def scatter_graph(client: Client, graph: ConceptGraph) -> GraphHandle:
    """Send ``graph`` to every worker of ``client`` once; pass the handle to :func:`propagate_many`.

    Each worker holds a full copy (about the graph's array bytes) until the handle is released.
    """
    _check_client(client)
    if not isinstance(graph, ConceptGraph):
        raise TypeError(f"graph must be a ConceptGraph, got {type(graph).__name__}")
    name = f"clematis-graph-{uuid.uuid4().hex}"
    client.register_plugin(_GraphPlugin(graph), name=name)
    return GraphHandle(client, name, graph)


def _run_chunk(chunk: SeedBatch, graph: ConceptGraph, backend: str,
               params: T1Options) -> BatchOutput | list[QueryOutput]:
    """The kernel output of ``chunk`` on ``graph``, on a worker. The plan of ``(backend, params)``
    (decay table, compiled query, scratch spaces) is made on the first task and kept with the
    graph, so a task carries only its seeds and the few arrays of its output come back."""
    return cached_plan(graph, backend, params).run_batch_output(chunk.ptr, chunk.nodes, chunk.weights)


def _run_chunk_on_held_graph(chunk: SeedBatch, graph_name: str, backend: str,
                             params: T1Options) -> BatchOutput | list[QueryOutput]:
    """:func:`_run_chunk` on the graph a handle keeps on this worker."""
    plugin = get_worker().plugins.get(graph_name)
    if plugin is None:
        raise RuntimeError(f"this worker holds no graph {graph_name!r}: the GraphHandle was released")
    return _run_chunk(chunk, plugin.graph, backend, params)  # type: ignore[attr-defined]


def default_chunk_size(n_queries: int, n_threads: int) -> int:
    """Queries per task when no ``chunk_size`` is given: one task per worker thread (``n_threads``
    of them in the cluster, at least one), in as many rounds as keep a task to at most
    ``MAX_TASK_QUERIES`` queries. Few tasks, since each costs Dask milliseconds; equal ones, so
    that the threads finish together."""
    threads = max(1, n_threads)
    rounds = math.ceil(n_queries / (threads * MAX_TASK_QUERIES))
    return math.ceil(n_queries / (threads * rounds))


def _local_graph(graph: ConceptGraph | GraphHandle, client: Client) -> ConceptGraph:
    """The local graph of ``graph`` (a graph, or a live handle of ``client``)."""
    if isinstance(graph, GraphHandle):
        if graph.released:
            raise ValueError("graph: this GraphHandle was released; scatter the graph again")
        if graph.client is not client:
            raise ValueError("graph: this GraphHandle belongs to another client; pass that client "
                             "or scatter the graph with this one")
        return graph.graph
    if not isinstance(graph, ConceptGraph):
        raise TypeError(f"graph must be a ConceptGraph or a GraphHandle, got {type(graph).__name__}")
    return graph


def _gather_in_order(futures: Sequence[Future], sizes: Sequence[int], progress: bool) -> list:
    """The futures' results in input order, collected as they complete (a bar of ``sum(sizes)``
    queries when ``progress``)."""
    position = {future.key: i for i, future in enumerate(futures)}
    results: list = [None] * len(futures)
    with tqdm(total=sum(sizes), desc="clematis.dask.propagate_many", unit="query",
              disable=not progress) as bar:
        for future, result in as_completed(futures, with_results=True):
            i = position[future.key]
            results[i] = result
            bar.update(sizes[i])
    return results


def propagate_many(
    graph: ConceptGraph | GraphHandle,
    seed_sets: Iterable,
    *,
    client: Client,
    chunk_size: int | None = None,
    backend: str | None = None,
    progress: bool = False,
    **params: Unpack[T1Options],
) -> list[T1Result]:
    """:func:`clematis.propagate_many` on the workers of ``client``, same results, same bits.

    ``graph`` is a :class:`ConceptGraph` (sent to every worker for this call) or a
    :class:`GraphHandle` from :func:`scatter_graph` (already there: only queries and results
    move). Every seed set is validated here first (errors name ``seed_sets[q]``); each task runs
    ``chunk_size`` queries (None: :func:`default_chunk_size` of the cluster's worker threads),
    results are collected as tasks complete (a tqdm bar when ``progress=True``) and returned in
    input order, attached to the local graph. ``backend`` is resolved here: the workers need the
    compiled kernel when it is ``"native"``. When gathering fails or is interrupted (Ctrl-C), the
    submitted futures are cancelled.
    """
    _check_client(client)
    local = _local_graph(graph, client)
    size = None if chunk_size is None else as_count("chunk_size", chunk_size)
    if size == 0:
        raise ValueError("chunk_size must be >= 1, got 0")
    query = Query.planned(local, cached_plan(local, backend, params))
    batch = seed_batch(query, seed_sets)
    if len(batch) == 0:
        return []
    if size is None:
        size = default_chunk_size(len(batch), sum(client.nthreads().values()))
    chunks: list[SeedBatch] = batch.chunks(size)
    task = {"backend": query.backend, "params": params, "pure": False}
    if isinstance(graph, GraphHandle):
        futures = client.map(_run_chunk_on_held_graph, chunks, graph_name=graph.name, **task)
    else:
        futures = client.map(_run_chunk, chunks, graph=_scatter(client, local), **task)
    try:
        outputs = _gather_in_order(futures, [len(chunk) for chunk in chunks], progress)
    except BaseException:  # Ctrl-C included: nothing submitted keeps running for nobody
        client.cancel(futures)
        raise
    return [result for output in outputs for result in query.plan.batch_results(local, output)]
