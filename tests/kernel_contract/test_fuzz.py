"""Fuzzing the entry points: malformed input is a clear error, valid input is bit-identical.

Malformed graphs, seeds, parameters, graph files and configs must raise ValueError/TypeError
(ConfigError for configs) with the same message on both backends; whatever is accepted must give
the same bits on both. ``make test`` runs a short derandomized pass (a few hundred inputs);
``make fuzz`` runs ``CLEMATIS_FUZZ_EXAMPLES`` inputs per test, randomized, and prints the tally.
"""

from __future__ import annotations

import json
import operator
import os
import pathlib
import tempfile
import zipfile
from collections import Counter

import numpy as np
import pytest
import scipy.sparse as sp
from helpers import identical
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as npst

import clematis
from clematis import ConceptGraph
from clematis.config import ConfigError, load_config
from clematis.t1 import propagate_one_graph

FUZZ = int(os.environ.get("CLEMATIS_FUZZ_EXAMPLES", "0"))
MAX_QUEUE_BUDGET = 500  # every query that runs is bounded: fuzzing never waits on a long one
TALLY = Counter(dict.fromkeys(["inputs tried", "clear errors", "accepted", "other exceptions",
                                "mismatches"], 0))


def fuzz_settings(quick: int):
    return settings(max_examples=FUZZ or quick, derandomize=not FUZZ, deadline=None,
                    suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module", autouse=True)
def report_tally(request):
    yield
    plugins = request.config.pluginmanager
    reporter, capture = plugins.get_plugin("terminalreporter"), plugins.get_plugin("capturemanager")
    if FUZZ and reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line("\nfuzz tally: " + ", ".join(f"{key} {n}" for key, n in TALLY.items()))


def outcome(call, clear=(ValueError, TypeError)):
    """``("ok", result)`` or ``("error", type, message)`` for a clear error; anything else is
    counted and raised."""
    try:
        return ("ok", call())
    except clear as exc:
        return ("error", type(exc), str(exc))
    except Exception:
        TALLY["other exceptions"] += 1
        raise


def counted(result: tuple) -> tuple:
    TALLY["inputs tried"] += 1
    TALLY["accepted" if result[0] == "ok" else "clear errors"] += 1
    return result


def same_on_both_backends(run) -> tuple:
    """``run(backend)`` on python and native: the same clear error, or the same bits."""
    python, native = outcome(lambda: run("python")), outcome(lambda: run("native"))
    if python[0] == native[0] == "ok":
        same = identical(python[1], native[1])
    else:
        same = python == native
    if not same:
        TALLY["mismatches"] += 1
    assert same, (python, native)
    return counted(python)


def as_triple(result) -> tuple:
    return result.nodes, result.values, result.metrics


# ---- junk ---------------------------------------------------------------------------------

DTYPES = ["int8", "int16", "int32", "int64", "uint8", "uint64", "float16", "float32", "float64",
          "bool", "complex64", "<U3"]
junk_arrays = npst.arrays(dtype=st.sampled_from(DTYPES), shape=npst.array_shapes(min_dims=0, max_dims=2,
                                                                                 min_side=0, max_side=6))
junk_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-2**70, 2**70), st.integers(-3, 8),
    st.floats(allow_nan=True, allow_infinity=True), st.floats(-2, 2), st.text(max_size=4),
    st.binary(max_size=4), st.sampled_from([np.float32(0.5), np.int64(3), np.bool_(True), 1 + 2j]),
)
junk = st.one_of(
    junk_scalars, junk_arrays,
    st.lists(st.one_of(st.integers(-4, 8), st.floats(-2, 2), st.text(max_size=2), st.none()), max_size=6),
    st.builds(lambda v, m: np.ma.array(v, mask=m), st.lists(st.floats(-1, 1), min_size=2, max_size=2),
              st.lists(st.booleans(), min_size=2, max_size=2)),
    st.dictionaries(st.text(max_size=3), st.integers(0, 3), max_size=3),
)


