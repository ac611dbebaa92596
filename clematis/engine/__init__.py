"""The design's compatibility facade (``native_t1_design.md``): the import paths its examples use.

- :func:`clematis.engine.orchestrator.core.run_smoke_turn`, the "Programmatic smoke" example;
- :func:`clematis.engine.stages.t1._t1_one_graph_dispatch`, the design's dispatcher.

Both only translate the design's shapes onto the layers below (docs/architecture.md, layer 4):
they compute nothing of their own. The design's snippets that name the Rust module
``clematis.native._t1_rs`` (the wheel checks, ``find_spec("clematis.native._t1_rs")``) stay
Rust-specific: clematis's kernel is ``clematis._kernels._t1``, and ``clematis.native.t1.available()``
answers for it.
"""
