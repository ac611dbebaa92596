"""clematis.dask on a real multi-process LocalCluster: same bits as the local call, with a graph
passed per call or kept on the workers by a handle."""

from __future__ import annotations

import subprocess
import sys

import distributed
import pytest
from distributed import Client, LocalCluster
from helpers import PARAM_SETS, assert_same_results, demo_seed_sets

import clematis
import clematis.dask


@pytest.fixture(scope="module")
def client():
    with LocalCluster(n_workers=2, processes=True, threads_per_worker=1, host="127.0.0.1",
                      dashboard_address=None) as cluster, Client(cluster) as dask_client:
        yield dask_client


@pytest.mark.parametrize("params", [PARAM_SETS["defaults"], PARAM_SETS["caps"]], ids=["defaults", "caps"])
def test_same_bits_as_the_local_call(demo_graph, client, params):
    seed_sets = demo_seed_sets(demo_graph, 70, seed=9)
    got = clematis.dask.propagate_many(demo_graph, seed_sets, client=client, chunk_size=6, **params)
    assert_same_results(got, clematis.propagate_many(demo_graph, seed_sets, **params))


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
