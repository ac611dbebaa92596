"""The design's orchestrator path; see :mod:`clematis.engine`."""
