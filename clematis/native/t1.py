"""Availability of the compiled T1 kernel (``clematis._kernels._t1``)."""

from __future__ import annotations

from .. import _backend


def available() -> bool:
    """True iff the compiled T1 kernel imports."""
    return _backend.native_available()


def unavailable_reason() -> str | None:
    """Why the compiled kernel did not import, or None when it did."""
    return _backend.import_error


__all__ = ["available", "unavailable_reason"]
