"""Native (compiled) backends; see :mod:`clematis.native.t1`."""
