"""Compare T1 results: node sets exactly, values at ``atol``/``rtol``, integer metrics exactly.

A value pair passes when ``|a - b| <= atol + rtol * max(|a|, |b|)``. Results may be
:class:`~clematis.T1Result` (nodes keyed by node id), :class:`~clematis.TurnResult` (its merged
deltas and merged metrics), raw ``(d_nodes, d_vals, metrics)`` tuples (keyed by node index) or a
:class:`Golden` loaded from a JSON golden file (see ``docs/parity.md``). The dispatch counters
under ``metrics["native_t1"]`` describe how a result was computed, not the result, and are not
compared.
"""

from __future__ import annotations

import itertools
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

GOLDEN_FORMAT = "clematis.parity.golden"
GOLDEN_VERSION = 1
DEFAULT_ATOL = 1.0e-6
DEFAULT_RTOL = 1.0e-5
SHOWN_NODES = 3


class ParityError(AssertionError):
    """Two results differ beyond tolerance; ``report`` is the :class:`ParityReport`."""

    def __init__(self, report: ParityReport, prefix: str = "parity mismatch") -> None:
        self.report = report
        super().__init__(f"{prefix}: {report.summary()}")


@dataclass(frozen=True)
class Golden:
    """A saved reference result: activation per node (key order kept) and its metrics."""

    nodes: dict
    metrics: dict
    meta: dict = field(default_factory=dict)


@dataclass(frozen=True)
class NodeDiff:
    """A node whose values differ beyond tolerance (``a`` or ``b`` is None when absent)."""

    node: object
    a: float | None
    b: float | None

    @property
    def delta(self) -> float | None:
        return None if self.a is None or self.b is None else abs(self.a - self.b)


@dataclass(frozen=True)
class ParityReport:
    """The differences between result ``a`` and result ``b``.

    ``mismatched``: nodes in both with values out of tolerance; ``missing``: nodes only in ``a``;
    ``extra``: nodes only in ``b``; ``metric_diffs``: metric name -> ``(a value, b value)``
    (None when absent). ``labels`` name ``a`` and ``b`` in messages.
    """

    mismatched: tuple[NodeDiff, ...]
    missing: tuple[NodeDiff, ...]
    extra: tuple[NodeDiff, ...]
    metric_diffs: dict
    n_nodes: int
    atol: float
    rtol: float
    labels: tuple[str, str] = ("a", "b")

    @property
    def ok(self) -> bool:
        return not (self.mismatched or self.missing or self.extra or self.metric_diffs)

    @property
    def n_differing_nodes(self) -> int:
        return len(self.mismatched) + len(self.missing) + len(self.extra)

    def summary(self, limit: int = SHOWN_NODES) -> str:
        """One line: e.g. ``1 node(s) differ. node=123 py=0.532 native=0.531 Δ=0.001``."""
        la, lb = self.labels
        if self.ok:
            return f"no differences ({self.n_nodes} nodes, atol={self.atol:g}, rtol={self.rtol:g})"
        parts = [f"{self.n_differing_nodes} node(s) differ."]
        for diff in (self.mismatched + self.missing + self.extra)[:limit]:
            text = f"node={diff.node} {la}={_fmt(diff.a)} {lb}={_fmt(diff.b)}"
            parts.append(text + (f" Δ={diff.delta:.3g}" if diff.delta is not None else ""))
        if self.n_differing_nodes > limit:
            parts.append(f"(+{self.n_differing_nodes - limit} more)")
        if self.metric_diffs:
            shown = ", ".join(f"{name} {la}={a} {lb}={b}" for name, (a, b) in self.metric_diffs.items())
            parts.append(f"metrics differ: {shown}")
        return " ".join(parts)


def _fmt(value: float | None) -> str:
    return "absent" if value is None else str(np.float32(value))


