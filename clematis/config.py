"""YAML configuration: :func:`load_config` validates every key and value and fills defaults.

All errors of a config are collected and raised together as one :class:`ConfigError`; each
message names the dotted path, the bad value and what is allowed. See ``docs/config.md``.
"""

from __future__ import annotations

import difflib
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError

from ._backend import backend_name, log_once
from ._params import DECAY_MODES, DEFAULT_RELATION_MULTIPLIERS, PARAMETERS, as_budget, as_non_negative
from ._validation import EXCERPT_CHARS, as_count, as_unit_interval, clip, excerpt

logger = logging.getLogger("clematis.config")

MAX_CONFIG_BYTES = 1 << 20  # 1 MiB: a config file is a few hundred bytes
MAX_YAML_ALIASES = 16  # aliases (*name) per file: enough to share a few values, too few for a bomb
MAX_YAML_DEPTH = 32  # nesting levels of YAML collections
_MERGE_TAG = "tag:yaml.org,2002:merge"


class ConfigError(ValueError):
    """An invalid config; ``errors`` lists one message per problem (``path: value and what is
    allowed``), section by section; ``source`` is the file, if any."""

    def __init__(self, errors: list[str], source: str | None = None) -> None:
        self.errors = list(errors)
        self.source = source
        where = f" {source}" if source else ""
        if len(self.errors) == 1:
            message = f"invalid config{where}: {self.errors[0]}"
        else:
            message = f"invalid config{where} ({len(self.errors)} errors):\n" + "\n".join(
                f"  {e}" for e in self.errors)
        super().__init__(message)


class _Invalid(Exception):
    """A leaf value failed its check; the text says what is allowed."""


@dataclass(frozen=True)
class Leaf:
    """A scalar setting: its default and a check returning the normalized value."""

    default: Any
    check: Callable[[Any], Any]


def _shared(check: Callable[[str, Any], Any], allowed: str) -> Callable[[Any], Any]:
    """A leaf check built on the API's scalar validator ``check`` (one rule for both): the
    value is kept as written; a refusal becomes ``is not <allowed>``."""
    def leaf(value):
        try:
            check("value", value)
        except (TypeError, ValueError) as exc:
            note = " (after rounding to float32)" if "rounding" in str(exc) or "overflows" in str(exc) else ""
            raise _Invalid(f"is not {allowed}{note}") from None
        return value
    return leaf


count = _shared(as_count, "an integer >= 0")
positive = _shared(as_budget, "a number > 0")
non_negative = _shared(as_non_negative, "a number >= 0")
unit_interval = _shared(as_unit_interval, "a number in [0, 1]")


def optional_count(value) -> int | None:
    return None if value is None else count(value)


def boolean(value) -> bool:
    if not isinstance(value, bool):
        raise _Invalid("is not a boolean (true or false)")
    return value


def _native_backend(value) -> str:
    try:
        backend = backend_name(value) if isinstance(value, str) else None
    except ValueError:
        backend = None
    if backend is None:
        raise _Invalid("is not one of native, python")
    if value.strip().lower() == "rust":
        log_once("backend_rust_alias", logging.WARNING,
                 "perf.native.t1.backend 'rust' is an alias of 'native' (the Cython kernel)",
                 log=logger)
    return backend


DECAY_CHECKS = {"rate": unit_interval, "floor": unit_interval, "alpha": non_negative}
DECAY_KEYS = {mode.name: {key: Leaf(default, DECAY_CHECKS[key]) for key, default in mode.defaults.items()}
              for mode in DECAY_MODES.values()}
USER_DEFAULTS = {p.config_path: p.user for p in PARAMETERS}  # the one defaults table (clematis._params)

NATIVE_SCHEMA = {
    "t1": {
        "enabled": Leaf(True, boolean),
        "backend": Leaf("native", _native_backend),
        "strict_parity": Leaf(False, boolean),
        "parity": {"atol": Leaf(1.0e-6, non_negative), "rtol": Leaf(1.0e-5, non_negative)},
    },
    "gel": {"enabled": Leaf(True, boolean)},
}

