"""One run per dataset: an OS file lock plus a companion file naming the holder.

The lock is ``DATASET/.clematis/lock`` (``filelock``: ``flock`` on POSIX, ``msvcrt`` on Windows),
so the operating system releases it when its holder dies: a lock left by a killed run is never
held, and the companion ``lock.owner`` file it left behind (pid, host, command) is how the next
run knows it recovered one. A second run fails at once, naming the holder.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
import time
from pathlib import Path

from filelock import FileLock, Timeout

from .artifacts import write_atomic
from .dataset import BOOKKEEPING_DIR, confined

LOCK_FILE = f"{BOOKKEEPING_DIR}/lock"
OWNER_FILE = f"{BOOKKEEPING_DIR}/lock.owner"


class DatasetBusyError(RuntimeError):
    """Another process holds the dataset's lock."""


class DatasetLock:
    """The run lock of the dataset at ``root``, re-entrant within one process.

    ``stale_owner`` is the holder a killed run left in the companion file (None when the last
    holder released the lock cleanly).
    """

    _held: dict[Path, tuple[FileLock, int]] = {}
    _guard = threading.Lock()

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root).resolve()
        self.stale_owner: dict | None = None

    def __enter__(self) -> DatasetLock:
        with self._guard:
            held = self._held.get(self.root)
            if held is not None:
                self._held[self.root] = (held[0], held[1] + 1)
                return self
            lock = FileLock(self.root / LOCK_FILE, timeout=0)
            confined(self.root, BOOKKEEPING_DIR).mkdir(exist_ok=True)
            try:
                lock.acquire()
            except Timeout:
                raise DatasetBusyError(f"dataset {os.fspath(self.root)!r} is in use by another "
                                       f"clematis-native run ({describe(read_owner(self.root))}); "
                                       "wait for it to finish") from None
            self.stale_owner = read_owner(self.root)
            write_atomic(self.root / OWNER_FILE, json.dumps({
                "pid": os.getpid(), "host": socket.gethostname(), "started": time.time(),
                "command": " ".join(sys.argv)}).encode())
            self._held[self.root] = (lock, 1)
        return self

    def __exit__(self, *exc_info) -> None:
        with self._guard:
            lock, count = self._held[self.root]
            if count > 1:
                self._held[self.root] = (lock, count - 1)
                return
            del self._held[self.root]
            (self.root / OWNER_FILE).unlink(missing_ok=True)
            lock.release()


def read_owner(root: Path) -> dict | None:
    """The holder recorded in the companion file, or None."""
    try:
        owner = json.loads((root / OWNER_FILE).read_text())
    except (OSError, ValueError):
        return None
    return owner if isinstance(owner, dict) else None


def describe(owner: dict | None) -> str:
    if owner is None:
        return "holder unknown"
    return f"pid {owner.get('pid')} on host {owner.get('host')}: {owner.get('command', '?')}"
