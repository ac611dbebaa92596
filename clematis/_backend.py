"""The one place that imports the compiled kernels (T1 and GEL) and decides which backend runs.

Blocking ``clematis._kernels._t1`` (e.g. ``sys.modules["clematis._kernels._t1"] = None``) before
importing clematis makes the whole package fall back to the Python reference.

Backend precedence (:func:`choose_backend`): an explicit ``backend=`` argument, then the
environment variable ``CLEMATIS_NATIVE_T1`` (``1`` native, ``0`` python), then the config's
``perf.native.t1`` block, then the default: native when the compiled kernel imports.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass

BACKENDS = ("native", "python")
NATIVE_MODULE = "clematis._kernels._t1"
ENV_NATIVE = "CLEMATIS_NATIVE_T1"
ENV_STRICT_PARITY = "CLEMATIS_STRICT_PARITY"

logger = logging.getLogger("clematis.native.t1")

try:
    from ._kernels import _t1 as native_module
except ImportError as exc:  # no compiler at install time, or blocked on purpose
    native_module = None
    import_error: str | None = f"{type(exc).__name__}: {exc}"
else:
    import_error = None

_logged: set[str] = set()
_logged_lock = threading.Lock()


class NativeUnavailableError(RuntimeError):
    """Native execution was required (``native_only``) but cannot happen."""


def native_available() -> bool:
    """True iff the compiled kernel imported."""
    return native_module is not None


def check_backend_name(backend: str | None) -> None:
    if backend is not None and backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)} or None, got {backend!r}")


def log_once(event: str, level: int, message: str, *args, log: logging.Logger = logger) -> bool:
    """Log ``"<event>: <message>"`` the first time ``event`` happens in this process.

    Returns True when it logged. :func:`reset_once_logs` forgets what was logged (for tests).
    """
    with _logged_lock:
        if event in _logged:
            return False
        _logged.add(event)
    log.log(level, f"{event}: {message}", *args, extra={"clematis_event": event})
    return True


def reset_once_logs() -> None:
    """Forget which once-only events were logged, so each logs again on its next occurrence."""
    with _logged_lock:
        _logged.clear()


def _env_flag(name: str) -> bool | None:
    """``1`` -> True, ``0`` -> False, unset or empty -> None; anything else is an error."""
    value = os.environ.get(name, "").strip()
    if not value:
        return None
    if value not in ("0", "1"):
        raise ValueError(f"environment variable {name} must be 1 or 0, got {value!r}")
    return value == "1"


def _native_section(config: Mapping | None) -> Mapping | None:
    """The ``perf.native.t1`` block of a normalized config, or None when the user wrote none."""
    if not config:
        return None
    return ((config.get("perf") or {}).get("native") or {}).get("t1")


@dataclass(frozen=True)
class BackendChoice:
    """The outcome of backend precedence.

    ``requested`` is what the winning ``source`` (``argument``, ``env``, ``config``,
    ``default``) asks for; ``backend`` is what runs: ``requested``, or python when native was
    requested but the compiled kernel is not importable.
    """

    requested: str
    source: str
    backend: str

    @property
    def import_failed(self) -> bool:
        return self.requested == "native" and self.backend == "python"

    @property
    def gated_off(self) -> bool:
        """Native switched off by the environment or the config (not by an explicit argument)."""
        return self.requested == "python" and self.source in ("env", "config")


def choose_backend(backend: str | None = None, config: Mapping | None = None) -> BackendChoice:
    """Apply the precedence argument > ``CLEMATIS_NATIVE_T1`` > config > default."""
    check_backend_name(backend)
    env = _env_flag(ENV_NATIVE)
    section = _native_section(config)
    if backend is not None:
        requested, source = backend, "argument"
    elif env is not None:
        requested, source = ("native" if env else "python"), "env"
    elif section is not None:
        on = section.get("enabled", True) and section.get("backend", "native") in ("native", "rust")
        requested, source = ("native" if on else "python"), "config"
    else:
        requested, source = "native", "default"
    runs = requested if requested == "python" or native_available() else "python"
    return BackendChoice(requested, source, runs)


def strict_parity_enabled(config: Mapping | None = None) -> bool:
    """``CLEMATIS_STRICT_PARITY`` (1 on, 0 off) when set, else ``perf.native.t1.strict_parity``."""
    env = _env_flag(ENV_STRICT_PARITY)
    if env is not None:
        return env
    section = _native_section(config)
    return bool(section.get("strict_parity", False)) if section is not None else False


def warn_import_failed() -> None:
    log_once("import_failed", logging.WARNING,
             "native T1 kernel requested but not importable (%s); using the Python reference",
             import_error)


def resolve_backend(backend: str | None = None, config: Mapping | None = None) -> str:
    """``"native"`` or ``"python"`` after :func:`choose_backend`.

    Native requested (or defaulted) but not importable runs Python and logs ``import_failed``
    (WARNING) once.
    """
    choice = choose_backend(backend, config)
    if choice.import_failed:
        warn_import_failed()
    return choice.backend


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


def gel_native_available() -> bool:
    """True iff the compiled GEL kernel imported."""
    return gel_module is not None


def resolve_gel_backend(backend: str | None = None, config: Mapping | None = None) -> str:
    """The GEL backend: the argument, else env ``PERF_NATIVE_GEL_ENABLED`` (1/0), else the
    config's ``perf.native.gel.enabled``, else native when the kernel imports.

    Native requested but not importable runs Python and logs ``gel_import_failed`` (WARNING) once.
    """
    check_backend_name(backend)
    if backend is None:
        env = _env_flag(GEL_ENV)
        enabled = env if env is not None else (
            (((config or {}).get("perf") or {}).get("native") or {}).get("gel") or {}).get("enabled", True)
        backend = "native" if enabled else "python"
    if backend == "python" or gel_module is not None:
        return backend
    log_once("gel_import_failed", logging.WARNING,
             "native GEL kernel requested but not importable (%s); using the Python reference",
             gel_import_error, log=gel_logger)
    return "python"
