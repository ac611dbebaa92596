"""The design's ``from clematis.engine.orchestrator.core import run_smoke_turn``.

``run_smoke_turn(cfg, log_dir=...)`` is :func:`clematis.run_smoke_turn`: one turn of the demo
text on the packaged demo graph through the dispatcher, ``cfg`` a config mapping or path as
:func:`clematis.load_config` reads it (the design's ``backend: rust`` means native). With
``log_dir`` the turn's metrics, with ``native_t1`` counters, go to ``log_dir/turn.jsonl``.
"""

from clematis.stage import run_smoke_turn

__all__ = ["run_smoke_turn"]