def _as_comparable(result) -> tuple[dict, dict]:
    """``({node: float value}, metrics)`` of any supported result kind."""
    if isinstance(result, Golden):
        return result.nodes, result.metrics
    if hasattr(result, "merged") and hasattr(result, "metrics"):  # TurnResult
        return dict(result.merged), result.metrics
    if hasattr(result, "graph") and hasattr(result, "values"):  # T1Result
        nodes = [result.graph.node_id(int(i)) for i in result.nodes]
        return dict(zip(nodes, result.values.tolist(), strict=True)), result.metrics
    if isinstance(result, tuple) and len(result) == 3:
        d_nodes, d_vals, metrics = result
        return dict(zip(np.asarray(d_nodes).tolist(), np.asarray(d_vals).tolist(), strict=True)), metrics
    raise TypeError("a result must be a T1Result, a TurnResult, a Golden or a (d_nodes, d_vals, metrics) "
                    f"tuple, got {type(result).__name__}")


def _close(a: float, b: float, atol: float, rtol: float) -> bool:
    return abs(a - b) <= atol + rtol * max(abs(a), abs(b))


def _is_int(value) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _metric_diffs(ma: Mapping, mb: Mapping, atol: float, rtol: float) -> dict:
    diffs = {}
    for name in list(ma) + [k for k in mb if k not in ma]:
        a, b = ma.get(name), mb.get(name)
        if isinstance(a, Mapping) or isinstance(b, Mapping):  # dispatch counters (native_t1)
            continue
        if a is None or b is None:
            diffs[name] = (a, b)
        elif _is_int(a) and _is_int(b):
            if int(a) != int(b):
                diffs[name] = (a, b)
        elif not _close(float(a), float(b), atol, rtol):
            diffs[name] = (a, b)
    return diffs


