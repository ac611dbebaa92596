"""The T1 parameters, defined once (docs/spec.md §1, §7; docs/architecture.md has the
add-a-parameter checklist).

:data:`PARAMETERS` is the only list of T1 parameter names, their validators and their defaults in
the two profiles: ``contract`` (:func:`clematis.t1.propagate_one_graph`: scalars explicit, caps
off) and ``user`` (:func:`clematis.propagate`, :class:`clematis.Query`, the stage and the config).
Decay parameters belong to their mode (:data:`DECAY_MODES`). The kernel's parameter record
(``PARAMS_DTYPE``, taken from the Cython struct) has exactly the fields of :data:`PARAMETERS`.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any, Literal, TypedDict

import numpy as np

from ._validation import as_count, as_float32_scalar, as_unit_interval

REQUIRED = object()  # a contract-profile parameter without a default

DEFAULT_RELATION_MULTIPLIERS: dict[str, float] = {
    "supports": 1.0,
    "associates": 0.6,
    "contradicts": 0.8,
}


def as_budget(name: str, value) -> np.float32:
    """A float32 > 0 (after rounding)."""
    budget = as_float32_scalar(name, value)
    if not float(value) > 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    if not budget > 0:
        raise ValueError(f"{name} must be > 0 after rounding to float32, got {value!r}")
    return budget


def as_non_negative(name: str, value) -> np.float32:
    """A float32 >= 0 (after rounding)."""
    rounded = as_float32_scalar(name, value)
    if rounded < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return rounded


@dataclass(frozen=True)
class Parameter:
    """One T1 parameter: its validator, its defaults per profile and where the config keeps it."""

    name: str
    check: Callable[[str, Any], Any]
    user: Any
    contract: Any
    config_path: tuple[str, ...]


PARAMETERS: tuple[Parameter, ...] = (
    Parameter("radius_cap", as_count, 4, REQUIRED, ("t1", "radius_cap")),
    Parameter("iter_cap_layers", as_count, 50, REQUIRED, ("t1", "iter_cap")),
    Parameter("node_budget", as_budget, 1.5, REQUIRED, ("t1", "node_budget")),
    Parameter("frontier_cap", as_count, 0, 0, ("perf", "t1", "caps", "frontier")),
    Parameter("visited_cap", as_count, 0, 0, ("perf", "t1", "caps", "visited")),
    Parameter("dedupe_window", as_count, 0, 0, ("perf", "t1", "dedupe_window")),
    Parameter("queue_budget", as_count, 10000, 0, ("t1", "queue_budget")),
    Parameter("relax_cap", as_count, 0, 0, ("t1", "relax_cap")),
)
PARAMETER_NAMES = tuple(p.name for p in PARAMETERS)


class KernelCaps(TypedDict, total=False):
    """The optional caps (contract profile: all 0, off)."""

    frontier_cap: int
    visited_cap: int
    dedupe_window: int
    queue_budget: int
    relax_cap: int


class T1Options(KernelCaps, total=False):
    """Every T1 parameter a user may pass, for typed keyword arguments (``Unpack``)."""

    decay: Literal["exp_floor", "attn_quad"]
    rate: float
    floor: float
    alpha: float
    radius_cap: int
    iter_cap_layers: int
    node_budget: float


@dataclass(frozen=True)
class DecayMode:
    """A decay mode and its parameters (user defaults; the contract's exp_floor has none)."""

    name: str
    defaults: Mapping[str, float]


DECAY_MODES: dict[str, DecayMode] = {
    "exp_floor": DecayMode("exp_floor", {"rate": 0.6, "floor": 0.05}),
    "attn_quad": DecayMode("attn_quad", {"alpha": 0.8}),
}
DECAY_CHECKS: dict[str, Callable[[str, Any], np.float32]] = {
    "rate": as_unit_interval, "floor": as_unit_interval, "alpha": as_non_negative,
}
DECAY_PARAMETER_NAMES = tuple(dict.fromkeys(k for m in DECAY_MODES.values() for k in m.defaults))
ALL_NAMES = ("decay", *DECAY_PARAMETER_NAMES, *PARAMETER_NAMES)


@dataclass(frozen=True)
class Decay:
    """A validated decay spec: the mode and its float32 parameters (``(name, value)`` pairs)."""

    mode: str
    values: tuple[tuple[str, np.float32], ...]

    def __getitem__(self, name: str) -> np.float32:
        return dict(self.values)[name]

    @classmethod
    def build(cls, mode: str = "exp_floor", **values) -> Decay:
        """Validate one decay mode's parameters (user defaults for those not given)."""
        return _decay({"decay": mode, **values}, "user")


@dataclass(frozen=True)
class T1Params:
    """Validated T1 parameters; float parameters already rounded to float32."""

    radius_cap: int
    iter_cap_layers: int
    node_budget: np.float32
    frontier_cap: int
    visited_cap: int
    dedupe_window: int
    queue_budget: int
    relax_cap: int
    decay: Decay

    @classmethod
    def build(cls, profile: str = "user", **given) -> T1Params:
        """Validate ``given`` over the ``profile``'s defaults (``"user"`` or ``"contract"``).

        Unknown names get a TypeError with a did-you-mean hint; a decay parameter of another
        mode (``alpha`` under ``exp_floor``) is a TypeError; a missing contract parameter too.
        """
        _check_names(given)
        values = {}
        for p in PARAMETERS:
            value = given.get(p.name, getattr(p, profile))
            if value is REQUIRED:
                raise TypeError(f"missing required T1 parameter {p.name!r}")
            values[p.name] = p.check(p.name, value)
        return cls(decay=_decay(given, profile), **values)

    def record(self, dtype: np.dtype) -> np.ndarray:
        """The kernel's parameter record (one element of the struct's ``dtype``)."""
        out = np.zeros(1, dtype=dtype)
        for p in PARAMETERS:
            out[p.name] = getattr(self, p.name)
        return out

    def as_kwargs(self) -> dict:
        """The parameters as :meth:`build` accepts them (decay spelled out)."""
        kernel = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "decay"}
        return {"decay": self.decay.mode, **dict(self.decay.values), **kernel}


