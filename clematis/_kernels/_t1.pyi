"""Typed signatures of the compiled T1 kernel (clematis/_kernels/_t1.pyx)."""

from typing import Self

import numpy as np
import numpy.typing as npt
from typing_extensions import disjoint_base

COUNTERS_DTYPE: np.dtype[np.void]
PARAMS_DTYPE: np.dtype[np.void]
QUEUE_BYTES_KEPT: int

_Index = npt.NDArray[np.int32] | npt.NDArray[np.int64]
# float32 rel_mult per edge, or uint8/uint16 rel_code per edge indexing rel_table
_Rel = npt.NDArray[np.float32] | npt.NDArray[np.uint8] | npt.NDArray[np.uint16]

@disjoint_base
class Workspace:
    """Reusable scratch for queries on graphs of ``n`` nodes; one per thread at a time."""

    def __new__(cls, n: int) -> Self: ...
    @property
    def queue_bytes(self) -> int: ...

def propagate_batch(
    indptr: _Index,
    indices: _Index,
    weights: npt.NDArray[np.float32],
    rel: _Rel,
    rel_table: npt.NDArray[np.float32],
    tie_pos: npt.NDArray[np.int32] | None,
    node_of_pos: npt.NDArray[np.int32] | None,
    seed_ptr: npt.NDArray[np.int64],
    seed_nodes: _Index,
    seed_weights: npt.NDArray[np.float32],
    decay: npt.NDArray[np.float32],
    workspace: Workspace,
    params: npt.NDArray[np.void],
    cancel: npt.NDArray[np.int32] | None = None,
) -> tuple[_Index, npt.NDArray[np.float32], npt.NDArray[np.int64], npt.NDArray[np.void]]: ...

_Counters = tuple[int, int, int, int, int, int, int, int, int, int, float]

@disjoint_base
class CompiledQuery:
    """One graph's arrays, a decay table and a parameter record, held once."""

    def __new__(
        cls,
        indptr: _Index,
        indices: _Index,
        weights: npt.NDArray[np.float32],
        rel: _Rel,
        rel_table: npt.NDArray[np.float32],
        tie_pos: npt.NDArray[np.int32] | None,
        node_of_pos: npt.NDArray[np.int32] | None,
        decay: npt.NDArray[np.float32],
        params: npt.NDArray[np.void],
    ) -> Self: ...
    @property
    def n_nodes(self) -> int: ...
    def run(
        self,
        seed_nodes: _Index,
        seed_weights: npt.NDArray[np.float32],
        workspace: Workspace,
        cancel: npt.NDArray[np.int32] | None = None,
    ) -> tuple[_Index, npt.NDArray[np.float32], _Counters]: ...
    def run_indices(
        self, seed_nodes: list[int], workspace: Workspace, cancel: npt.NDArray[np.int32] | None = None
    ) -> tuple[_Index, npt.NDArray[np.float32], _Counters] | None: ...
    def run_batch(
        self,
        seed_ptr: npt.NDArray[np.int64],
        seed_nodes: _Index,
        seed_weights: npt.NDArray[np.float32],
        workspace: Workspace,
        cancel: npt.NDArray[np.int32] | None = None,
    ) -> tuple[_Index, npt.NDArray[np.float32], npt.NDArray[np.int64], npt.NDArray[np.void]]: ...
