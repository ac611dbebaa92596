"""All-or-nothing commits of a run's outputs, with a journal and a run manifest.

A commit builds the complete next output tree beside the current one, in
``.clematis/next/{artifacts,state,timings}`` (the run's new files, plus the current files it
keeps, hard-linked), then writes the journal ``.clematis/journal.json``: that write is the
commit point. It then swaps each output directory with two renames (current to
``.clematis/prev/``, next into place), installs the new manifest and deletes the journal.

:func:`recover`, run at the start of every run under the dataset lock, finishes a commit whose
journal exists (roll forward) and discards a next tree that has none (roll back), so a process
killed at any instant leaves the dataset wholly as before or wholly as after the run.

The fault-injection hook ``CLEMATIS_RUNNER_FAULT_AT=k`` ends the process with ``os._exit`` at
the k-th step of a commit (tests use it to prove the claim above for every k).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from pathlib import Path

from .artifacts import STAGING_DIR, files_under, write_atomic
from .dataset import BOOKKEEPING_DIR, OUTPUT_DIRS, DatasetError

JOURNAL_FILE = f"{BOOKKEEPING_DIR}/journal.json"
MANIFEST_FILE = f"{BOOKKEEPING_DIR}/manifest.json"
NEXT_DIR = f"{BOOKKEEPING_DIR}/next"
PREV_DIR = f"{BOOKKEEPING_DIR}/prev"
MANIFEST_FORMAT = "clematis.runner.manifest"
MANIFEST_VERSION = 1
FAULT_ENV = "CLEMATIS_RUNNER_FAULT_AT"
FAULT_EXIT_STATUS = 70


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_manifest(root: Path) -> dict:
    """The manifest of the last committed run (empty outputs and inputs when there is none)."""
    path = root / MANIFEST_FILE
    if not path.exists():
        return {"outputs": {}, "inputs": {}}
    try:
        manifest = json.loads(path.read_text())
        if manifest.get("format") != MANIFEST_FORMAT or not isinstance(manifest.get("outputs"), dict):
            raise ValueError(f"not a {MANIFEST_FORMAT} file")
    except (ValueError, AttributeError) as exc:
        raise DatasetError(f"{path}: unreadable run manifest ({exc}); delete it to start afresh") from exc
    return manifest


def pending_commit(root: Path) -> bool:
    """True when a commit was interrupted after its commit point (recover() will finish it)."""
    return (root / JOURNAL_FILE).exists()


class FaultPoints:
    """Counts the steps of a commit; ends the process at step ``CLEMATIS_RUNNER_FAULT_AT``."""

    def __init__(self) -> None:
        value = os.environ.get(FAULT_ENV)
        try:
            self.at = None if value in (None, "") else int(value)
        except ValueError:
            raise ValueError(f"{FAULT_ENV} must be an integer step number, got {value!r}") from None
        self.count = 0

    def __call__(self) -> None:
        self.count += 1
        if self.count == self.at:
            os._exit(FAULT_EXIT_STATUS)


def _keep(root: Path, rel: str, next_root: Path) -> None:
    """Put the current file ``rel`` into the next tree (hard link, else a copy)."""
    src, dst = root / rel, next_root / rel
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def commit(root: Path, written: list[str], dropped: set[str], manifest: dict) -> None:
    """Make the staged files ``written`` current, remove the outputs ``dropped`` and install
    ``manifest``, all at once (see the module docstring)."""
    fault = FaultPoints()
    next_root, staging = root / NEXT_DIR, root / STAGING_DIR
    shutil.rmtree(next_root, ignore_errors=True)
    next_root.mkdir(parents=True)
    replaced = set(written) | dropped
    for top in OUTPUT_DIRS:
        for rel in files_under(root, top):
            if rel not in replaced:
                fault()
                _keep(root, rel, next_root)
    for rel in written:
        fault()
        (next_root / rel).parent.mkdir(parents=True, exist_ok=True)
        os.replace(staging / rel, next_root / rel)
    fault()
    write_atomic(next_root / "manifest.json", json.dumps(manifest, indent=1, sort_keys=True).encode())
    dirs = [top for top in OUTPUT_DIRS if (next_root / top).exists() or (root / top).exists()]
    for top in dirs:
        (next_root / top).mkdir(exist_ok=True)
    fault()
    write_atomic(root / JOURNAL_FILE, json.dumps({"dirs": dirs, "written": time.time()}).encode())
    _finish(root, dirs, fault)


def _finish(root: Path, dirs: list[str], fault) -> None:
    """The swap after the commit point; every step can be redone after an interruption."""
    next_root, prev_root = root / NEXT_DIR, root / PREV_DIR
    prev_root.mkdir(exist_ok=True)
    for top in dirs:
        if not (next_root / top).exists():
            continue  # swapped already
        if (root / top).exists() or (root / top).is_symlink():
            fault()
            os.replace(root / top, prev_root / top)
        fault()
        os.replace(next_root / top, root / top)
    if (next_root / "manifest.json").exists():
        fault()
        os.replace(next_root / "manifest.json", root / MANIFEST_FILE)
    fault()
    (root / JOURNAL_FILE).unlink()
    fault()
    _clean(root)


def _clean(root: Path) -> None:
    for rel in (NEXT_DIR, PREV_DIR, STAGING_DIR):
        shutil.rmtree(root / rel, ignore_errors=True)


def recover(root: Path) -> str | None:
    """Finish (journal present) or undo (no journal) an interrupted commit; call it under the
    dataset lock. Returns what was done (``"completed"``, ``"rolled back"``) or None."""
    if pending_commit(root):
        try:
            dirs = json.loads((root / JOURNAL_FILE).read_text())["dirs"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise DatasetError(f"{root / JOURNAL_FILE}: unreadable commit journal ({exc})") from exc
        _finish(root, [d for d in dirs if d in OUTPUT_DIRS], lambda: None)
        return "completed"
    if any((root / rel).exists() for rel in (NEXT_DIR, PREV_DIR)):
        _clean(root)
        return "rolled back"
    _clean(root)
    return None
