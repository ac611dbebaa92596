"""``propagate_many`` on a Dask cluster: the graph is scattered once, chunks of queries are mapped.

Needs the optional extra: ``pip install 'clematis[dask]'``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Unpack

try:
    from distributed import Client
except ImportError as exc:
    raise ImportError("clematis.dask needs dask.distributed, which is not installed; "
                      "install it with: pip install 'clematis[dask]'") from exc

from ._params import T1Options
from ._validation import as_count
from .api import Query, T1Result
from .batch import run_chunk, seed_batch
from .graph import ConceptGraph

__all__ = ["propagate_many"]


def propagate_many(
    graph: ConceptGraph,
    seed_sets: Iterable,
    *,
    client: Client,
    chunk_size: int = 256,
    backend: str | None = None,
    **params: Unpack[T1Options],
) -> list[T1Result]:
    """:func:`clematis.propagate_many` on the workers of ``client``, same results, same bits.

    Every seed set is validated here first (errors name ``seed_sets[q]``); then the graph is
    sent once to every worker, each task runs ``chunk_size`` queries, and the results come back
    in input order, attached to the local ``graph``. ``backend`` is resolved here: the workers
    need the compiled kernel when it is ``"native"``. When gathering fails or is interrupted
    (Ctrl-C), the submitted futures are cancelled.
    """
    if not isinstance(graph, ConceptGraph):
        raise TypeError(f"graph must be a ConceptGraph, got {type(graph).__name__}")
    if not isinstance(client, Client):
        raise TypeError(f"client must be a distributed.Client, got {type(client).__name__}")
    size = as_count("chunk_size", chunk_size)
    if size == 0:
        raise ValueError("chunk_size must be >= 1, got 0")
    plan = Query(graph, backend=backend, **params)
    batch = seed_batch(plan, seed_sets)
    if len(batch) == 0:
        return []
    remote_graph = client.scatter(graph, broadcast=True, hash=False)
    futures = client.map(run_chunk, batch.chunks(size), graph=remote_graph, decay=plan.decay,
                         params=plan.params, backend=plan.backend, pure=False)
    try:
        gathered = client.gather(futures)
    except BaseException:  # Ctrl-C included: nothing submitted keeps running for nobody
        client.cancel(futures)
        raise
    return [T1Result.from_output(output, plan.backend, graph) for outputs in gathered for output in outputs]
