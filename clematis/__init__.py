"""clematis: deterministic spreading activation (T1) over sparse concept graphs.

Two bit-identical backends: a Cython heap kernel (``native``, the default when compiled) and
the pure-Python reference (``python``).
"""

from . import datasets, t1
from .api import T1Result, propagate
from .batch import propagate_many
from .graph import ConceptGraph

__version__ = "0.1.0"

__all__ = ["ConceptGraph", "T1Result", "datasets", "propagate", "propagate_many", "t1", "__version__"]
