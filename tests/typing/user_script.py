"""A user's script, type-checked by `make lint` (mypy): the public API's types as users see them."""

from typing import assert_type

import numpy as np

import clematis
from clematis.datasets import load_demo_graph

graph = load_demo_graph()
result = clematis.propagate(graph, ["garden:clematis", "weather:storm"], rate=0.5, radius_cap=3)
assert_type(result, clematis.T1Result)
by_text = clematis.propagate(graph, text="storm over the trellis", whole_words=True)
top: list[tuple[str | int, str, float]] = by_text.top(5)
activations: dict = result.to_dict()
values: np.ndarray = result.values
query = clematis.Query(graph, decay="attn_quad", alpha=0.7, queue_budget=5000)
batch = clematis.propagate_many(graph, [["garden:compost"], {"weather:storm": 0.5}], workers=1)
assert_type(batch, list[clematis.T1Result])
turn = clematis.run_turn(graph, "storm and compost")
assert_type(turn.top(3), list[tuple[object, str, float]])
report = clematis.show_config()
print(len(top), len(activations), values.dtype, query.run(["garden:lawn"]).backend, len(batch))
print(report["backend"])
