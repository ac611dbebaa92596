"""Deterministic JSON artifacts, confined paths and the staged writes of one run.

Artifacts are JSON with sorted keys and floats written as the ``repr`` of the Python float
(exact for float32 values), so the same data always gives the same bytes. A run writes into a
staging directory inside the dataset; :mod:`clematis.runner.commit` makes its files visible all
at once when every step succeeded. Every path read or written resolves inside the dataset: a
symlink that leaves it is refused.
"""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from pathlib import Path

from ..graph import ConceptGraph
from .dataset import BOOKKEEPING_DIR, OUTPUT_DIRS, DatasetError, confined

STAGING_DIR = f"{BOOKKEEPING_DIR}/staging"


def dumps(obj) -> str:
    """Canonical JSON text: sorted keys, one-space indent, no NaN, trailing newline."""
    return json.dumps(obj, sort_keys=True, indent=1, allow_nan=False) + "\n"


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a synced temporary file and a rename."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def files_under(root: Path, rel: str) -> list[str]:
    """Every file (or symlink) below ``root / rel`` as a POSIX path relative to ``root``."""
    top = root / rel
    found = []
    for folder, dirs, files in os.walk(top):
        found += [Path(folder, name).relative_to(root).as_posix() for name in files]
        found += [Path(folder, name).relative_to(root).as_posix() for name in dirs
                  if os.path.islink(os.path.join(folder, name))]
    return sorted(found)


def check_plain_outputs(root: Path) -> None:
    """Refuse a symlink among the output directories or below them (a commit swaps and links
    those trees; it would not know what a link stands for)."""
    for top in OUTPUT_DIRS:
        links = [top] if (root / top).is_symlink() else [rel for rel in files_under(root, top)
                                                         if (root / rel).is_symlink()]
        if links:
            raise DatasetError(f"{os.fspath(root / links[0])} is a symlink; the runner's output directories "
                               f"({', '.join(d + '/' for d in OUTPUT_DIRS)}) hold plain files only")


def load_graph(path: Path, rel: str) -> ConceptGraph:
    """The graph file ``path``; any failure to read it names ``rel``."""
    try:
        return ConceptGraph.load(path)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        message = str(exc) if rel in str(exc) else f"{rel}: not a readable clematis graph ({exc})"
        raise DatasetError(message) from exc


class RunStore:
    """Reads and writes of one run below ``root``; writes are staged for the commit."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.staging = confined(self.root, STAGING_DIR)
        self.written: list[str] = []
        self._graphs: dict[str, ConceptGraph] = {}
        shutil.rmtree(self.staging, ignore_errors=True)
        try:
            self.staging.mkdir(parents=True)
        except OSError as exc:
            raise PermissionError(f"cannot write into dataset {os.fspath(self.root)!r}: "
                                  f"{exc.strerror}") from exc

    def _source(self, rel: str) -> Path:
        staged = self.staging / rel
        return staged if rel in self.written else confined(self.root, rel)

    def read_json(self, rel: str):
        """The JSON document at ``rel``; a malformed one raises DatasetError naming it."""
        try:
            return json.loads(self._source(rel).read_text(encoding="utf-8"))
        except (ValueError, RecursionError) as exc:
            raise DatasetError(f"{rel}: not a readable JSON artifact ({exc})") from exc

    def write_json(self, rel: str, obj) -> None:
        self._write(rel, dumps(obj).encode())

    def read_graph(self, rel: str) -> ConceptGraph:
        """The graph at ``rel`` (loaded once per run; graphs are read-only)."""
        if rel not in self._graphs:
            self._graphs[rel] = load_graph(self._source(rel), rel)
        return self._graphs[rel]

    def forget_graph(self, rel: str) -> None:
        """Drop the cached graph at ``rel`` (no later step reads it)."""
        self._graphs.pop(rel, None)

    def write_graph(self, rel: str, graph: ConceptGraph) -> None:
        self._graphs[rel] = graph
        graph.save(self._target(rel))

    def _target(self, rel: str) -> Path:
        if rel not in self.written:
            self.written.append(rel)
        path = self.staging / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def _write(self, rel: str, data: bytes) -> None:
        self._target(rel).write_bytes(data)

    def discard(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)
