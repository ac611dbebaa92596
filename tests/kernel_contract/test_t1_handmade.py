"""Hand-made graphs whose answers are worked out here, checked on both backends (spec §3-§6)."""

from __future__ import annotations

import numpy as np
import pytest

from clematis.t1 import propagate_one_graph

BACKENDS = ["python", "native"]
F = np.float32


def run(edges, n, seeds, seed_weights=None, *, key_rank=None, rel_mult=None, backend, **params):
    """Propagate over ``edges`` = [(src, dst, weight), ...] given grouped by src in CSR order."""
    src = np.array([e[0] for e in edges], dtype=np.int64)
    assert np.all(np.diff(src) >= 0), "test edges must be grouped by source"
    indptr = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(np.bincount(src, minlength=n), out=indptr[1:])
    indices = np.array([e[1] for e in edges], dtype=np.int32)
    weights = np.array([e[2] for e in edges], dtype=np.float32)
    m = len(edges)
    defaults = dict(rate=0.5, floor=0.0, radius_cap=4, iter_cap_layers=50, node_budget=10.0)
    return propagate_one_graph(
        indptr, indices, weights, np.zeros(m, np.int32),
        np.ones(m, np.float32) if rel_mult is None else np.asarray(rel_mult, np.float32),
        np.asarray(seeds, np.int32), seed_weights,
        np.arange(n, dtype=np.int32) if key_rank is None else np.asarray(key_rank, np.int32),
        backend=backend, **{**defaults, **params},
    )


def metrics_with(**changes):
    base = dict(pops=0, iters=0, propagations=0, radius_cap_hits=0, layer_cap_hits=0,
                node_budget_hits=0, frontier_evicted=0, dedupe_hits=0, visited_evicted=0,
                _max_delta_local=1.0)
    return {**base, **changes}


def check(result, nodes, values, metrics):
    d_nodes, d_vals, got = result
    np.testing.assert_array_equal(d_nodes, np.array(nodes, dtype=np.int32))
    np.testing.assert_array_equal(d_vals.view(np.int32), np.array(values, dtype=np.float32).view(np.int32))
    assert got == metrics