SCHEMA = {
    "t1": {
        "decay": "decay",  # special: keys depend on the mode
        "edge_type_mult": "edge_type_mult",  # special: relation names are open
        "radius_cap": Leaf(USER_DEFAULTS["t1", "radius_cap"], count),
        "iter_cap": Leaf(USER_DEFAULTS["t1", "iter_cap"], count),
        "iter_cap_layers": Leaf(None, optional_count),  # folded into iter_cap (smaller wins)
        "node_budget": Leaf(USER_DEFAULTS["t1", "node_budget"], positive),
        "queue_budget": Leaf(USER_DEFAULTS["t1", "queue_budget"], count),
        "relax_cap": Leaf(None, optional_count),
    },
    "perf": {
        "t1": {
            "caps": {"frontier": Leaf(USER_DEFAULTS["perf", "t1", "caps", "frontier"], count),
                     "visited": Leaf(USER_DEFAULTS["perf", "t1", "caps", "visited"], count)},
            "dedupe_window": Leaf(USER_DEFAULTS["perf", "t1", "dedupe_window"], count),
        },
        "parallel": {"enabled": Leaf(False, boolean), "t1": Leaf(False, boolean),
                     "max_workers": Leaf(0, count)},
        "native": "native",  # special: present only when the user wrote it
    },
    "gel": {
        "enabled": Leaf(False, boolean),
        "decay": {"rate": Leaf(0.95, unit_interval), "floor": Leaf(0.0, unit_interval)},
    },
}


def _join(path: str, key) -> str:
    name = clip(str(key))
    return f"{path}.{name}" if path else name


class _Normalizer:
    def __init__(self) -> None:
        self.errors: list[str] = []

    def error(self, path: str, message: str) -> None:
        self.errors.append(f"{path or '(top level)'}: {message}")

    def mapping(self, value, path: str) -> Mapping:
        """The user's mapping at ``path`` (None means empty); a non-mapping is an error."""
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            self.error(path, f"{excerpt(value)} is not a mapping")
            return {}
        return value

    def unknown_keys(self, given: Mapping, allowed, path: str, what: str = "unknown key") -> None:
        names = list(allowed)
        for key in given:
            if key in allowed:
                continue
            hint = difflib.get_close_matches(clip(str(key)), names, n=1)
            did_you_mean = f"; did you mean {hint[0]!r}?" if hint else ""
            self.error(_join(path, key), f"{what}{did_you_mean} (allowed: {', '.join(names)})")

    def section(self, schema: Mapping, value, path: str) -> dict:
        given = self.mapping(value, path)
        self.unknown_keys(given, schema, path)
        out = {}
        for key, spec in schema.items():
            sub = _join(path, key)
            if isinstance(spec, Leaf):
                out[key] = self.leaf(spec, given[key], sub) if key in given else spec.default
            elif isinstance(spec, Mapping):
                out[key] = self.section(spec, given.get(key), sub)
            elif spec == "decay":
                out[key] = self.decay(given.get(key), sub)
            elif spec == "edge_type_mult":
                out[key] = self.edge_type_mult(given.get(key), sub)
            elif spec == "native" and key in given:
                out[key] = self.section(NATIVE_SCHEMA, given[key], sub)
        return out

    def leaf(self, spec: Leaf, value, path: str):
        try:
            return spec.check(value)
        except _Invalid as exc:
            self.error(path, f"{excerpt(value)} {exc}")
            return spec.default

    def decay(self, value, path: str) -> dict:
        given = self.mapping(value, path)
        mode = given.get("mode", "exp_floor")
        if mode not in DECAY_MODES:
            self.error(_join(path, "mode"), f"{excerpt(mode)} is not one of {', '.join(DECAY_MODES)}")
            mode = "exp_floor"
        keys = DECAY_KEYS[mode]
        self.unknown_keys(given, {"mode": None, **keys}, path, f"unknown key for decay mode {mode!r}")
        out = {"mode": mode}
        for key, spec in keys.items():
            out[key] = self.leaf(spec, given[key], _join(path, key)) if key in given else spec.default
        return out

    def edge_type_mult(self, value, path: str) -> dict:
        out = dict(DEFAULT_RELATION_MULTIPLIERS)
        for name, mult in self.mapping(value, path).items():
            if not isinstance(name, str) or not name:
                self.error(_join(path, name), f"relation name {excerpt(name)} is not a non-empty string")
                continue
            out[name] = self.leaf(Leaf(out.get(name), non_negative), mult, _join(path, name))
        return out


