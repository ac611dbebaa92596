"""What differs by platform, in one place (docs/architecture.md)."""

from __future__ import annotations

import os


def available_cpus() -> int:
    """CPUs this process may run on: its affinity mask where the OS has one (Linux), else
    ``os.process_cpu_count()`` (Python 3.13+) or ``os.cpu_count()``; at least 1."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    counter = getattr(os, "process_cpu_count", os.cpu_count)
    return max(1, counter() or 1)


ENV_PUREPYTHON = "CLEMATIS_PUREPYTHON"
TRUE_WORDS = ("1", "true", "yes", "on")
FALSE_WORDS = ("0", "false", "no", "off")


def env_flag(name: str) -> bool | None:
    """A boolean environment variable: ``1/true/yes/on`` -> True, ``0/false/no/off`` -> False
    (any case), unset or empty -> None; anything else is a ValueError naming the variable."""
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return None
    if value in TRUE_WORDS:
        return True
    if value in FALSE_WORDS:
        return False
    raise ValueError(f"environment variable {name} must be one of "
                     f"{'/'.join(TRUE_WORDS + FALSE_WORDS)}, got {os.environ[name]!r}")