@pytest.mark.parametrize("backend", BACKENDS)
class TestPerfOff:
    def test_chain_decays_by_distance(self, backend):
        # 0 -> 1 -> 2, weights 1: contributions 1 * 0.5**1 = 0.5, then 0.5 * 0.5**2 = 0.125
        result = run([(0, 1, 1.0), (1, 2, 1.0)], 3, [0], backend=backend)
        check(result, [0, 1, 2], [1.0, 0.5, 0.125],
              metrics_with(pops=3, iters=2, propagations=2))

    def test_contribution_is_weight_times_relation_times_decay(self, backend):
        # seed 0.75, weight 0.5, relation 0.6, decay(1) = max(0.5 ** 1, 0.25) = 0.5
        result = run([(0, 1, 0.5)], 2, [0], [0.75], rel_mult=[0.6], floor=0.25, backend=backend)
        expected = ((F(0.75) * F(0.5)) * F(0.6)) * F(0.5)
        check(result, [0, 1], [0.75, expected],
              metrics_with(pops=2, iters=1, propagations=1, _max_delta_local=0.75))

    def test_floor_replaces_small_decay(self, backend):
        # decay(2) = max(0.5**2, 0.4) = 0.4
        result = run([(0, 1, 1.0), (1, 2, 1.0)], 3, [0], floor=0.4, backend=backend)
        check(result, [0, 1, 2], [1.0, 0.5, F(0.5) * F(0.4)],
              metrics_with(pops=3, iters=2, propagations=2))

    def test_key_rank_breaks_ties_before_node_id(self, backend):
        # 0 feeds 1 and 2 equally; only two pops are allowed, so the tie decides who expands.
        edges = [(0, 1, 1.0), (0, 2, 1.0), (1, 3, 1.0), (2, 4, 1.0)]
        by_node = run(edges, 5, [0], queue_budget=2, backend=backend)
        check(by_node, [0, 1, 2, 3], [1.0, 0.5, 0.5, 0.125],
              metrics_with(pops=2, iters=1, propagations=3))
        by_rank = run(edges, 5, [0], queue_budget=2, key_rank=[0, 2, 1, 3, 4], backend=backend)
        check(by_rank, [0, 1, 2, 4], [1.0, 0.5, 0.5, 0.125],
              metrics_with(pops=2, iters=1, propagations=3))

    def test_negative_contribution_pops_first_on_equal_magnitude(self, backend):
        # duplicate seed with opposite weights: acc[0] = 0 (left out), (0, -1) pops before (0, +1)
        result = run([(0, 1, 1.0)], 2, [0, 0], [1.0, -1.0], queue_budget=1, backend=backend)
        check(result, [1], [-0.5], metrics_with(pops=1, propagations=1))

    def test_larger_magnitude_pops_first(self, backend):
        # seeds 1 (0.25) and 2 (-0.75): |−0.75| pops first and is the only expansion allowed
        result = run([(1, 0, 1.0), (2, 0, 1.0)], 3, [1, 2], [0.25, -0.75], queue_budget=1,
                     backend=backend)
        check(result, [0, 1, 2], [-0.375, 0.25, -0.75],
              metrics_with(pops=1, propagations=1, _max_delta_local=0.75))

    def test_node_budget_blocks_expansion_and_requeue(self, backend):
        # duplicate edge 0 -> 1: acc[1] reaches 1.0 (queued), then 2.0 >= 1.5 (not queued, a hit);
        # popping 1 finds |acc| = 2.0 >= 1.5: a second hit, no expansion.
        result = run([(0, 1, 1.0), (0, 1, 1.0), (1, 2, 1.0)], 3, [0], rate=1.0,
                     node_budget=1.5, backend=backend)
        check(result, [0, 1], [1.0, 2.0],
              metrics_with(pops=2, iters=1, propagations=2, node_budget_hits=2))

    def test_seed_at_budget_is_not_expanded(self, backend):
        result = run([(0, 1, 1.0)], 2, [0], [2.0], node_budget=1.5, backend=backend)
        check(result, [0], [2.0], metrics_with(pops=1, node_budget_hits=1, _max_delta_local=2.0))

    def test_radius_cap_counts_every_blocked_edge(self, backend):
        edges = [(0, 1, 1.0), (1, 2, 1.0), (1, 3, 1.0)]
        result = run(edges, 4, [0], radius_cap=1, backend=backend)
        check(result, [0, 1], [1.0, 0.5],
              metrics_with(pops=2, iters=1, propagations=1, radius_cap_hits=2))

    def test_radius_zero_keeps_only_seeds(self, backend):
        result = run([(0, 1, 1.0), (0, 2, 1.0)], 3, [0], radius_cap=0, backend=backend)
        check(result, [0], [1.0], metrics_with(pops=1, radius_cap_hits=2))

    def test_iteration_cap_counts_layer_hits(self, backend):
        edges = [(0, 1, 1.0), (1, 2, 1.0), (1, 3, 1.0)]
        result = run(edges, 4, [0], iter_cap_layers=1, backend=backend)
        check(result, [0, 1], [1.0, 0.5],
              metrics_with(pops=2, iters=1, propagations=1, layer_cap_hits=2))
        zero = run(edges, 4, [0], iter_cap_layers=0, backend=backend)
        check(zero, [0], [1.0], metrics_with(pops=1, layer_cap_hits=1))

    def test_radius_is_checked_before_iteration_cap(self, backend):
        result = run([(0, 1, 1.0)], 2, [0], radius_cap=0, iter_cap_layers=0, backend=backend)
        check(result, [0], [1.0], metrics_with(pops=1, radius_cap_hits=1))

    def test_walks_reexpand_with_the_smallest_distance(self, backend):
        # 0 -> 1 -> 2 and 0 -> 2: node 2 is reached at distance 1 and 2; both entries expand
        # 2 -> 3 at distance 2 (its smallest), so node 3 gets two contributions.
        edges = [(0, 1, 1.0), (0, 2, 1.0), (1, 2, 1.0), (2, 3, 1.0)]
        result = run(edges, 4, [0], backend=backend)
        # pops: 0; (1, .5) and (2, .5) tie -> node 1 first: pushes (2, .125); then (2, .5):
        # pushes (3, .125); then (2, .125) [node 2 before 3]: pushes (3, .03125); then the 3s.
        check(result, [0, 1, 2, 3], [1.0, 0.5, 0.625, 0.15625],
              metrics_with(pops=6, iters=2, propagations=5))

    def test_tiny_contributions_are_skipped_in_double(self, backend):
        # 1e-7 * 0.05 * 0.5 = 2.5e-9 < 1e-8: skipped, no propagation; the seed itself is kept.
        result = run([(0, 1, 0.05)], 2, [0], [1e-7], backend=backend)
        check(result, [0], [1e-7], metrics_with(pops=1, _max_delta_local=float(F(1e-7))))

    def test_output_filter_drops_activation_below_1e8(self, backend):
        result = run([], 2, [1], [5e-9], backend=backend)
        check(result, [], [], metrics_with(pops=1, _max_delta_local=float(F(5e-9))))

    def test_zero_weight_seed_expands_nothing(self, backend):
        result = run([(0, 1, 1.0)], 2, [0], [0.0], backend=backend)
        check(result, [], [], metrics_with(pops=1, _max_delta_local=0.0))

    def test_relax_cap_stops_everything(self, backend):
        edges = [(0, 1, 1.0), (0, 2, 1.0), (0, 3, 1.0)]
        result = run(edges, 4, [0], relax_cap=2, backend=backend)
        check(result, [0, 1, 2], [1.0, 0.5, 0.5], metrics_with(pops=1, propagations=2))

    def test_queue_budget_stops_after_pops(self, backend):
        result = run([(0, 1, 1.0), (1, 2, 1.0)], 3, [0], queue_budget=1, backend=backend)
        check(result, [0, 1], [1.0, 0.5], metrics_with(pops=1, propagations=1))

    def test_empty_graph_and_no_seeds(self, backend):
        check(run([], 0, [], backend=backend), [], [], metrics_with(_max_delta_local=0.0))
        check(run([(0, 1, 1.0)], 2, [], backend=backend), [], [], metrics_with(_max_delta_local=0.0))

    def test_int64_graph_gives_int64_nodes(self, backend):
        indptr = np.array([0, 1, 1], dtype=np.int64)
        d_nodes, d_vals, _ = propagate_one_graph(
            indptr, np.array([1], np.int64), np.ones(1, np.float32), np.zeros(1, np.int32),
            np.ones(1, np.float32), np.array([0]), None, np.arange(2, dtype=np.int32),
            rate=0.5, floor=0.0, radius_cap=4, iter_cap_layers=50, node_budget=1.5, backend=backend)
        assert d_nodes.dtype == np.int64
        np.testing.assert_array_equal(d_nodes, [0, 1])
        np.testing.assert_array_equal(d_vals, np.array([1.0, 0.5], np.float32))