def _check_names(given: Mapping) -> None:
    unknown = [name for name in given if name not in ALL_NAMES]
    if unknown:
        hints = [difflib.get_close_matches(name, ALL_NAMES, n=1) for name in unknown]
        text = ", ".join(f"{name!r}" + (f" (did you mean {h[0]!r}?)" if h else "")
                         for name, h in zip(unknown, hints, strict=True))
        raise TypeError(f"unknown T1 parameter(s) {text}; known: {', '.join(ALL_NAMES)}")


def _decay(given: Mapping, profile: str) -> Decay:
    mode_name = given.get("decay", "exp_floor")
    if mode_name not in DECAY_MODES:
        raise ValueError(f"decay must be one of {', '.join(DECAY_MODES)}, got {mode_name!r}")
    mode = DECAY_MODES[mode_name]
    foreign = [k for k in DECAY_PARAMETER_NAMES if k in given and k not in mode.defaults]
    if foreign:
        raise TypeError(f"{', '.join(foreign)} does not apply to decay={mode_name!r} "
                        f"(its parameters: {', '.join(mode.defaults)})")
    values = []
    for key, default in mode.defaults.items():
        value = given.get(key, REQUIRED if profile == "contract" else default)
        if value is REQUIRED:
            raise TypeError(f"missing required decay parameter {key!r}")
        values.append((key, DECAY_CHECKS[key](key, value)))
    return Decay(mode_name, tuple(values))


def from_config(config: Mapping) -> T1Params:
    """The user-profile parameters of a normalized config (``clematis.load_config``); a null in
    the config means the contract's default (off)."""
    given: dict[str, Any] = {}
    for p in PARAMETERS:
        node = config
        for key in p.config_path:
            node = node[key]
        given[p.name] = p.contract if node is None else node
    decay = dict(config["t1"]["decay"])
    return T1Params.build(decay=decay.pop("mode"), **decay, **given)
