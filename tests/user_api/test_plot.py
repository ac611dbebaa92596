"""T1Result.plot and plot_subgraph, rendered headless (Agg) to PNG."""

from __future__ import annotations

import io

import numpy as np
import pytest

import clematis

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
plt = pytest.importorskip("matplotlib.pyplot")

PNG = b"\x89PNG\r\n\x1a\n"


def render(ax) -> bytes:
    buffer = io.BytesIO()
    ax.figure.savefig(buffer, format="png")
    plt.close(ax.figure)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def result(demo_graph):
    return clematis.propagate(demo_graph, ["garden:clematis", "weather:storm", "garden:compost"])


def test_bar_chart_of_the_top_activations(result):
    ax = result.plot(k=8)
    top = result.top(8)
    bars = ax.patches
    assert len(bars) == 8 and all(bar.get_width() != 0 for bar in bars)
    np.testing.assert_allclose([bar.get_width() for bar in bars], [v for _, _, v in top])
    assert [t.get_text() for t in ax.get_yticklabels()] == [label for _, label, _ in top]
    assert ax.get_xlabel() == "activation" and result.backend in ax.get_title()
    image = render(ax)
    assert image.startswith(PNG) and len(image) > 5000


def test_bar_chart_on_given_axes_and_negative_values_red(demo_graph):
    _, ax = plt.subplots()
    negative = clematis.propagate(demo_graph, {"weather:storm": -1.0})
    assert negative.plot(k=3, ax=ax) is ax
    assert {tuple(bar.get_facecolor()) for bar in ax.patches} == {matplotlib.colors.to_rgba("tab:red")}
    plt.close(ax.figure)


def test_activated_subgraph(result, demo_graph):
    k = 10
    ax = result.plot_subgraph(k=k)
    top = result.top(k)
    texts = {t.get_text() for t in ax.texts}
    assert {label for _, label, _ in top} <= texts
    nodes = [demo_graph.index_of(node) for node, _, _ in top]
    sub = demo_graph.matrix[nodes][:, nodes].tocoo()
    assert len([t for t in ax.texts if t.get_text() == ""]) == int(np.sum(sub.row != sub.col))  # arrows
    assert ax.collections[0].get_offsets().shape == (k, 2)
    assert render(ax).startswith(PNG)
