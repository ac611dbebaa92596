"""clematis.dask on a real multi-process LocalCluster: same bits as the local call, with a graph
passed per call or kept on the workers by a handle."""

from __future__ import annotations

import subprocess
import sys

import distributed
import numpy as np
import pytest
from distributed import Client, LocalCluster
from helpers import PARAM_SETS, assert_same_results, demo_seed_sets

import clematis
import clematis.api
import clematis.dask
from clematis._kernel_calls import BatchOutput
from clematis.api import Query
from clematis.batch import seed_batch


@pytest.fixture(scope="module")
def client():
    with LocalCluster(n_workers=2, processes=True, threads_per_worker=1, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster) as dask_client:
        yield dask_client


@pytest.mark.parametrize("params", [PARAM_SETS["defaults"], PARAM_SETS["caps"]], ids=["defaults", "caps"])
def test_same_bits_as_the_local_call(demo_graph, client, params):
    seed_sets = demo_seed_sets(demo_graph, 70, seed=9)
    got = clematis.dask.propagate_many(demo_graph, seed_sets, client=client, chunk_size=6, **params)
    expected = clematis.propagate_many(demo_graph, seed_sets, **params)
    assert_same_results(got, expected)
    assert [(r.nodes.dtype, r.truncated) for r in got] == [(r.nodes.dtype, r.truncated) for r in expected]


def test_graph_is_sent_once_and_both_workers_run_chunks(demo_graph, client, monkeypatch):
    scatters = []
    real_scatter = client.scatter

    def counting_scatter(data, **kwargs):
        scatters.append((type(data).__name__, kwargs.get("broadcast")))
        return real_scatter(data, **kwargs)

    monkeypatch.setattr(client, "scatter", counting_scatter)
    seed_sets = [[i] for i in range(40)]
    clematis.dask.propagate_many(demo_graph, seed_sets, client=client, chunk_size=2, queue_budget=50)
    assert scatters == [("ConceptGraph", True)]
    executed = client.run(lambda dask_worker: dask_worker.state.executed_count)
    assert len(executed) == 2 and all(count > 0 for count in executed.values()), executed


def test_python_backend_on_the_workers(demo_graph, client):
    seed_sets = demo_seed_sets(demo_graph, 15, seed=4)
    got = clematis.dask.propagate_many(demo_graph, seed_sets, client=client, chunk_size=4,
                                       backend="python", queue_budget=300)
    assert_same_results(got, clematis.propagate_many(demo_graph, seed_sets, backend="python",
                                                     queue_budget=300))


def test_bad_query_raises_before_anything_is_sent(demo_graph, client, monkeypatch):
    def no_scatter(*args, **kwargs):
        raise AssertionError("the graph was sent before the seed sets were validated")

    monkeypatch.setattr(client, "scatter", no_scatter)
    with pytest.raises(ValueError, match=r"^seed_sets\[2\]: seed_nodes\[0\]: unknown node id 'nope'"):
        clematis.dask.propagate_many(demo_graph, [[0], [1], ["nope"]], client=client)
    assert clematis.dask.propagate_many(demo_graph, [], client=client) == []


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"chunk_size": 0}, ValueError, "chunk_size must be >= 1"),
    ({"chunk_size": 2.5}, TypeError, "chunk_size must be an integer"),
    ({"client": "tcp://127.0.0.1:8786"}, TypeError, "client must be a distributed.Client"),
])
def test_bad_arguments(demo_graph, client, kwargs, error, message):
    with pytest.raises(error, match=message):
        clematis.dask.propagate_many(demo_graph, [[0]], **{"client": client, **kwargs})


def no_scatter(*args, **kwargs):
    raise AssertionError("the graph was scattered again")


