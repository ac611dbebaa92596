"""``propagate_many`` on a Dask cluster: a graph scattered to the workers, chunks of queries mapped.

``scatter_graph`` keeps a graph on the workers (a :class:`GraphHandle`); ``propagate_many`` given
the handle then moves only queries and results. Given a graph, it scatters it for that call.

Needs the optional extra: ``pip install 'clematis[dask]'``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Unpack

try:
    from distributed import Client, Future, as_completed
except ImportError as exc:
    raise ImportError("clematis.dask needs dask.distributed, which is not installed; "
                      "install it with: pip install 'clematis[dask]'") from exc
from tqdm.auto import tqdm

from ._params import T1Options
from ._validation import as_count
from .api import Query, T1Result
from .batch import SeedBatch, run_chunk, seed_batch
from .graph import ConceptGraph

__all__ = ["GraphHandle", "propagate_many", "scatter_graph"]


class GraphHandle:
    """A graph kept on the workers of one client, and the local graph results attach to.

    ``future`` is the scattered graph; it stays on the cluster until :meth:`release` or until
    the handle is garbage-collected. Seeds are validated against the local ``graph``.
    """

    def __init__(self, future: Future, graph: ConceptGraph) -> None:
        self.future = future
        self.graph = graph
        self.released = False

    @property
    def client(self) -> Client:
        """The client that scattered the graph (the handle works with it only)."""
        return self.future.client

    def release(self) -> None:
        """Let the workers drop the graph; the handle cannot be used afterwards."""
        if not self.released:
            self.future.release()
            self.released = True

    def __repr__(self) -> str:
        state = "released" if self.released else f"on {self.client.scheduler.address}"
        return f"<GraphHandle {self.graph!r} {state}>"


def _check_client(client) -> None:
    if not isinstance(client, Client):
        raise TypeError(f"client must be a distributed.Client, got {type(client).__name__}")


def _scatter(client: Client, graph: ConceptGraph) -> Future:
    """One copy of ``graph`` on every worker of ``client``."""
    return client.scatter(graph, broadcast=True, hash=False)


def scatter_graph(client: Client, graph: ConceptGraph) -> GraphHandle:
    """Send ``graph`` to every worker of ``client`` once; pass the handle to :func:`propagate_many`.

    Each worker holds a full copy (about the graph's array bytes) until the handle is released.
    """
    _check_client(client)
    if not isinstance(graph, ConceptGraph):
        raise TypeError(f"graph must be a ConceptGraph, got {type(graph).__name__}")
    return GraphHandle(_scatter(client, graph), graph)


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
    chunk_size: int = 256,
    backend: str | None = None,
    progress: bool = False,
    **params: Unpack[T1Options],
) -> list[T1Result]:
    """:func:`clematis.propagate_many` on the workers of ``client``, same results, same bits.

    ``graph`` is a :class:`ConceptGraph` (sent to every worker for this call) or a
    :class:`GraphHandle` from :func:`scatter_graph` (already there: only queries and results
    move). Every seed set is validated here first (errors name ``seed_sets[q]``); each task runs
    ``chunk_size`` queries, results are collected as tasks complete (a tqdm bar when
    ``progress=True``) and returned in input order, attached to the local graph. ``backend`` is
    resolved here: the workers need the compiled kernel when it is ``"native"``.
    """
    _check_client(client)
    local = _local_graph(graph, client)
    size = as_count("chunk_size", chunk_size)
    if size == 0:
        raise ValueError("chunk_size must be >= 1, got 0")
    plan = Query(local, backend=backend, **params)
    batch = seed_batch(plan, seed_sets)
    if len(batch) == 0:
        return []
    remote = graph.future if isinstance(graph, GraphHandle) else _scatter(client, local)
    chunks: list[SeedBatch] = batch.chunks(size)
    futures = client.map(run_chunk, chunks, graph=remote, decay=plan.decay, params=plan.params,
                         backend=plan.backend, pure=False)
    outputs = _gather_in_order(futures, [len(chunk) for chunk in chunks], progress)
    return [T1Result(*output, plan.backend, local) for chunk_outputs in outputs for output in chunk_outputs]