def is_count(value) -> bool:
    if isinstance(value, bool | np.bool_):
        return False
    try:
        return operator.index(value) >= 0
    except TypeError:
        return False


@st.composite
def perturbed(draw, array: np.ndarray):
    """``array`` changed in one way that validation must catch or accept consistently."""
    kind = draw(st.sampled_from(["junk", "drop", "append", "fraction", "strings", "poke", "2d",
                                 "masked", "list", "cast", "object"]))
    if kind == "junk":
        return draw(junk)
    if kind == "drop":
        return array[:-1]
    if kind == "append":
        return np.append(array, draw(st.integers(-3, 40)))
    if kind == "fraction":
        return array.astype(np.float64) + draw(st.sampled_from([0.0, 0.5]))
    if kind == "strings":
        return array.astype(str)
    if kind == "poke" and array.size:
        out = array.astype(np.float64) if draw(st.booleans()) else array.copy()
        value = draw(st.one_of(st.integers(-3, 40), st.sampled_from([np.nan, np.inf, 1e39, -0.0])))
        position = draw(st.integers(0, array.size - 1))
        with np.errstate(invalid="ignore", over="ignore"):
            out[position] = value if out.dtype.kind == "f" else int(np.clip(np.nan_to_num(value), -3, 40))
        return out
    if kind == "2d":
        return array.reshape(1, -1)
    if kind == "masked":
        return np.ma.array(array)
    if kind == "list":
        return array.tolist()
    if kind == "cast":
        return array.astype(draw(st.sampled_from(DTYPES)))
    if kind == "object":
        return array.astype(object)
    return array


# ---- valid problems -----------------------------------------------------------------------

@st.composite
def raw_problems(draw):
    """Valid ``propagate_one_graph`` arguments on a small random graph (bounded work)."""
    n = draw(st.integers(1, 12))
    m = draw(st.integers(0, 3 * n))
    src = np.sort(np.array(draw(st.lists(st.integers(0, n - 1), min_size=m, max_size=m)), dtype=np.int64))
    index_dtype = draw(st.sampled_from([np.int32, np.int64]))
    indptr = np.zeros(n + 1, dtype=index_dtype)
    np.cumsum(np.bincount(src, minlength=n), out=indptr[1:])
    floats = st.floats(-1, 1, width=32)
    arrays = dict(
        indptr=indptr,
        indices=np.array(draw(st.lists(st.integers(0, n - 1), min_size=m, max_size=m)), dtype=index_dtype),
        weights=np.array(draw(st.lists(floats, min_size=m, max_size=m)), dtype=np.float32),
        rel_code=np.zeros(m, np.int32),
        rel_mult=np.array(draw(st.lists(st.sampled_from([1.0, 0.6, 0.8]), min_size=m, max_size=m)),
                          np.float32),
        seed_nodes=np.array(draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=4)), dtype=np.int64),
        key_rank=np.array(draw(st.lists(st.integers(0, 3), min_size=n, max_size=n)), dtype=np.int32),
    )
    arrays["seed_weights"] = np.ones(arrays["seed_nodes"].shape[0], np.float32)
    params = dict(rate=draw(st.floats(0, 1)), floor=draw(st.sampled_from([0.0, 0.05])),
                  radius_cap=draw(st.integers(0, 6)), iter_cap_layers=draw(st.integers(0, 6)),
                  node_budget=draw(st.sampled_from([0.5, 1.5, 10.0])),
                  frontier_cap=draw(st.sampled_from([0, 2, 10])), visited_cap=draw(st.sampled_from([0, 3])),
                  dedupe_window=draw(st.sampled_from([0, 2])), relax_cap=draw(st.sampled_from([0, 20])),
                  queue_budget=draw(st.integers(1, MAX_QUEUE_BUDGET)))
    return arrays, params


ARRAY_ARGS = ("indptr", "indices", "weights", "rel_code", "rel_mult", "seed_nodes", "seed_weights",
              "key_rank")


def run_raw(arrays, params, backend):
    return propagate_one_graph(*(arrays[name] for name in ARRAY_ARGS), backend=backend, **params)