class _ConfigLoader(yaml.SafeLoader):
    """PyYAML's SafeLoader, refusing duplicate keys, more than ``MAX_YAML_ALIASES`` aliases and
    collections nested deeper than ``MAX_YAML_DEPTH``; a value its constructor cannot build (a
    bad date, say) is a YAML error at that value's line."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self._aliases = 0
        self._depth = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_YAML_ALIASES:
                raise ComposerError(None, None, f"more than {MAX_YAML_ALIASES} aliases (*name)",
                                    self.peek_event().start_mark)
        self._depth += 1
        try:
            if self._depth > MAX_YAML_DEPTH:
                raise ComposerError(None, None, f"nested more than {MAX_YAML_DEPTH} levels deep",
                                    self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node, deep=False):
        first_seen: dict = {}
        for key_node, _ in node.value:
            if key_node.tag == _MERGE_TAG:
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                first = first_seen.setdefault(key, key_node)
            except TypeError:  # an unhashable key: the base class reports it
                continue
            if first is not key_node:
                raise ConstructorError(None, None, f"duplicate key {excerpt(key)} (first at line "
                                       f"{first.start_mark.line + 1})", key_node.start_mark)
        return super().construct_mapping(node, deep)

    def construct_object(self, node, deep=False):
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError) as exc:
            raise ConstructorError(None, None, f"cannot read {node.tag.rsplit(':', 1)[-1]} value "
                                   f"({exc})", node.start_mark) from exc


def _yaml_problem(exc: yaml.YAMLError, text: str) -> str:
    """``line L, column C: what is wrong (near 'excerpt of that line')``."""
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark, problem = exc.problem_mark, exc.problem or ""
        if exc.context:
            at = "" if exc.context_mark is None else f" at line {exc.context_mark.line + 1}"
            problem = f"{problem} ({exc.context}{at})"
        index, where = mark.index, f"line {mark.line + 1}, column {mark.column + 1}"
    elif isinstance(exc, yaml.reader.ReaderError):
        index = exc.position
        problem = f"character U+{exc.character:04X} is not allowed in YAML"
        where = f"line {text.count(chr(10), 0, index) + 1}"
    else:
        return clip(str(exc), 2 * EXCERPT_CHARS)
    start = text.rfind("\n", 0, index) + 1
    end = text.find("\n", index)
    near = text[start:end if end >= 0 else len(text)].strip()
    message = f"{where}: {clip(problem.strip(), 2 * EXCERPT_CHARS)}"
    return f"{message} (near {excerpt(near)})" if near else message


def _read_yaml(path: str | os.PathLike) -> object:
    """The parsed file; every way it can fail is a ConfigError naming the file (and the line)."""
    source = os.fspath(path)
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError([f"cannot read the file ({exc.strerror or exc})"], source) from exc
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError([f"the file is larger than {MAX_CONFIG_BYTES} bytes (1 MiB), the limit "
                           "for a config"], source)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ConfigError([f"line {line}: not UTF-8 text (byte 0x{data[exc.start]:02x})"], source) from None
    try:
        loader = _ConfigLoader(text)  # checks every character first
        try:
            return loader.get_single_data()
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        raise ConfigError([f"not valid YAML: {_yaml_problem(exc, text)}"], source) from None


def load_config(path_or_dict: str | os.PathLike | Mapping | None = None) -> dict:
    """A validated, normalized config: every known key present with its default when absent.

    ``path_or_dict`` is a YAML file path, a mapping (e.g. an already-loaded config; loading is
    idempotent), or None for the defaults. ``perf.native`` appears only if given. When both
    ``t1.iter_cap`` and ``t1.iter_cap_layers`` are given the smaller wins; the normalized config
    holds the effective value in ``t1.iter_cap``. ``backend: rust`` becomes ``native``.
    Raises :class:`ConfigError` listing every problem.
    """
    source = None
    if isinstance(path_or_dict, str | os.PathLike):
        source = os.fspath(path_or_dict)
        raw = _read_yaml(path_or_dict)
    elif path_or_dict is None or isinstance(path_or_dict, Mapping):
        raw = path_or_dict
    else:
        raise TypeError(f"path_or_dict must be a path, a mapping or None, got {type(path_or_dict).__name__}")
    normalizer = _Normalizer()
    config = normalizer.section(SCHEMA, raw, "")
    if normalizer.errors:
        raise ConfigError(normalizer.errors, source)
    t1 = config["t1"]
    layers = t1.pop("iter_cap_layers")
    given_iter_cap = isinstance(raw, Mapping) and "iter_cap" in (raw.get("t1") or {})
    if layers is not None:
        t1["iter_cap"] = min(t1["iter_cap"], layers) if given_iter_cap else layers
    return config
