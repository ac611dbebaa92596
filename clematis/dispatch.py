"""The dispatcher (docs/spec.md §9-§11): runs one T1 query (or one GEL decay) on the chosen
backend, with fallbacks, strict parity (T1) and counters. GEL uses the same counters and events,
the events prefixed ``gel_`` on logger ``clematis.native.gel``.

Counters (``metrics["native_t1"]``), when they are bumped, and the once-only log event
(logger ``clematis.native.t1``) that goes with them:

- ``used_native``: the native kernel produced the returned result.
- ``fallback_import_failed``: native requested by the config or the default but not
  importable; python runs. ``import_failed`` (WARNING, naming the cause and the fix). An
  explicit request (``backend="native"``, ``CLEMATIS_NATIVE_T1=1``) or strict parity raises
  :class:`NativeUnavailableError` instead (docs/spec.md §9).
- ``fallback_gated_other``: native switched off by ``CLEMATIS_NATIVE_T1=0`` or by the
  config (``perf.native.t1.enabled: false`` or ``backend: python``). ``gate_off`` (INFO).
- ``fallback_gated_caps``, ``fallback_gated_dedupe``: never bumped, kept at 0 for
  compatibility with the design: the Cython kernel implements the caps and the dedupe ring,
  so they do not gate native off.
- ``fallback_runtime_exc``: native raised MemoryError, TypeError, ValueError or
  OverflowError; python runs. ``runtime_exc`` (ERROR).
- ``strict_parity_mismatch``: strict parity found differences; bumped by the number of
  differing nodes (at least 1). ``strict_parity_mismatch`` (ERROR), then ParityError.
- ``strict_parity_native_exc``: native raised under strict parity; re-raised.
  ``runtime_exc_strict`` (ERROR).

An explicit ``backend="python"`` argument is the caller's choice, not a fallback: no counter.
Each once-only event logs the first time it happens in the process; :func:`reset_once_logs`
re-arms them (for tests).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from ._backend import (
    T1,
    BackendChoice,
    Kernel,
    NativeUnavailableError,
    choose_backend,
    log_once,
    reset_once_logs,
    strict_parity_enabled,
    warn_import_failed,
)
from .parity import DEFAULT_ATOL, DEFAULT_RTOL, ParityError, compare

COUNTERS = (
    "used_native",
    "fallback_import_failed",
    "fallback_gated_caps",
    "fallback_gated_dedupe",
    "fallback_gated_other",
    "fallback_runtime_exc",
    "strict_parity_mismatch",
    "strict_parity_native_exc",
)
NATIVE_RUNTIME_ERRORS = (MemoryError, TypeError, ValueError, OverflowError)

__all__ = ["COUNTERS", "DispatchPolicy", "NativeUnavailableError", "dispatch", "new_counters",
           "reset_once_logs"]


def new_counters() -> dict[str, int]:
    """All dispatch counters at 0, in their documented order."""
    return dict.fromkeys(COUNTERS, 0)


@dataclass(frozen=True)
class DispatchPolicy:
    """How queries are dispatched: the backend choice, strict parity and its tolerances."""

    choice: BackendChoice
    strict_parity: bool = False
    atol: float = DEFAULT_ATOL
    rtol: float = DEFAULT_RTOL
    native_only: bool = False

    @classmethod
    def from_config(cls, config: Mapping | None = None, backend: str | None = None,
                    native_only: bool = False, kernel: Kernel = T1) -> DispatchPolicy:
        """Resolve backend and strict parity from ``config`` (normalized) and the environment.

        ``native_only=True`` refuses any path but native: ValueError when the argument, the
        environment or the config selects python, :class:`NativeUnavailableError` when the
        kernel does not import.
        """
        if not isinstance(native_only, bool):
            raise TypeError(f"native_only must be a bool, got {native_only!r}")
        choice = choose_backend(backend, config, kernel)
        if native_only and choice.requested != "native":
            raise ValueError(f"native_only requires the native backend, but the {choice.source} "
                             "selects python")
        strict = kernel is T1 and strict_parity_enabled(config)
        if choice.import_failed and (native_only or strict or choice.explicit):
            raise choice.unavailable()
        section = (((config or {}).get("perf") or {}).get("native") or {}).get("t1") or {}
        parity = section.get("parity") or {}
        return cls(choice, strict, parity.get("atol", DEFAULT_ATOL), parity.get("rtol", DEFAULT_RTOL),
                   native_only)

    @property
    def backend(self) -> str:
        return self.choice.backend


Output = TypeVar("Output")


def dispatch(run: Callable[[str], Output], policy: DispatchPolicy,
             counters: dict[str, int]) -> tuple[str, Output]:
    """Run one validated computation under ``policy``, bumping ``counters`` in place.

    ``run(backend)`` computes the result on ``"native"`` or ``"python"`` (a T1 result that
    :func:`clematis.parity.compare` accepts, or GEL weights). Returns the backend that produced
    the result and the result. Raises
    :class:`~clematis.ParityError` on a strict parity mismatch; re-raises a native runtime
    exception under strict parity or ``native_only``. ``counters`` holds the bumps even when it
    raises.
    """
    choice = policy.choice
    kernel = choice.kernel
    if choice.import_failed:
        counters["fallback_import_failed"] += 1
        warn_import_failed(choice)
        return "python", run("python")
    if choice.gated_off:
        counters["fallback_gated_other"] += 1
        why = f"{kernel.env}=0" if choice.source == "env" else f"the config (perf.native.{kernel.section})"
        log_once(f"{kernel.event_prefix}gate_off", logging.INFO,
                 "native %s switched off by %s; using the Python reference", kernel.label, why,
                 log=kernel.log)
    if policy.strict_parity:
        return _strict(run, policy, counters)
    if choice.backend == "python":
        return "python", run("python")
    try:
        result = run("native")
    except NATIVE_RUNTIME_ERRORS as exc:
        if policy.native_only:
            raise
        counters["fallback_runtime_exc"] += 1
        log_once(f"{kernel.event_prefix}runtime_exc", logging.ERROR,
                 "native %s kernel raised %s: %s; using the Python reference", kernel.label,
                 type(exc).__name__, exc, log=kernel.log)
        return "python", run("python")
    counters["used_native"] += 1
    return "native", result


def _strict(run: Callable[[str], Output], policy: DispatchPolicy, counters: dict) -> tuple[str, Output]:
    """Compute both backends, compare at the policy's tolerances, return the chosen one."""
    reference = run("python")
    try:
        native = run("native")
    except NATIVE_RUNTIME_ERRORS as exc:
        counters["strict_parity_native_exc"] += 1
        log_once("runtime_exc_strict", logging.ERROR, "native T1 kernel raised %s under strict parity: %s",
                 type(exc).__name__, exc)
        raise
    report = compare(reference, native, atol=policy.atol, rtol=policy.rtol, labels=("py", "native"))
    if not report.ok:
        counters["strict_parity_mismatch"] += max(report.n_differing_nodes, 1)
        log_once("strict_parity_mismatch", logging.ERROR, "%s", report.summary())
        raise ParityError(report, prefix="strict parity mismatch")
    if policy.backend == "native":
        counters["used_native"] += 1
        return "native", native
    return "python", reference