@st.composite
def concept_graphs(draw):
    """A valid random ConceptGraph with string ids, relations and custom multipliers."""
    ids = draw(st.lists(st.text("abcxyz:", min_size=1, max_size=3), min_size=1, max_size=10, unique=True))
    relations = ["supports", "associates", "contradicts", "mentions"]
    edges = draw(st.lists(st.tuples(st.sampled_from(ids), st.sampled_from(ids),
                                    st.floats(-1, 1, width=32), st.sampled_from(relations)), max_size=30))
    multipliers = {"mentions": draw(st.sampled_from([0.25, np.float32(0.3), 2]))}
    return ConceptGraph.from_edges(edges, nodes=ids, relation_multipliers=multipliers,
                                   labels={i: i.upper() for i in ids[::2]})


decay_params = st.one_of(
    st.just({}),
    st.fixed_dictionaries({"decay": st.just("exp_floor")}, optional={"rate": st.floats(0, 1)}),
    st.fixed_dictionaries({"decay": st.just("attn_quad")}, optional={"alpha": st.floats(0, 4)}),
)
query_params = st.builds(lambda caps, decay: {**caps, **decay}, st.fixed_dictionaries({
    "radius_cap": st.integers(0, 6), "queue_budget": st.integers(1, MAX_QUEUE_BUDGET),
    "frontier_cap": st.sampled_from([0, 3, 50]), "dedupe_window": st.sampled_from([0, 4]),
}), decay_params)


# ---- malformed input: the same clear error on both backends --------------------------------

@pytest.mark.native
@fuzz_settings(80)
@given(raw_problems(), st.data())
def test_malformed_kernel_arguments_fail_alike_on_both_backends(problem, data):
    arrays, params = problem
    for name in data.draw(st.lists(st.sampled_from(ARRAY_ARGS), min_size=1, max_size=2, unique=True)):
        arrays[name] = data.draw(perturbed(arrays[name]), label=name)
    for name in data.draw(st.lists(st.sampled_from(sorted(params)), max_size=2, unique=True)):
        value = data.draw(junk_scalars, label=name)
        params[name] = value % MAX_QUEUE_BUDGET + 1 if name == "queue_budget" and is_count(value) else value
    same_on_both_backends(lambda backend: run_raw(arrays, params, backend))


@pytest.mark.native
@fuzz_settings(40)
@given(concept_graphs(), st.data())
def test_malformed_seeds_and_parameters_fail_alike_on_both_backends(graph, data):
    seeds = data.draw(st.one_of(junk, st.lists(st.one_of(st.sampled_from(graph.node_ids), st.text(max_size=3),
                                                         st.integers(-2, graph.n_nodes + 1)), max_size=4),
                                st.dictionaries(st.sampled_from(graph.node_ids), junk_scalars, max_size=3)),
                      label="seeds")
    weights = data.draw(st.one_of(st.none(), junk), label="seed_weights")
    params = data.draw(query_params, label="params")
    for name in data.draw(st.lists(st.sampled_from(["decay", "rate", "floor", "alpha", "radius_cap",
                                                    "node_budget", "visited_cap", "relax_cap", "colour"]),
                                   max_size=2, unique=True)):
        params[name] = data.draw(junk_scalars, label=name)
    same_on_both_backends(lambda backend: as_triple(
        clematis.propagate(graph, seeds, weights, backend=backend, **params)))


