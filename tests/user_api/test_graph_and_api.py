"""ConceptGraph construction, persistence, and the high-level propagate / T1Result API."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import scipy.sparse as sp
from helpers import identical, smoke_graph

import clematis
from clematis import ConceptGraph
from clematis._kernel_calls import workspaces_for
from clematis.graph import key_rank_of
from clematis.seeding import seeds_from_text

EDGES = [
    ("rose", "thorn", 0.5, "associates"),
    ("rose", "garden", 1.0, "supports"),
    ("garden", "rose", 0.75, "supports"),
    ("thorn", "pain", 0.5, "contradicts"),
]


def small_graph():
    return ConceptGraph.from_edges(EDGES, labels={"rose": "Rose", "garden": "Garden"})


class TestConstruction:
    def test_from_edges_numbers_nodes_by_first_appearance_and_keeps_row_order(self):
        g = small_graph()
        assert g.node_ids == ["rose", "thorn", "garden", "pain"]
        np.testing.assert_array_equal(g.arrays.indptr, [0, 2, 3, 4, 4])
        np.testing.assert_array_equal(g.arrays.indices, [1, 2, 3, 0])
        np.testing.assert_array_equal(g.arrays.weights, np.float32([0.5, 1.0, 0.5, 0.75]))
        np.testing.assert_array_equal(g.arrays.rel_mult, np.float32([0.6, 1.0, 0.8, 1.0]))
        assert g.labels == ["Rose", "thorn", "Garden", "pain"]

    def test_key_rank_is_the_lexicographic_rank_of_ids(self):
        # ids rose, thorn, garden, pain sort as garden, pain, rose, thorn
        np.testing.assert_array_equal(small_graph().arrays.key_rank, [2, 3, 0, 1])
        # "B" < "a" < "ab" < "b" (code point order)
        np.testing.assert_array_equal(key_rank_of(["b", "B", "a", "ab"], 4), [3, 0, 1, 2])
        np.testing.assert_array_equal(key_rank_of(None, 3), [0, 1, 2])

    @pytest.mark.parametrize("kind", [sp.csr_matrix, sp.csr_array, sp.coo_array, sp.lil_matrix])
    def test_from_csr_takes_any_scipy_sparse(self, kind):
        dense = np.array([[0, 1.0, 0.5], [0, 0, 1.0], [0.25, 0, 0]])
        g = ConceptGraph.from_csr(kind(dense))
        np.testing.assert_array_equal(g.matrix.toarray(), dense.astype(np.float32))
        assert g.node_ids is None and g.node_id(2) == 2

    def test_from_csr_keeps_int64_indices(self):
        m = sp.csr_array(np.eye(3))
        m.indices, m.indptr = m.indices.astype(np.int64), m.indptr.astype(np.int64)
        g = ConceptGraph.from_csr(m)
        assert g.arrays.indices.dtype == np.int64
        assert clematis.propagate(g, [0]).nodes.dtype == np.int64

    def test_graph_owns_read_only_arrays(self):
        m = sp.csr_array(np.eye(3, dtype=np.float32))
        g = ConceptGraph.from_csr(m)
        assert not np.shares_memory(g.arrays.weights, m.data)
        with pytest.raises(ValueError):
            g.arrays.weights[0] = 2.0

    @pytest.mark.parametrize(
        ("kwargs", "error", "message"),
        [
            (dict(matrix=np.eye(2)), TypeError, "matrix must be a SciPy sparse"),
            (dict(matrix=sp.csr_array(np.ones((2, 3)))), ValueError, "matrix must be square"),
            (dict(node_ids=["a", "a"]), ValueError, "node_ids must be unique"),
            (dict(node_ids=["a"]), ValueError, "node_ids must have one id per node"),
            (dict(node_ids=[1, 2]), TypeError, "node_ids must be strings"),
            (dict(labels=["x"]), ValueError, "labels must have one label per node"),
            (dict(relations=["supports", "mentions"]), ValueError,
             "relations ['mentions'] have no multiplier"),
            (dict(rel_code=np.array([0, 5])), ValueError, "rel_code values must index relations"),
            (dict(rel_code=np.array([0])), ValueError, "rel_code must have one entry per stored edge"),
        ],
    )
    def test_bad_construction_is_rejected(self, kwargs, error, message):
        args = {"matrix": sp.csr_array(np.eye(2)), **kwargs}
        with pytest.raises(error, match=message.replace("[", r"\[").replace("]", r"\]")):
            ConceptGraph.from_csr(args.pop("matrix"), **args)

    def test_unknown_relation_in_edges_is_rejected_unless_given_a_multiplier(self):
        with pytest.raises(ValueError, match=r"edges\[0\]: unknown relation 'mentions'"):
            ConceptGraph.from_edges([("a", "b", 1.0, "mentions")])
        g = ConceptGraph.from_edges([("a", "b", 1.0, "mentions")], relation_multipliers={"mentions": 0.3})
        np.testing.assert_array_equal(g.arrays.rel_mult, np.float32([0.3]))

    def test_save_and_load_round_trip(self, tmp_path):
        g = small_graph()
        path = tmp_path / "g.npz"
        g.save(path)
        back = ConceptGraph.load(path)
        for name in ("indptr", "indices", "weights", "rel_code", "rel_mult", "key_rank"):
            np.testing.assert_array_equal(getattr(back.arrays, name), getattr(g.arrays, name))
        assert (back.node_ids, back.labels, back.relations) == (g.node_ids, g.labels, g.relations)
        assert sp.load_npz(path).shape == (4, 4)  # the matrix part is SciPy's own format

    def test_corrupt_file_is_a_clear_error(self, tmp_path):
        path = tmp_path / "bad.npz"
        path.write_bytes(b"not a graph")
        with pytest.raises(ValueError, match="not a readable clematis graph"):
            ConceptGraph.load(path)


class TestPropagate:
    def test_seeds_by_id_or_index_give_the_same_result(self):
        g = small_graph()
        by_id = clematis.propagate(g, ["rose"], [1.0])
        by_index = clematis.propagate(g, [0])
        assert identical((by_id.nodes, by_id.values, by_id.metrics),
                         (by_index.nodes, by_index.values, by_index.metrics))

    @pytest.mark.native
    def test_result_helpers(self):
        g = small_graph()
        r = clematis.propagate(g, ["rose"])
        assert r.to_dict() == {g.node_ids[i]: float(v) for i, v in zip(r.nodes, r.values, strict=True)}
        assert set(r.to_dict()) == {"rose", "thorn", "garden", "pain"}
        top = r.top(10)
        assert [t[2] for t in top] == sorted(r.values.tolist(), reverse=True)
        assert top[0][:2] == ("rose", "Rose")  # the seed keeps the largest activation
        assert len(r) == 4 and r.backend == "native"

    def test_top_breaks_value_ties_by_id_order(self):
        g = ConceptGraph.from_edges([("s", "b", 1.0, "supports"), ("s", "a", 1.0, "supports")])
        assert [t[0] for t in clematis.propagate(g, ["s"]).top(3)] == ["s", "a", "b"]

    @pytest.mark.parametrize(
        ("seeds", "error", "message"),
        [
            (["nope"], ValueError, r"seed_nodes\[0\]: unknown node id 'nope'"),
            (["rose", 9], ValueError, r"seed_nodes\[1\]: node index 9 is out of range"),
            ("rose", TypeError, "seed_nodes must be a sequence"),
            ([1.5], TypeError, "seed_nodes must hold integers"),
        ],
    )
    def test_bad_seeds(self, seeds, error, message):
        with pytest.raises(error, match=message):
            clematis.propagate(small_graph(), seeds)

    def test_unknown_parameter_is_a_type_error(self):
        with pytest.raises(TypeError, match=r"parameter\(s\) 'radius' \(did you mean 'radius_cap'\?\)"):
            clematis.propagate(small_graph(), [0], radius=3)

    @pytest.mark.parametrize(("params", "message"), [
        ({"alpha": 123}, "alpha does not apply to decay='exp_floor'"),
        ({"decay": "attn_quad", "rate": 5.0}, "rate does not apply to decay='attn_quad'"),
    ])
    def test_decay_parameter_of_another_mode_is_a_type_error(self, params, message):
        with pytest.raises(TypeError, match=message):
            clematis.propagate(small_graph(), [0], **params)

    def test_bad_decay_mode(self):
        with pytest.raises(ValueError, match="decay must be one of exp_floor, attn_quad, got 'linear'"):
            clematis.propagate(small_graph(), [0], decay="linear")

    def test_graph_must_be_a_concept_graph(self):
        with pytest.raises(TypeError, match="graph must be a ConceptGraph"):
            clematis.propagate(sp.csr_array(np.eye(2)), [0])

    def test_no_seeds_is_an_empty_result(self):
        r = clematis.propagate(small_graph(), [])
        assert len(r) == 0 and r.metrics["pops"] == 0


class TestScratchReuse:
    def test_scratch_is_clean_after_every_query(self):
        g = smoke_graph(2000, 12000)
        first = clematis.propagate(g, [7], queue_budget=500)
        clematis.propagate(g, range(40), frontier_cap=50, visited_cap=100, dedupe_window=30)
        again = clematis.propagate(g, [7], queue_budget=500)
        assert identical((first.nodes, first.values, first.metrics),
                         (again.nodes, again.values, again.metrics))

    @pytest.mark.native
    def test_workspaces_are_reused_not_reallocated(self):
        g = smoke_graph(500, 3000)
        clematis.propagate(g, [1])
        with workspaces_for(g.arrays).acquire() as first:
            pass
        clematis.propagate(g, [2])
        with workspaces_for(g.arrays).acquire() as second:
            assert second is first


def test_text_seeding_follows_label_order_and_substrings():
    g = ConceptGraph.from_edges([], nodes=["n1", "n2", "n3", "n4"],
                                labels={"n1": "Pple", "n2": "app", "n3": "", "n4": "APP"})
    nodes, weights = seeds_from_text(g, "An apple a day")
    # lower-cased labels sorted stably: "" (never matches), "app" (n2), "app" (n4), "pple" (n1)
    np.testing.assert_array_equal(nodes, [1, 3, 0])
    np.testing.assert_array_equal(weights, np.ones(3, np.float32))
    assert seeds_from_text(g, "nothing here")[0].size == 0


@pytest.mark.native
def test_kernel_releases_the_gil():
    """While one thread is inside a long native query, another thread keeps running Python."""
    g = smoke_graph()
    plan = clematis.api.Query(g, queue_budget=0)
    nodes, weights = plan.seeds(range(24))
    done = threading.Event()
    worker = threading.Thread(target=lambda: (plan.run_validated(nodes, weights), done.set()))
    steps_during_query = 0
    worker.start()
    while not done.is_set():
        steps_during_query += 1
    worker.join()
    # Holding the GIL for the whole ~1e6-pop query would leave this loop a handful of steps.
    assert steps_during_query > 50_000


def test_seed_mapping_carries_its_weights():
    g = small_graph()
    by_mapping = clematis.propagate(g, {"rose": 0.5, "garden": -0.25})
    explicit = clematis.propagate(g, ["rose", "garden"], [0.5, -0.25])
    assert identical((by_mapping.nodes, by_mapping.values, by_mapping.metrics),
                     (explicit.nodes, explicit.values, explicit.metrics))
    with pytest.raises(TypeError, match="give the weights in the mapping or as seed_weights"):
        clematis.propagate(g, {"rose": 0.5}, [1.0])
