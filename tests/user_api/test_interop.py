"""ConceptGraph from and to pandas and networkx; from_csr's relation order for non-CSR input."""

from __future__ import annotations

import builtins

import numpy as np
import pytest
import scipy.sparse as sp

import clematis
from clematis import ConceptGraph

pd = pytest.importorskip("pandas")
nx = pytest.importorskip("networkx")

EDGES = [("a", "b", 0.9, "supports"), ("a", "c", 0.4, "associates"), ("b", "c", 0.7, "contradicts"),
         ("c", "a", 0.2, "supports"), ("a", "b", 0.3, "associates")]  # a -> b twice


def same_graph(g: ConceptGraph, h: ConceptGraph) -> bool:
    return (all(np.array_equal(getattr(g.arrays, k), getattr(h.arrays, k)) for k in vars(g.arrays))
            and g.node_ids == h.node_ids and g.labels == h.labels and g.relations == h.relations
            and g.relation_multipliers == h.relation_multipliers)


def relation_of_each_entry(g: ConceptGraph) -> list:
    return [tuple(row) for row in g.to_pandas().itertuples(index=False)]


def edge_frame() -> pd.DataFrame:
    return pd.DataFrame(EDGES, columns=["src", "dst", "weight", "relation"])


def test_from_pandas_equals_from_edges_and_keeps_duplicates_in_row_order():
    g = ConceptGraph.from_pandas(edge_frame(), labels={"a": "Apple", "c": "Cherry"})
    assert same_graph(g, ConceptGraph.from_edges(EDGES, labels={"a": "Apple", "c": "Cherry"}))
    assert g.n_edges == 5 and g.labels == ["Apple", "b", "Cherry"]
    row_a = g.arrays.weights[g.arrays.indptr[0]:g.arrays.indptr[1]]
    np.testing.assert_array_equal(row_a, np.float32([0.9, 0.4, 0.3]))  # not summed, input order


def test_from_pandas_column_names_defaults_and_labels_series():
    df = pd.DataFrame({"from": ["x", "y"], "to": ["y", "z"]})
    labels = pd.Series({"x": "ex", "z": "zed"})
    g = ConceptGraph.from_pandas(df, source="from", target="to", weight=None, relation=None, labels=labels)
    assert g.arrays.weights.tolist() == [1.0, 1.0] and g.relations == ["supports"]
    assert g.labels == ["ex", "y", "zed"]


@pytest.mark.parametrize("columns, error, match", [
    ({"src": ["a"], "dst": ["b"], "weight": ["0.9"], "relation": ["supports"]}, TypeError,
     "weight column 'weight' must be numeric"),
    ({"src": [1], "dst": [2], "weight": [0.5], "relation": ["supports"]}, TypeError,
     r"node ids must be strings.*astype\(str\)"),
    ({"source": ["a"], "dst": ["b"], "weight": [0.5], "relation": ["supports"]}, ValueError,
     "source='src' is not a column of df"),
    ({"src": ["a"], "dst": ["b"], "weight": [0.5], "relation": ["likes"]}, ValueError, "likes"),
])
def test_from_pandas_refuses_bad_frames(columns, error, match):
    with pytest.raises(error, match=match):
        ConceptGraph.from_pandas(pd.DataFrame(columns))


def test_pandas_round_trip(demo_graph):
    df = demo_graph.to_pandas()
    assert list(df.columns) == ["src", "dst", "weight", "relation"] and len(df) == demo_graph.n_edges
    back = ConceptGraph.from_pandas(df, labels=dict(zip(demo_graph.node_ids, demo_graph.labels, strict=True)),
                                    nodes=demo_graph.node_ids)
    assert same_graph(back, demo_graph)


def test_networkx_round_trip_digraph(demo_graph):
    G = demo_graph.to_networkx()
    assert isinstance(G, nx.DiGraph) and not G.is_multigraph()
    assert G.number_of_nodes() == demo_graph.n_nodes and G.number_of_edges() == demo_graph.n_edges
    assert G.nodes["garden:clematis"]["label"] == "clematis"
    assert same_graph(ConceptGraph.from_networkx(G), demo_graph)


def test_networkx_parallel_edges_need_a_multigraph():
    g = ConceptGraph.from_edges(EDGES)
    with pytest.raises(ValueError, match="multigraph=True"):
        g.to_networkx()
    G = g.to_networkx(multigraph=True)
    assert G.number_of_edges("a", "b") == 2
    back = ConceptGraph.from_networkx(G)  # a MultiDiGraph groups parallel edges: a->b, a->b, a->c
    assert back.n_edges == 5 and back.arrays.indices[:3].tolist() == [1, 1, 2]
    assert sorted(relation_of_each_entry(back)) == sorted(relation_of_each_entry(g))