@pytest.mark.native
@fuzz_settings(50)
@given(raw_problems(), st.data())
def test_malformed_graphs_are_clear_errors_or_valid_graphs(problem, data):
    arrays, _ = problem
    n = arrays["indptr"].shape[0] - 1
    kwargs = {}
    fields = ["rel_code", "node_ids", "labels", "relations", "relation_multipliers", "weights"]
    for name in data.draw(st.lists(st.sampled_from(fields), max_size=2, unique=True)):
        if name == "rel_code":
            kwargs[name] = data.draw(perturbed(arrays["rel_code"]), label=name)
        elif name == "weights":
            arrays["weights"] = data.draw(perturbed(arrays["weights"]), label=name)
        elif name == "relation_multipliers":
            kwargs[name] = data.draw(st.one_of(junk, st.dictionaries(st.text(max_size=9), junk_scalars,
                                                                     max_size=2)), label=name)
        else:
            kwargs[name] = data.draw(st.one_of(junk, st.lists(st.text(max_size=2), min_size=n, max_size=n)),
                                     label=name)

    def build():
        matrix = sp.csr_array((arrays["weights"], arrays["indices"], arrays["indptr"]), shape=(n, n))
        return ConceptGraph.from_csr(matrix, **kwargs)

    try:
        matrix_ok = sp.csr_array((arrays["weights"], arrays["indices"], arrays["indptr"]), shape=(n, n))
    except Exception:  # noqa: BLE001 - SciPy refused the matrix itself: not clematis input
        matrix_ok = None
    built = counted(outcome(build)) if matrix_ok is not None else ("skipped",)
    if built[0] == "ok":
        same_on_both_backends(lambda backend: as_triple(
            clematis.propagate(built[1], [0], backend=backend, queue_budget=MAX_QUEUE_BUDGET)))


edge_records = st.one_of(
    st.tuples(st.text("ab", max_size=2), st.text("ab", max_size=2), st.floats(-1, 1), st.sampled_from(
        ["supports", "associates"])),
    junk, st.tuples(junk_scalars, junk_scalars, junk_scalars, junk_scalars),
    st.lists(st.text("ab", max_size=1), max_size=5),
)


@fuzz_settings(40)
@given(st.one_of(st.lists(edge_records, max_size=5), junk), st.one_of(st.none(), junk),
       st.one_of(st.none(), junk), st.one_of(st.none(), junk))
def test_malformed_edge_lists_are_clear_errors_or_valid_graphs(edges, labels, nodes, multipliers):
    built = counted(outcome(lambda: ConceptGraph.from_edges(edges, labels=labels, nodes=nodes,
                                                            relation_multipliers=multipliers)))
    if built[0] == "ok" and built[1].n_nodes:
        same_on_both_backends(lambda backend: as_triple(
            clematis.propagate(built[1], [0], backend=backend, queue_budget=MAX_QUEUE_BUDGET)))


# ---- files ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def workdir():
    with tempfile.TemporaryDirectory() as folder:
        yield pathlib.Path(folder)


@pytest.fixture(scope="module")
def good_file(workdir) -> pathlib.Path:
    path = workdir / "good.npz"
    ConceptGraph.from_edges([("a", "b", 0.5, "supports"), ("b", "c", 0.25, "associates"),
                             ("c", "a", 0.75, "contradicts")]).save(path)
    return path


byte_mutations = st.lists(st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 10**6), st.integers(1, 255)),
    st.tuples(st.just("cut"), st.integers(0, 10**6), st.just(0)),
    st.tuples(st.just("insert"), st.integers(0, 10**6), st.integers(0, 255)),
    st.tuples(st.just("int"), st.integers(0, 10**6), st.sampled_from([0, 1, 2**31 - 1, 2**32 - 1, 10**6])),
), min_size=1, max_size=4)


def mutate(data: bytes, mutations) -> bytes:
    out = bytearray(data)
    for kind, position, value in mutations:
        at = position % (len(out) + 1)
        if kind == "flip" and at < len(out):
            out[at] ^= value
        elif kind == "cut":
            del out[at:]
        elif kind == "insert":
            out[at:at] = bytes([value])
        elif kind == "int":
            out[at:at + 4] = value.to_bytes(4, "little")
    return bytes(out)


def check_loaded(path: pathlib.Path) -> None:
    loaded = counted(outcome(lambda: ConceptGraph.load(path)))
    if loaded[0] == "error":
        assert loaded[1] is ValueError, loaded
        assert loaded[2].startswith(f"{path}: not a readable clematis graph"), loaded
    elif loaded[1].n_nodes:
        same_on_both_backends(lambda backend: as_triple(
            clematis.propagate(loaded[1], [0], backend=backend, queue_budget=MAX_QUEUE_BUDGET)))


