"""Deterministic JSON artifacts and the staged writes of one run.

Artifacts are JSON with sorted keys and floats written as the ``repr`` of the Python float
(exact for float32 values), so the same data always gives the same bytes. A run writes into a
staging directory inside the dataset and moves its files into place only when every stage
succeeded: a failed run leaves the dataset as it was.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from ..graph import ConceptGraph

ARTIFACTS_DIR = "artifacts"
STATE_DIR = "state"
TIMINGS_DIR = "timings"
STAGING_DIR = ".clematis-staging"


def dumps(obj) -> str:
    """Canonical JSON text: sorted keys, one-space indent, no NaN, trailing newline."""
    return json.dumps(obj, sort_keys=True, indent=1, allow_nan=False) + "\n"


class RunStore:
    """Reads and writes of one run below ``root``; writes are staged until :meth:`commit`."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.staging = self.root / STAGING_DIR
        self.written: list[str] = []
        self._graphs: dict[str, ConceptGraph] = {}
        shutil.rmtree(self.staging, ignore_errors=True)  # leftovers of an interrupted run
        try:
            self.staging.mkdir()
        except OSError as exc:
            raise PermissionError(f"cannot write into dataset {os.fspath(self.root)!r}: "
                                  f"{exc.strerror}") from exc

    def _source(self, rel: str) -> Path:
        staged = self.staging / rel
        return staged if staged.exists() else self.root / rel

    def exists(self, rel: str) -> bool:
        return rel in self._graphs or self._source(rel).exists()

    def read_json(self, rel: str):
        return json.loads(self._source(rel).read_text())

    def write_json(self, rel: str, obj) -> None:
        self._write(rel, dumps(obj).encode())

    def read_graph(self, rel: str) -> ConceptGraph:
        """The graph at ``rel`` (loaded once per run; graphs are read-only)."""
        if rel not in self._graphs:
            self._graphs[rel] = ConceptGraph.load(self._source(rel))
        return self._graphs[rel]

    def forget_graph(self, rel: str) -> None:
        """Drop the cached graph at ``rel`` (no later step reads it)."""
        self._graphs.pop(rel, None)

    def write_graph(self, rel: str, graph: ConceptGraph) -> None:
        self._graphs[rel] = graph
        self.written.append(rel)
        path = self.staging / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        graph.save(path)

    def _write(self, rel: str, data: bytes) -> None:
        self.written.append(rel)
        path = self.staging / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    def commit(self) -> None:
        """Move every staged file into place (each move is atomic) and drop the staging area."""
        for rel in dict.fromkeys(self.written):
            target = self.root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self.staging / rel, target)
        shutil.rmtree(self.staging)

    def discard(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)