@pytest.mark.parametrize("backend", BACKENDS)
class TestCaps:
    def test_all_caps_zero_is_perf_off(self, backend):
        edges = [(0, 1, 1.0), (0, 2, 1.0), (1, 2, 1.0), (2, 3, 1.0)]
        off = run(edges, 4, [0], backend=backend)
        zero = run(edges, 4, [0], frontier_cap=0, visited_cap=0, dedupe_window=0,
                   queue_budget=0, relax_cap=0, backend=backend)
        check(zero, off[0], off[1], off[2])

    def test_frontier_cap_evicts_the_pushed_entry_when_it_is_last(self, backend):
        # Q = 1. Popping 0 queues (1, .5); then (2, .25) is worse than the only entry, so the
        # newcomer itself is evicted: node 2 keeps its activation but never expands 2 -> 3.
        edges = [(0, 1, 1.0), (0, 2, 0.5), (2, 3, 1.0)]
        result = run(edges, 4, [0], frontier_cap=1, backend=backend)
        check(result, [0, 1, 2], [1.0, 0.5, 0.25],
              metrics_with(pops=2, iters=1, propagations=2, frontier_evicted=1))

    def test_frontier_cap_evicts_the_worst_queued_entry(self, backend):
        # Q = 1, the better entry comes second: (2, .25) is evicted by (1, .5).
        edges = [(0, 2, 0.5), (0, 1, 1.0), (2, 3, 1.0)]
        result = run(edges, 4, [0], frontier_cap=1, backend=backend)
        check(result, [0, 1, 2], [1.0, 0.5, 0.25],
              metrics_with(pops=2, iters=1, propagations=2, frontier_evicted=1))

    def test_evicted_newcomer_does_not_enter_the_dedupe_ring(self, backend):
        # Q = 1, W = 1. Seeds 0 and 1 tie on |c|; key rank puts 0 first, so the seed entry
        # (1, 1.0) is last and evicted. It never entered the ring: the later push of node 1
        # from 0 is accepted (no dedupe hit). Node 1 is a seed: its distance stays 0 (iters 0).
        edges = [(0, 1, 1.0)]
        result = run(edges, 2, [0, 1], frontier_cap=1, dedupe_window=1, backend=backend)
        check(result, [0, 1], [1.0, 1.5],
              metrics_with(pops=2, iters=0, propagations=1, frontier_evicted=1))

    def test_dedupe_window_drops_recent_and_requeues_after_the_ring_moves_on(self, backend):
        # W = 1. Popping 0 pushes 1 (accepted), 1 again (in the ring: dropped), 2 (accepted,
        # pushes 1 out of the ring), 1 again (accepted: it left the ring).
        edges = [(0, 1, 1.0), (0, 1, 1.0), (0, 2, 1.0), (0, 1, 1.0)]
        result = run(edges, 3, [0], dedupe_window=1, backend=backend)
        check(result, [0, 1, 2], [1.0, 1.5, 0.5],
              metrics_with(pops=4, iters=1, propagations=4, dedupe_hits=1))

    def test_dedupe_window_applies_to_seeds(self, backend):
        result = run([], 1, [0, 0, 0], dedupe_window=2, backend=backend)
        check(result, [0], [3.0], metrics_with(pops=1, dedupe_hits=2))

    def test_visited_set_evicts_in_first_insertion_order(self, backend):
        # V = 2. Seeds pop in weight order: 1 (.875), 2 (.75), 3 (.625), 2 (.5), 1 (.375).
        # Visited: {1} {1,2} {2,3} [evict 1] -> 2 skipped -> {3,1} [evict 2] -> later node 0:
        # {1,0} [evict 3], then its other two entries are skipped.
        # Nodes 1 and 2 feed 0 with weight 1/16 and decay 0.5, contribution = c / 32.
        edges = [(1, 0, 1 / 16), (2, 0, 1 / 16)]
        seeds, weights = [1, 2, 3, 2, 1], [0.875, 0.75, 0.625, 0.5, 0.375]
        capped = run(edges, 4, seeds, weights, visited_cap=2, backend=backend)
        check(capped, [0, 1, 2, 3], [(0.875 + 0.75 + 0.375) / 32, 1.25, 1.25, 0.625],
              metrics_with(pops=8, iters=1, propagations=3, visited_evicted=3,
                           _max_delta_local=0.875))
        uncapped = run(edges, 4, seeds, weights, backend=backend)
        check(uncapped, [0, 1, 2, 3], [(0.875 + 0.75 + 0.5 + 0.375) / 32, 1.25, 1.25, 0.625],
              metrics_with(pops=9, iters=1, propagations=4, _max_delta_local=0.875))

    def test_visited_membership_check_does_not_refresh(self, backend):
        # V = 2: 1, 2 visited; 1 popped again (skipped, not refreshed); 3 evicts 1, the oldest.
        seeds, weights = [1, 2, 1, 3, 1], [0.9, 0.8, 0.7, 0.6, 0.5]
        result = run([], 4, seeds, weights, visited_cap=2, backend=backend)
        _, _, metrics = result
        # the last pop of 1 is a new insertion again (1 was evicted by 3): evicts 2
        assert (metrics["pops"], metrics["visited_evicted"]) == (5, 2)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (dict(frontier_cap=-1), ValueError, "frontier_cap must be >= 0"),
        (dict(visited_cap=-2), ValueError, "visited_cap must be >= 0"),
        (dict(dedupe_window=-1), ValueError, "dedupe_window must be >= 0"),
        (dict(queue_budget=-1), ValueError, "queue_budget must be >= 0"),
        (dict(relax_cap=-5), ValueError, "relax_cap must be >= 0"),
        (dict(radius_cap=-1), ValueError, "radius_cap must be >= 0"),
        (dict(iter_cap_layers=1.5), TypeError, "iter_cap_layers must be an integer"),
        (dict(node_budget=0.0), ValueError, "node_budget must be > 0"),
        (dict(node_budget=1e-50), ValueError, "node_budget must be > 0"),
        (dict(node_budget=float("nan")), ValueError, "node_budget must be finite"),
        (dict(rate=1.5), ValueError, "rate must be in [0, 1]"),
        (dict(floor=-0.1), ValueError, "floor must be in [0, 1]"),
        (dict(rate=float("inf")), ValueError, "rate must be finite"),
        (dict(rate="0.5"), TypeError, "rate must be a real number"),
    ],
)
def test_bad_parameters_are_rejected_with_the_same_message(backend, kwargs, error, message):
    with pytest.raises(error, match=message.replace("[", r"\[").replace("]", r"\]")):
        run([(0, 1, 1.0)], 2, [0], backend=backend, **kwargs)
