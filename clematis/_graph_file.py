"""The graph file (one ``.npz``): atomic writing, and reading that checks before it allocates.

A graph file is a zip of ``.npy`` members. Reading parses each member's ``.npy`` header first
and checks the declared dtypes and shapes against each other, against the zip's own sizes and
against the caller's limits; only then is any array data decompressed (docs/api.md, "Graph
files").
"""

from __future__ import annotations

import contextlib
import math
import os
import secrets
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

from ._validation import excerpt

LOAD_MAX_NODES = 200_000_000  # default limits of ConceptGraph.load: room for 100 M-edge graphs
LOAD_MAX_EDGES = 1_000_000_000
MAX_COMPRESSION_RATIO = 100  # a deflated member may expand at most this much ...
RATIO_FREE_BYTES = 1 << 20  # ... once it holds more than 1 MiB (small members compress freely)
MAX_FORMAT_CHARS = 16

# member name -> (accepted dtype kinds, number of dimensions)
MEMBER_LAYOUT = {
    "format": ("U", 0),
    "shape": ("iu", 1),
    "indptr": ("iu", 1),
    "indices": ("iu", 1),
    "data": ("f", 1),
    "rel_code": ("iu", 1),
    "clematis_meta": ("U", 0),
}
_KIND_NAMES = {"U": "a string", "iu": "integers", "f": "floats"}
_HEADER_READERS = {
    (1, 0): np.lib.format.read_array_header_1_0,
    (2, 0): np.lib.format.read_array_header_2_0,
}


def write_atomically(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> None:
    """Call ``write`` on a new temporary file beside ``path``, flush and fsync it, then rename it
    over ``path`` (a symlink is followed). If anything fails, ``path`` is left as it was."""
    target = os.path.realpath(path)
    folder, name = os.path.split(target)
    temporary = os.path.join(folder, f".{name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    if hasattr(os, "O_DIRECTORY"):  # POSIX: make the rename itself durable
        dir_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


@dataclass(frozen=True)
class _Member:
    """One ``.npy`` member whose header has been checked against the zip's sizes."""

    name: str
    info: zipfile.ZipInfo
    shape: tuple[int, ...]
    dtype: np.dtype


def read_graph_members(archive: zipfile.ZipFile, file_size: int, *, max_nodes: int,
                       max_edges: int) -> tuple[int, dict[str, np.ndarray]]:
    """``(n, arrays)``: the node count and the ``indptr``, ``indices``, ``data``, ``rel_code``
    and ``clematis_meta`` arrays of a graph file, each checked before it is decompressed.
    Raises ValueError saying what is wrong."""
    members = {name: _checked_header(archive, name, file_size) for name in MEMBER_LAYOUT}
    if members["format"].dtype.itemsize > 4 * MAX_FORMAT_CHARS:
        raise ValueError(f"format.npy holds a {members['format'].dtype.itemsize}-byte string; "
                         f"expected 'csr'")
    fmt = str(_read(archive, members["format"])[()])
    if fmt != "csr":
        raise ValueError(f"format is {excerpt(fmt)}, expected 'csr'")
    if members["shape"].shape != (2,):
        raise ValueError(f"shape.npy has shape {members['shape'].shape}, expected (2,)")
    rows, cols = (int(x) for x in _read(archive, members["shape"]))
    if rows != cols or rows < 0:
        raise ValueError(f"the matrix shape ({rows}, {cols}) is not square")
    n, m = rows, members["indices"].shape[0]
    if n > max_nodes:
        raise ValueError(f"the graph has {n} nodes, more than max_nodes={max_nodes}")
    if m > max_edges:
        raise ValueError(f"the graph has {m} edges, more than max_edges={max_edges}")
    for name, expected in (("indptr", (n + 1,)), ("data", (m,)), ("rel_code", (m,))):
        if members[name].shape != expected:
            raise ValueError(f"{name}.npy has shape {members[name].shape}, expected {expected} "
                             f"for {n} nodes and {m} edges")
    return n, {name: _read(archive, members[name])
               for name in ("indptr", "indices", "data", "rel_code", "clematis_meta")}


def _checked_header(archive: zipfile.ZipFile, name: str, file_size: int) -> _Member:
    """The member's zip entry and ``.npy`` header, refused when they disagree with each other or
    with the file (reads only the header's few bytes)."""
    member = f"{name}.npy"
    try:
        info = archive.getinfo(member)
    except KeyError:
        raise ValueError(f"{member} is missing") from None
    if info.flag_bits & 0x1:
        raise ValueError(f"{member} is encrypted")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise ValueError(f"{member} uses zip compression method {info.compress_type}; "
                         f"only stored and deflated members are read")
    if info.header_offset + info.compress_size > file_size:
        raise ValueError(f"{member} declares {info.compress_size} compressed bytes at offset "
                         f"{info.header_offset}, beyond the end of the file ({file_size} bytes)")
    if info.compress_type == zipfile.ZIP_STORED and info.compress_size != info.file_size:
        raise ValueError(f"{member} is stored uncompressed but declares {info.compress_size} "
                         f"stored and {info.file_size} uncompressed bytes")
    if info.file_size > max(RATIO_FREE_BYTES, MAX_COMPRESSION_RATIO * info.compress_size):
        raise ValueError(f"{member} would expand {info.file_size} bytes from {info.compress_size} "
                         f"(more than {MAX_COMPRESSION_RATIO}-fold)")
    with archive.open(info) as fh:
        version = np.lib.format.read_magic(fh)
        if version not in _HEADER_READERS:
            raise ValueError(f"{member} is .npy format version {version}; expected 1.0 or 2.0")
        shape, _, dtype = _HEADER_READERS[version](fh)
        header_bytes = fh.tell()
    kinds, ndim = MEMBER_LAYOUT[name]
    if dtype.kind not in kinds or dtype.hasobject or (dtype.kind != "U" and dtype.itemsize > 8):
        raise ValueError(f"{member} holds dtype {dtype}; expected {_KIND_NAMES[kinds]}")
    if len(shape) != ndim:
        raise ValueError(f"{member} has shape {shape}; expected {ndim} dimension(s)")
    declared = header_bytes + math.prod(shape) * dtype.itemsize
    if declared != info.file_size:
        raise ValueError(f"{member} declares shape {shape} of {dtype} ({declared} bytes with its "
                         f"header) but the zip entry holds {info.file_size} bytes")
    return _Member(name, info, shape, dtype)


def _read(archive: zipfile.ZipFile, member: _Member) -> np.ndarray:
    with archive.open(member.info) as fh:
        array = np.lib.format.read_array(fh, allow_pickle=False)
        fh.read()  # reaching the end of the entry verifies its CRC-32
    return array
