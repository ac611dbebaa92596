"""The design's stage path; see :mod:`clematis.engine`."""
