"""clematis: deterministic spreading activation (T1) over sparse concept graphs.

Two bit-identical backends: a Cython heap kernel (``native``, the default when compiled) and
the pure-Python reference (``python``).
"""

from . import datasets, t1
from ._backend import NativeUnavailableError
from ._version import __version__
from .api import T1Result, propagate
from .batch import propagate_many
from .config import ConfigError, load_config
from .graph import ConceptGraph
from .info import show_config
from .parity import ParityError
from .stage import TurnResult, run_smoke_turn, run_turn

__all__ = [
    "ConceptGraph",
    "ConfigError",
    "NativeUnavailableError",
    "ParityError",
    "T1Result",
    "TurnResult",
    "datasets",
    "load_config",
    "propagate",
    "propagate_many",
    "run_smoke_turn",
    "run_turn",
    "show_config",
    "t1",
    "__version__",
]