def test_handle_keeps_the_graph_on_the_workers(demo_graph, client, monkeypatch):
    handle = clematis.dask.scatter_graph(client, demo_graph)
    monkeypatch.setattr(client, "scatter", no_scatter)  # from here on only queries and results move
    for params in (PARAM_SETS["defaults"], PARAM_SETS["caps"]):
        seed_sets = demo_seed_sets(demo_graph, 40, seed=3)
        got = clematis.dask.propagate_many(handle, seed_sets, client=client, chunk_size=5, **params)
        assert_same_results(got, clematis.propagate_many(demo_graph, seed_sets, **params))
        assert all(result.graph is demo_graph for result in got)
    assert list(holds_graph(client, handle).values()) == [True, True]
    handle.release()
    assert list(holds_graph(client, handle).values()) == [False, False]
    with pytest.raises(ValueError, match="released"):
        clematis.dask.propagate_many(handle, [[0]], client=client)


def holds_graph(client, handle) -> dict:
    """Per worker: does it hold the handle's graph (the very graph the queries run on)?"""
    name, n_nodes = handle.name, handle.graph.n_nodes
    return client.run(lambda dask_worker: name in dask_worker.plugins
                      and dask_worker.plugins[name].graph.n_nodes == n_nodes)


def test_a_worker_that_joins_later_gets_the_graph(demo_graph):
    with LocalCluster(n_workers=1, processes=True, threads_per_worker=1, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster) as client:
        handle = clematis.dask.scatter_graph(client, demo_graph)
        cluster.scale(2)
        client.wait_for_workers(2)
        assert list(holds_graph(client, handle).values()) == [True, True]
        seed_sets = demo_seed_sets(demo_graph, 12, seed=2)
        got = clematis.dask.propagate_many(handle, seed_sets, client=client, chunk_size=2, queue_budget=200)
        assert_same_results(got, clematis.propagate_many(demo_graph, seed_sets, queue_budget=200))


def test_results_come_back_in_input_order_whatever_the_completion_order(demo_graph, client, monkeypatch):
    completed = []

    def reversed_completion(futures, **kwargs):
        pairs = list(distributed.as_completed(futures, **kwargs))
        completed.extend(future.key for future, _ in pairs)
        return reversed(pairs)

    monkeypatch.setattr(clematis.dask, "as_completed", reversed_completion)
    seed_sets = demo_seed_sets(demo_graph, 24, seed=6)
    got = clematis.dask.propagate_many(demo_graph, seed_sets, client=client, chunk_size=4,
                                       queue_budget=300)
    assert len(completed) == 6
    assert_same_results(got, clematis.propagate_many(demo_graph, seed_sets, queue_budget=300))


def test_progress_bar_counts_queries(demo_graph, client, capsys):
    clematis.dask.propagate_many(demo_graph, [[i] for i in range(9)], client=client, chunk_size=4,
                                 progress=True, queue_budget=50)
    err = capsys.readouterr().err
    assert "clematis.dask.propagate_many" in err and "9/9" in err


def test_handle_of_another_client_is_refused(demo_graph, client):
    handle = clematis.dask.scatter_graph(client, demo_graph)
    with Client(client.scheduler.address) as other, pytest.raises(ValueError, match="another client"):
        clematis.dask.propagate_many(handle, [[0]], client=other)
    handle.release()


def test_scatter_graph_bad_arguments(client, demo_graph):
    with pytest.raises(TypeError, match="client must be a distributed.Client, got str"):
        clematis.dask.scatter_graph("tcp://127.0.0.1:8786", demo_graph)
    with pytest.raises(TypeError, match="graph must be a ConceptGraph, got str"):
        clematis.dask.scatter_graph(client, "not a graph")


def test_propagate_many_refuses_what_is_not_a_graph(client):
    with pytest.raises(TypeError, match="graph must be a ConceptGraph or a GraphHandle, got list"):
        clematis.dask.propagate_many([[0, 1]], [[0]], client=client)


