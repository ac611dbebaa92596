"""The one place that imports the compiled T1 kernel and decides which backend runs.

Blocking ``clematis._kernels._t1`` (e.g. ``sys.modules["clematis._kernels._t1"] = None``) before
importing clematis makes the whole package fall back to the Python reference.
"""

from __future__ import annotations

import logging
import os

BACKENDS = ("native", "python")
NATIVE_MODULE = "clematis._kernels._t1"

logger = logging.getLogger("clematis.native.t1")

try:
    from ._kernels import _t1 as native_module
except ImportError as exc:  # no compiler at install time, or blocked on purpose
    native_module = None
    import_error: str | None = f"{type(exc).__name__}: {exc}"
else:
    import_error = None

_warned_fallback = False


def native_available() -> bool:
    """True iff the compiled kernel imported."""
    return native_module is not None


def check_backend_name(backend: str | None) -> None:
    if backend is not None and backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)} or None, got {backend!r}")


def resolve_backend(backend: str | None) -> str:
    """``"native"`` or ``"python"``: native unless asked otherwise or not importable.

    Asking for native when it cannot be imported runs Python and logs a WARNING once.
    """
    global _warned_fallback
    check_backend_name(backend)
    if backend == "python":
        return "python"
    if native_module is not None:
        return "native"
    if backend == "native" and not _warned_fallback:
        _warned_fallback = True
        logger.warning("import_failed: native T1 kernel unavailable (%s); using Python", import_error)
    return "python"


# ---- GEL edge-weight decay kernel (clematis._kernels._gel) ------------------------------------

GEL_ENV = "PERF_NATIVE_GEL_ENABLED"
gel_logger = logging.getLogger("clematis.native.gel")

try:
    from ._kernels import _gel as gel_module
except ImportError as exc:
    gel_module = None
    gel_import_error: str | None = f"{type(exc).__name__}: {exc}"
else:
    gel_import_error = None

_warned_gel_fallback = False


def gel_native_available() -> bool:
    """True iff the compiled GEL kernel imported."""
    return gel_module is not None


def resolve_gel_backend(backend: str | None = None, config: dict | None = None) -> str:
    """The GEL backend: the argument, else env ``PERF_NATIVE_GEL_ENABLED`` (1/0), else the
    config's ``perf.native.gel.enabled``, else native when the kernel imports.

    Asking for native when it cannot be imported runs Python and logs a WARNING once.
    """
    global _warned_gel_fallback
    check_backend_name(backend)
    if backend is None:
        env = os.environ.get(GEL_ENV)
        if env is not None:
            if env not in ("0", "1"):
                raise ValueError(f"{GEL_ENV} must be 1 or 0, got {env!r}")
            backend = "native" if env == "1" else "python"
        else:
            enabled = (config or {}).get("perf", {}).get("native", {}).get("gel", {}).get("enabled")
            if enabled is not None:
                backend = "native" if enabled else "python"
    if backend == "python":
        return "python"
    if gel_module is not None:
        return "native"
    if backend == "native" and not _warned_gel_fallback:
        _warned_gel_fallback = True
        gel_logger.warning("import_failed: native GEL kernel unavailable (%s); using Python",
                           gel_import_error)
    return "python"
