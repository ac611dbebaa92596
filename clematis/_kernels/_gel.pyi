"""Typed signature of the compiled GEL decay (clematis/_kernels/_gel.pyx)."""

import numpy as np
import numpy.typing as npt

def decay(weights: npt.NDArray[np.float32], factor: float, ticks: int) -> npt.NDArray[np.float32]: ...
