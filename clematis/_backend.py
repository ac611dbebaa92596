"""Backend policy (docs/spec.md §9): the one place that decides which backend runs, for T1 and
for GEL, from what ``clematis._kernel_calls`` could import.

One rule for both: an explicit ``backend=`` argument, then the environment variable
(``CLEMATIS_NATIVE_T1`` / ``PERF_NATIVE_GEL_ENABLED``), then the config
(``perf.native.t1`` / ``perf.native.gel``), then the default: native when the kernel imports.
An explicit native request (the argument, or the variable set to a true value) that cannot run
raises :class:`NativeUnavailableError`; only the default and the config fall back to Python, with
a once-only warning that says why and how to fix it.

``CLEMATIS_PUREPYTHON=1`` blocks the compiled modules (msgpack's ``MSGPACK_PUREPYTHON``): nothing
compiled is imported, and the default is then Python by choice, without a fallback warning.
"""

from __future__ import annotations

import logging
import pathlib
import threading
from collections.abc import Mapping
from dataclasses import dataclass

from ._kernel_calls import gel_import_error, gel_module, import_error, native_module
from ._platform import ENV_PUREPYTHON, env_flag

BACKENDS = ("native", "python")
BACKEND_ALIASES = {"rust": "native"}  # the design's name for its native kernel
ENV_NATIVE = "CLEMATIS_NATIVE_T1"
ENV_GEL = "PERF_NATIVE_GEL_ENABLED"
ENV_STRICT_PARITY = "CLEMATIS_STRICT_PARITY"
logger = logging.getLogger("clematis.native.t1")
gel_logger = logging.getLogger("clematis.native.gel")

_logged: set[str] = set()
_logged_lock = threading.Lock()


class NativeUnavailableError(RuntimeError):
    """Native execution was requested explicitly (or required) but cannot happen."""


NATIVE_MODULE = "clematis._kernels._t1"


def source_checkout_hint() -> str:
    """How to fix a missing kernel: names the checkout when the imported clematis lives in one."""
    package = pathlib.Path(__file__).resolve().parent
    if (package.parent / "setup.py").exists() and (package.parent / "pyproject.toml").exists():
        return (f"the imported clematis is the source checkout {package.parent} (it shadows the "
                "installed package); run from outside the checkout, or `make install` there")
    return "reinstall clematis with a C compiler available (see docs/install.md)"


def native_available() -> bool:
    """True iff the compiled T1 kernel imported."""
    return native_module is not None


def gel_native_available() -> bool:
    """True iff the compiled GEL kernel imported."""
    return gel_module is not None


def backend_name(backend: str | None, where: str = "backend") -> str | None:
    """``native``/``python`` (any case; ``rust`` is native) or None; else a ValueError."""
    if backend is None:
        return None
    name = backend.strip().lower() if isinstance(backend, str) else backend
    name = BACKEND_ALIASES.get(name, name)
    if name not in BACKENDS:
        raise ValueError(f"{where} must be one of {', '.join(BACKENDS)} or None, got {backend!r}")
    return name


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


def _native_section(config: Mapping | None, kernel: str) -> Mapping | None:
    """The ``perf.native.<kernel>`` block of a normalized config, or None when the user wrote none."""
    if not config:
        return None
    return ((config.get("perf") or {}).get("native") or {}).get(kernel)


@dataclass(frozen=True)
class Kernel:
    """One compiled kernel and how it is switched: T1 or GEL."""

    label: str
    env: str
    section: str
    log: logging.Logger
    event_prefix: str

    @property
    def module(self):
        return native_module if self.section == "t1" else gel_module

    @property
    def import_error(self) -> str | None:
        return import_error if self.section == "t1" else gel_import_error


T1 = Kernel("T1", ENV_NATIVE, "t1", logger, "")
GEL = Kernel("GEL", ENV_GEL, "gel", gel_logger, "gel_")


@dataclass(frozen=True)
class BackendChoice:
    """The outcome of backend precedence.

    ``requested`` is what the winning ``source`` (``argument``, ``env``, ``config``,
    ``default``) asks for; ``backend`` is what runs: ``requested``, or python when native was
    requested by the config or the default but the compiled kernel is not importable.
    """

    requested: str
    source: str
    backend: str
    kernel: Kernel = T1

    @property
    def explicit(self) -> bool:
        """Native asked for by the caller (argument or environment), never substituted."""
        return self.source in ("argument", "env")

    @property
    def import_failed(self) -> bool:
        return self.requested == "native" and self.backend == "python"

    @property
    def gated_off(self) -> bool:
        """Native switched off by the environment or the config (not by an explicit argument)."""
        return self.requested == "python" and self.source in ("env", "config")

    def unavailable(self) -> NativeUnavailableError:
        """The error for an explicit native request that cannot run."""
        return NativeUnavailableError(
            f"native {self.kernel.label} requested ({self._asked_by()}) but the compiled kernel "
            f"cannot run: {self.kernel.import_error}; {source_checkout_hint()}")

    def _asked_by(self) -> str:
        return 'backend="native"' if self.source == "argument" else f"{self.kernel.env}=1"


def choose_backend(backend: str | None = None, config: Mapping | None = None,
                   kernel: Kernel = T1) -> BackendChoice:
    """Apply the precedence argument > environment > config > default (no raising, no logging)."""
    name = backend_name(backend)
    env = env_flag(kernel.env)
    section = _native_section(config, kernel.section)
    if name is not None:
        requested, source = name, "argument"
    elif env is not None:
        requested, source = ("native" if env else "python"), "env"
    elif section is not None:
        on = section.get("enabled", True) and backend_name(section.get("backend", "native")) == "native"
        requested, source = ("native" if on else "python"), "config"
    elif env_flag(ENV_PUREPYTHON):
        requested, source = "python", "default"  # the user chose pure Python: no fallback
    else:
        requested, source = "native", "default"
    runs = requested if requested == "python" or kernel.module is not None else "python"
    return BackendChoice(requested, source, runs, kernel)


def warn_import_failed(choice: BackendChoice) -> None:
    """The once-only WARNING of a fallback: what was asked, why it cannot run, how to fix it."""
    kernel = choice.kernel
    log_once(f"{kernel.event_prefix}import_failed", logging.WARNING,
             "native %s kernel not importable (%s); using the Python reference. Fix: %s",
             kernel.label, kernel.import_error, source_checkout_hint(), log=kernel.log)


def resolve_backend(backend: str | None = None, config: Mapping | None = None,
                    kernel: Kernel = T1) -> str:
    """``"native"`` or ``"python"`` after :func:`choose_backend`.

    An explicit native request that cannot run raises :class:`NativeUnavailableError`; native by
    config or default but not importable runs Python and warns once.
    """
    choice = choose_backend(backend, config, kernel)
    if choice.import_failed:
        if choice.explicit:
            raise choice.unavailable()
        warn_import_failed(choice)
    return choice.backend


def strict_parity_enabled(config: Mapping | None = None) -> bool:
    """``CLEMATIS_STRICT_PARITY`` when set, else ``perf.native.t1.strict_parity``."""
    env = env_flag(ENV_STRICT_PARITY)
    if env is not None:
        return env
    section = _native_section(config, "t1")
    return bool(section.get("strict_parity", False)) if section is not None else False