@pytest.mark.native
@fuzz_settings(60)
@given(byte_mutations)
def test_mutated_graph_files_are_clear_errors_or_valid_graphs(workdir, good_file, mutations):
    path = workdir / "mutated.npz"
    path.write_bytes(mutate(good_file.read_bytes(), mutations))
    check_loaded(path)


@fuzz_settings(40)
@given(st.sampled_from(["format", "shape", "indptr", "indices", "data", "rel_code", "clematis_meta"]),
       st.one_of(junk_arrays, st.text(max_size=30).map(np.array)), st.booleans())
def test_graph_files_with_replaced_members_are_clear_errors(workdir, good_file, member, value, deflate):
    path = workdir / "replaced.npz"
    with zipfile.ZipFile(good_file) as good:
        members = {name: good.read(name) for name in good.namelist()}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED) as archive:
        for name, data in members.items():
            if name == f"{member}.npy":
                with archive.open(name, "w") as fh:
                    np.lib.format.write_array(fh, value)
            else:
                archive.writestr(name, data)
    check_loaded(path)


GOOD_CONFIG = """\
t1:
  decay: {mode: exp_floor, rate: 0.6, floor: 0.05}
  edge_type_mult: {supports: 1.0, associates: 0.6, mentions: 0.3}
  radius_cap: 4
  node_budget: 1.5
  queue_budget: 10000
perf:
  t1:
    caps: {frontier: &cap 64, visited: *cap}
    dedupe_window: 8
  native:
    t1: {backend: native, strict_parity: false}
gel:
  enabled: true
  decay: {rate: 0.95, floor: 0.0}
"""
YAML_BITS = list(":-[]{}&*!#|>'\",?%@`\t\n ") + ["\x00", "\x85", "\ufeff", "<<", "!!int", "*cap", "&x", "---",
                                                 "1e999", "2001-02-30", "0x1F", "~", "null", "\u2028"]


@fuzz_settings(60)
@given(st.lists(st.tuples(st.integers(0, len(GOOD_CONFIG)), st.one_of(st.sampled_from(YAML_BITS),
                                                                         st.integers(0, 8))), min_size=1,
                max_size=5),
       st.one_of(st.none(), st.binary(min_size=1, max_size=2)))
def test_mutated_configs_are_config_errors_or_valid_configs(workdir, edits, raw_bytes):
    text = GOOD_CONFIG
    for position, edit in edits:
        at = position % (len(text) + 1)
        text = text[:at] + edit + text[at:] if isinstance(edit, str) else text[:at] + text[at + edit:]
    data = text.encode("utf-8", "surrogatepass") + (raw_bytes or b"")
    path = workdir / "mutated.yaml"
    path.write_bytes(data)
    result = counted(outcome(lambda: load_config(path), clear=ConfigError))
    if result[0] == "error":
        message = result[2]
        assert message.startswith(f"invalid config {path}"), message
        assert all(len(line) < 300 + len(str(path)) for line in message.splitlines()), message
    else:
        assert load_config(result[1]) == result[1]


# ---- valid input: the same bits on both backends -----------------------------------------

@pytest.mark.native
@fuzz_settings(50)
@given(concept_graphs(), query_params, st.data())
def test_valid_queries_are_bit_identical_and_survive_a_save(workdir, graph, params, data):
    seeds = data.draw(st.lists(st.sampled_from(graph.node_ids), min_size=1, max_size=4), label="seeds")
    first = same_on_both_backends(lambda backend: as_triple(
        clematis.propagate(graph, seeds, backend=backend, **params)))
    assert first[0] == "ok", first
    path = workdir / "valid.npz"
    graph.save(path)
    reloaded = ConceptGraph.load(path)
    assert json.dumps(reloaded.relation_multipliers) == json.dumps(graph.relation_multipliers)
    again = as_triple(clematis.propagate(reloaded, seeds, backend="native", **params))
    assert identical(first[1], again)