def test_from_networkx_defaults_and_custom_relations():
    G = nx.DiGraph()
    G.add_node("x", name="Ex")
    G.add_edge("x", "y")
    G.add_edge("y", "x", w=0.25, kind="likes")
    g = ConceptGraph.from_networkx(G, weight="w", relation="kind", label="name",
                                   relation_multipliers={"likes": 0.5})
    assert g.labels == ["Ex", "y"] and g.arrays.weights.tolist() == [1.0, 0.25]
    assert [g.relations[c] for c in g.arrays.rel_code] == ["supports", "likes"]
    assert g.relation_multipliers["likes"] == 0.5


@pytest.mark.parametrize("kind, edges, match", [
    ("Graph", [("a", "b")], r"undirected Graph: pass G.to_directed\(\)"),
    ("DiGraph", [(1, 2)], "node ids must be strings"),
    ("DiGraph", [("a", "b", {"weight": "0.9"})], "a weight must be a real number"),
    ("DiGraph", [("a", "b", {"relation": 3})], "must be a name"),
])
def test_from_networkx_refuses_bad_graphs(kind, edges, match):
    with pytest.raises(TypeError, match=match):
        ConceptGraph.from_networkx(getattr(nx, kind)(edges))


def test_a_networkx_graph_passed_to_propagate_points_to_from_networkx():
    with pytest.raises(TypeError, match=r"got DiGraph; build one with ConceptGraph.from_networkx"):
        clematis.propagate(nx.DiGraph([("a", "b")]), ["a"])
    with pytest.raises(TypeError, match=r"from_pandas"):
        clematis.propagate_many(edge_frame(), [["a"]])


def test_missing_optional_dependency_names_the_extra(monkeypatch):
    real_import = builtins.__import__

    def no_pandas(name, *args, **kwargs):
        if name == "pandas":
            raise ImportError("No module named 'pandas'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pandas)
    monkeypatch.delitem(__import__("sys").modules, "pandas")
    with pytest.raises(ImportError, match=r"pip install 'clematis\[pandas\]'"):
        ConceptGraph.from_edges(EDGES).to_pandas()


# ---- from_csr: which order rel_code follows -----------------------------------------------

def coo_input():
    """COO entries written out of row order, with one relation per entry as the user wrote them."""
    row, col = np.array([1, 0, 1, 0]), np.array([0, 2, 2, 1])
    data = np.float32([0.5, 0.25, 0.75, 0.125])
    return sp.coo_array((data, (row, col)), shape=(3, 3)), np.array([2, 1, 0, 2], dtype=np.int32)


def relation_of_each_edge(g: ConceptGraph) -> dict:
    rows = np.repeat(np.arange(g.n_nodes), np.diff(g.arrays.indptr))
    return {(int(u), int(v)): (float(w), int(r)) for u, v, w, r in
            zip(rows, g.arrays.indices, g.arrays.weights, g.arrays.rel_code, strict=True)}


def test_from_csr_input_order_keeps_each_entry_with_its_relation():
    coo, codes = coo_input()
    g = ConceptGraph.from_csr(coo, rel_code=codes, rel_code_order="input")
    assert relation_of_each_edge(g) == {(1, 0): (0.5, 2), (0, 2): (0.25, 1), (1, 2): (0.75, 0),
                                        (0, 1): (0.125, 2)}
    assert g.arrays.indices.tolist() == [2, 1, 0, 2]  # each row in input order


def test_from_csr_refuses_a_positional_rel_code_on_coo():
    coo, codes = coo_input()
    with pytest.raises(ValueError, match="rel_code for a COO matrix is ambiguous: pass rel_code_order"):
        ConceptGraph.from_csr(coo, rel_code=codes)
    csr_order = ConceptGraph.from_csr(coo, rel_code=codes, rel_code_order="csr")
    assert csr_order.arrays.rel_code.tolist() == codes.tolist()  # read after SciPy's conversion


def test_from_csr_keeps_csr_meaning_and_refuses_silent_sums():
    coo, codes = coo_input()
    csr = coo.tocsr()
    g = ConceptGraph.from_csr(csr, rel_code=codes)
    assert g.arrays.rel_code.tolist() == codes.tolist()
    duplicated = sp.coo_array((np.float32([0.5, 0.25]), (np.array([0, 0]), np.array([1, 1]))), shape=(2, 2))
    with pytest.raises(ValueError, match="duplicate entries, which converting to CSR would sum"):
        ConceptGraph.from_csr(duplicated)
    kept = ConceptGraph.from_csr(duplicated, rel_code_order="input")
    assert kept.arrays.weights.tolist() == [0.5, 0.25]
    with pytest.raises(ValueError, match="rel_code_order must be"):
        ConceptGraph.from_csr(coo, rel_code=codes, rel_code_order="row")