def test_clear_import_error_without_dask(tmp_path):
    code = ("import sys; sys.modules['distributed'] = None\n"
            "try:\n    import clematis.dask\nexcept ImportError as exc:\n    print(exc)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                         check=True).stdout
    assert "clematis.dask needs dask.distributed" in out and "pip install 'clematis[dask]'" in out


@pytest.mark.parametrize(("n_queries", "n_threads", "size"), [
    (200, 2, 100), (1024, 2, 512), (1025, 2, 257), (4000, 2, 500), (1025, 1, 342), (3, 2, 2), (1, 4, 1),
    (10, 0, 10),  # no worker yet: as for one thread
])
def test_default_chunk_size(n_queries, n_threads, size):
    assert clematis.dask.default_chunk_size(n_queries, n_threads) == size


def test_default_chunks_are_bounded_few_and_balanced():
    for n_queries in range(1, 3000):
        for n_threads in range(1, 6):
            size = clematis.dask.default_chunk_size(n_queries, n_threads)
            tasks = -(-n_queries // size)
            rounds = -(-tasks // n_threads)  # tasks per thread, at most
            assert size <= clematis.dask.MAX_TASK_QUERIES
            assert (rounds - 1) * n_threads * clematis.dask.MAX_TASK_QUERIES < n_queries  # no extra round
            assert rounds * size < n_queries / n_threads + rounds  # the busiest thread: < 1 query per round
                                                                   # above an equal share


def test_chunks_default_to_the_worker_threads_and_an_explicit_size_is_kept(demo_graph, client, monkeypatch):
    handle = clematis.dask.scatter_graph(client, demo_graph)
    sizes = []
    real_map = client.map

    def recording_map(function, chunks, **kwargs):
        sizes.append([len(chunk) for chunk in chunks])
        return real_map(function, chunks, **kwargs)

    monkeypatch.setattr(client, "map", recording_map)
    seed_sets = demo_seed_sets(demo_graph, 30, seed=8)
    expected = clematis.propagate_many(demo_graph, seed_sets, queue_budget=300)
    for chunk_size in (None, 4):
        got = clematis.dask.propagate_many(handle, seed_sets, client=client, chunk_size=chunk_size,
                                           queue_budget=300)
        assert_same_results(got, expected)
    assert sizes == [[15, 15], [4] * 7 + [2]]  # the fixture's cluster: 2 workers of 1 thread
    handle.release()


@pytest.mark.native
def test_a_native_task_returns_a_few_arrays_that_rebuild_the_same_bits(demo_graph, client):
    handle = clematis.dask.scatter_graph(client, demo_graph)
    params = PARAM_SETS["caps"]
    seed_sets = demo_seed_sets(demo_graph, 25, seed=12)
    query = Query(demo_graph, backend="native", **params)
    output = client.submit(clematis.dask._run_chunk_on_held_graph, seed_batch(query, seed_sets),
                           handle.name, "native", params, pure=False).result()
    assert type(output) is BatchOutput and all(type(array) is np.ndarray for array in output)
    assert output.offsets.shape == (26,) and output.counters.shape == (25,)
    got = query.plan.batch_results(demo_graph, output)
    expected = clematis.propagate_many(demo_graph, seed_sets, backend="native", **params)
    assert_same_results(got, expected)
    assert [r.truncated for r in got] == [r.truncated for r in expected]
    handle.release()


def test_the_workers_keep_the_plan_between_calls(demo_graph, client):
    handle = clematis.dask.scatter_graph(client, demo_graph)
    name = handle.name

    def plan_ids(dask_worker) -> list:
        plans = clematis.api._plans.get(dask_worker.plugins[name].graph, {})
        return [id(plan) for plan in plans.values()]

    seed_sets = demo_seed_sets(demo_graph, 12, seed=1)
    runs = []
    for budget in (300, 300, 301):
        clematis.dask.propagate_many(handle, seed_sets, client=client, chunk_size=3, queue_budget=budget)
        runs.append(list(client.run(plan_ids).values()))
    first, second, third = runs
    assert any(first) and all(len(ids) <= 1 for ids in second)
    assert all(set(a) <= set(b) for a, b in zip(first, second, strict=True))  # the same plan, reused
    assert all(len(ids) <= 2 for ids in third) and any(len(ids) == 2 for ids in third)
    handle.release()