def _check_tolerance(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


def compare(a, b, *, atol: float = DEFAULT_ATOL, rtol: float = DEFAULT_RTOL,
            labels: tuple[str, str] = ("a", "b")) -> ParityReport:
    """Compare result ``a`` (the reference) with result ``b``; see the module docstring."""
    atol = _check_tolerance("atol", atol)
    rtol = _check_tolerance("rtol", rtol)
    nodes_a, metrics_a = _as_comparable(a)
    nodes_b, metrics_b = _as_comparable(b)
    mismatched, missing = [], []
    for node, va in nodes_a.items():
        if node not in nodes_b:
            missing.append(NodeDiff(node, va, None))
        elif not _close(va, nodes_b[node], atol, rtol):
            mismatched.append(NodeDiff(node, va, nodes_b[node]))
    extra = [NodeDiff(node, None, vb) for node, vb in nodes_b.items() if node not in nodes_a]
    return ParityReport(tuple(mismatched), tuple(missing), tuple(extra),
                        _metric_diffs(metrics_a, metrics_b, atol, rtol),
                        max(len(nodes_a), len(nodes_b)), atol, rtol, (labels[0], labels[1]))


def identical(a, b) -> bool:
    """True when two results are bit-identical: the same nodes in the same order (and, for raw
    ``(d_nodes, d_vals, metrics)`` tuples or T1Results, the same index dtype), the same float32
    value bits and equal metrics (dispatch counters under ``native_t1`` aside)."""
    if _is_raw(a) and _is_raw(b):
        (na, va, ma), (nb, vb, mb) = _raw(a), _raw(b)
        return (na.dtype == nb.dtype and np.array_equal(na, nb) and va.dtype == vb.dtype == np.float32
                and np.array_equal(va.view(np.uint32), vb.view(np.uint32)) and _same_metrics(ma, mb))
    nodes_a, metrics_a = _as_comparable(a)
    nodes_b, metrics_b = _as_comparable(b)
    bits_a = np.array(list(nodes_a.values()), dtype=np.float32).view(np.uint32)
    bits_b = np.array(list(nodes_b.values()), dtype=np.float32).view(np.uint32)
    return (list(nodes_a) == list(nodes_b) and np.array_equal(bits_a, bits_b)
            and _same_metrics(metrics_a, metrics_b))


def close(a, b, *, atol: float = DEFAULT_ATOL, rtol: float = DEFAULT_RTOL) -> bool:
    """True when :func:`compare` finds no difference at ``atol``/``rtol``."""
    return compare(a, b, atol=atol, rtol=rtol).ok


def _is_raw(result) -> bool:
    return (isinstance(result, tuple) and len(result) == 3) or (
        hasattr(result, "graph") and hasattr(result, "values") and hasattr(result, "nodes"))


def _raw(result) -> tuple[np.ndarray, np.ndarray, Mapping]:
    if isinstance(result, tuple):
        d_nodes, d_vals, metrics = result
        return np.asarray(d_nodes), np.asarray(d_vals), metrics
    return result.nodes, result.values, result.metrics


def _same_metrics(ma: Mapping, mb: Mapping) -> bool:
    def kept(m: Mapping) -> dict:
        return {k: v for k, v in m.items() if not isinstance(v, Mapping)}
    return kept(ma) == kept(mb)


def assert_parity(a, b, *, atol: float = DEFAULT_ATOL, rtol: float = DEFAULT_RTOL,
                  labels: tuple[str, str] = ("a", "b")) -> ParityReport:
    """:func:`compare`, raising :class:`ParityError` when the results differ."""
    report = compare(a, b, atol=atol, rtol=rtol, labels=labels)
    if not report.ok:
        raise ParityError(report)
    return report


def to_golden(result, meta: Mapping | None = None) -> Golden:
    """The :class:`Golden` of a result (metrics without the dispatch counters)."""
    nodes, metrics = _as_comparable(result)
    kept = {k: v for k, v in metrics.items() if not isinstance(v, Mapping)}
    return Golden(dict(nodes), kept, dict(meta or {}))


def save_golden(result, path: str | os.PathLike, *, meta: Mapping | None = None) -> Golden:
    """Write ``result`` as a JSON golden file (format in ``docs/parity.md``); returns the Golden."""
    golden = to_golden(result, meta)
    document = {
        "format": GOLDEN_FORMAT,
        "version": GOLDEN_VERSION,
        "nodes": [[node, value] for node, value in golden.nodes.items()],
        "metrics": {k: (int(v) if _is_int(v) else float(v)) for k, v in golden.metrics.items()},
        "meta": golden.meta,
    }
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(document, fh, indent=1, sort_keys=False)
        fh.write("\n")
    return golden


def load_golden(path: str | os.PathLike) -> Golden:
    """Read a golden file written by :func:`save_golden`; ValueError when it is not one."""
    where = os.fspath(path)
    try:
        with open(path, encoding="utf-8") as fh:
            document = json.load(fh)
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{where}: not a readable golden file ({exc})") from exc
    if not isinstance(document, dict) or document.get("format") != GOLDEN_FORMAT:
        raise ValueError(f"{where}: not a clematis golden file (format must be {GOLDEN_FORMAT!r})")
    if document.get("version") != GOLDEN_VERSION:
        raise ValueError(f"{where}: unsupported golden version {document.get('version')!r}")
    try:
        nodes = {node: float(value) for node, value in document["nodes"]}
        metrics = dict(document["metrics"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{where}: malformed golden file ({exc})") from exc
    return Golden(nodes, metrics, dict(document.get("meta") or {}))


# ---- documents, arrays and graphs: the comparisons of the runner's verify gate ------------------
# Numbers at the tolerance of ``_close`` where either side is a float; everything else exactly.

ABSENT = "<absent>"


@dataclass(frozen=True)
class Difference:
    """One difference: ``where`` it is (a JSON-like path: ``.merged.n1``, ``.weights[3]``) and
    the values in ``a`` and ``b`` (:data:`ABSENT` for a missing key)."""

    where: str
    a: object
    b: object


def _is_number(value) -> bool:
    return (isinstance(value, int | float | np.integer | np.floating)
            and not isinstance(value, bool | np.bool_))


def _json_diffs(a, b, atol: float, rtol: float, where: str):
    if isinstance(a, float | np.floating) or isinstance(b, float | np.floating):
        if not (_is_number(a) and _is_number(b) and _close(float(a), float(b), atol, rtol)):
            yield Difference(where, a, b)
    elif isinstance(a, Mapping) and isinstance(b, Mapping):
        for key in sorted(set(a) | set(b), key=str):
            if key not in a or key not in b:
                yield Difference(f"{where}.{key}", a.get(key, ABSENT), b.get(key, ABSENT))
            else:
                yield from _json_diffs(a[key], b[key], atol, rtol, f"{where}.{key}")
    elif isinstance(a, list | tuple) and isinstance(b, list | tuple):
        if len(a) != len(b):
            yield Difference(f"{where}[len]", len(a), len(b))
        else:
            for i, (x, y) in enumerate(zip(a, b, strict=True)):
                yield from _json_diffs(x, y, atol, rtol, f"{where}[{i}]")
    elif type(a) is not type(b) or a != b:
        yield Difference(where, a, b)


def _array_diffs(a, b, atol: float, rtol: float, where: str):
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype != b.dtype or a.shape != b.shape:
        yield Difference(f"{where}.dtype_shape", (str(a.dtype), a.shape), (str(b.dtype), b.shape))
        return
    flat_a, flat_b = a.reshape(-1), b.reshape(-1)
    exact = a.dtype.kind not in "fc"
    for i in np.flatnonzero(flat_a != flat_b).tolist():
        va, vb = flat_a[i].item(), flat_b[i].item()
        if exact or not _close(va, vb, atol, rtol):
            yield Difference(f"{where}[{i}]", va, vb)


def _limited(differences, limit: int | None) -> list[Difference]:
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise ValueError(f"limit must be an integer >= 0 or None, got {limit!r}")
    return list(itertools.islice(differences, limit))


def json_differences(a, b, *, atol: float = DEFAULT_ATOL, rtol: float = DEFAULT_RTOL,
                     limit: int | None = None) -> list[Difference]:
    """The differences between JSON values ``a`` and ``b`` (the first ``limit``): numbers where
    either is a float at ``atol``/``rtol``; keys, lengths, strings, integers, booleans exactly."""
    return _limited(_json_diffs(a, b, _check_tolerance("atol", atol), _check_tolerance("rtol", rtol), ""),
                    limit)


def array_differences(a, b, *, atol: float = DEFAULT_ATOL, rtol: float = DEFAULT_RTOL,
                      limit: int | None = None, where: str = "") -> list[Difference]:
    """The differing elements of arrays ``a`` and ``b`` (the first ``limit``, by flat index):
    float arrays at ``atol``/``rtol``, other arrays exactly; dtype and shape must match."""
    return _limited(_array_diffs(a, b, _check_tolerance("atol", atol), _check_tolerance("rtol", rtol),
                                 where), limit)


def graph_differences(a, b, *, atol: float = DEFAULT_ATOL, rtol: float = DEFAULT_RTOL,
                      limit: int | None = None) -> list[Difference]:
    """The differences between two :class:`~clematis.ConceptGraph` (the first ``limit``):
    structure (``indptr``, ``indices``, ``rel_code``), node ids, labels and relations exactly;
    edge weights and relation multipliers at ``atol``/``rtol``."""
    atol, rtol = _check_tolerance("atol", atol), _check_tolerance("rtol", rtol)
    arrays = (_array_diffs(getattr(a.arrays, name), getattr(b.arrays, name), atol, rtol, f".{name}")
              for name in ("indptr", "indices", "rel_code", "weights"))
    documents = (_json_diffs(getattr(a, name), getattr(b, name), atol, rtol, f".{name}")
                 for name in ("node_ids", "labels", "relations", "relation_multipliers"))
    return _limited(itertools.chain.from_iterable((*arrays, *documents)), limit)
