"""Graph files: atomic saves, loads that refuse every bad file with a ValueError naming it (before
allocating what the file declares), and files written by earlier versions."""

from __future__ import annotations

import io
import json
import os
import pathlib
import pickle
import re
import tracemalloc
import zipfile

import numpy as np
import pytest
from helpers import save_version_1

import clematis
from clematis import ConceptGraph
from clematis._graph_file import LOAD_MAX_EDGES, LOAD_MAX_NODES, MAX_COMPRESSION_RATIO
from clematis.parity import graph_differences, identical

DATA = pathlib.Path(__file__).resolve().parents[1] / "data"
EDGES = [("a", "b", 0.5, "supports"), ("b", "c", 0.25, "associates"), ("c", "a", 0.75, "contradicts"),
         ("a", "c", 1.0, "supports")]
SMALL_PEAK = 4 << 20  # bytes: what refusing a bad file may allocate at most


def graph() -> ConceptGraph:
    return ConceptGraph.from_edges(EDGES, labels={"a": "Alpha", "b": "Beta"},
                                   relation_multipliers={"associates": 0.5})


def npy_bytes(array) -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array(buffer, np.asanyarray(array), allow_pickle=True)
    return buffer.getvalue()


def members_of(path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def write_zip(path, members: dict[str, bytes], compression=zipfile.ZIP_STORED) -> pathlib.Path:
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def meta_of(path) -> dict:
    return json.loads(str(np.load(path)["clematis_meta"]))


def with_members(tmp_path, **replaced) -> pathlib.Path:
    """A good graph file with some members replaced (bytes, an array, or None to drop one)."""
    good = tmp_path / "good.npz"
    graph().save(good)
    members = members_of(good)
    for name, value in replaced.items():
        key = f"{name}.npy"
        if value is None:
            del members[key]
        else:
            members[key] = value if isinstance(value, bytes) else npy_bytes(value)
    return write_zip(tmp_path / "bad.npz", members)


def assert_refused(path, match: str = "", **limits) -> None:
    """ValueError naming the file (and saying ``match``), allocating little on the way."""
    tracemalloc.start()
    try:
        with pytest.raises(ValueError) as info:
            ConceptGraph.load(path, **limits)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    message = str(info.value)
    assert message.startswith(f"{os.fspath(path)}: not a readable clematis graph"), message
    assert re.search(match, message), message
    assert peak < SMALL_PEAK, f"refusing {path} allocated {peak} bytes"


class TestEarlierFiles:
    def test_a_file_written_before_the_hardening_loads_unchanged(self):
        g = ConceptGraph.load(DATA / "graph_v1.npz")
        assert (g.node_ids, g.labels, g.relations) == (["a", "b", "c"], ["Alpha", "Beta", "c"],
                                                       ["supports", "associates", "contradicts"])
        assert g.relation_multipliers == {"supports": 1.0, "associates": 0.5, "contradicts": 0.8}
        np.testing.assert_array_equal(g.arrays.indptr, [0, 2, 3, 4])
        np.testing.assert_array_equal(g.arrays.indices, [1, 2, 2, 0])
        np.testing.assert_array_equal(g.arrays.weights, np.float32([0.5, 1.0, 0.25, 0.75]))
        np.testing.assert_array_equal(g.arrays.rel_code, [0, 0, 1, 2])
        assert g.arrays.rel_code.dtype == np.uint8  # read as int32, stored as the graph holds codes

    def test_todays_save_differs_from_the_version_1_file_only_in_rel_code_and_version(self, tmp_path):
        graph().save(tmp_path / "g.npz")
        today, earlier = members_of(tmp_path / "g.npz"), members_of(DATA / "graph_v1.npz")
        changed = {"rel_code.npy", "clematis_meta.npy"}
        assert today.keys() == earlier.keys()
        assert {k: v for k, v in today.items() if k not in changed} == {
            k: v for k, v in earlier.items() if k not in changed}
        new, old = np.load(tmp_path / "g.npz"), np.load(DATA / "graph_v1.npz")
        assert (new["rel_code"].dtype, old["rel_code"].dtype) == (np.uint8, np.int32)
        assert new["rel_code"].tolist() == old["rel_code"].tolist()
        new_meta, old_meta = meta_of(tmp_path / "g.npz"), meta_of(DATA / "graph_v1.npz")
        assert (new_meta.pop("format_version"), old_meta.pop("format_version")) == (2, 1)
        assert new_meta == old_meta

    @pytest.mark.parametrize("n_relations", [3, 256, 257, 300])
    def test_a_version_1_file_loads_to_the_graph_its_version_2_file_holds(self, tmp_path, n_relations):
        relations = [f"r{i}" for i in range(n_relations)]
        multipliers = {r: 0.25 + i / 512 for i, r in enumerate(relations)}
        edges = [(f"n{i % 7}", f"n{i % 5}", 0.5 + i / 1000, relations[(i * 37) % n_relations])
                 for i in range(400)]
        g = ConceptGraph.from_edges(edges, relation_multipliers=multipliers)
        save_version_1(g, tmp_path / "v1.npz")
        g.save(tmp_path / "v2.npz")
        v1, v2 = ConceptGraph.load(tmp_path / "v1.npz"), ConceptGraph.load(tmp_path / "v2.npz")
        assert np.load(tmp_path / "v1.npz")["rel_code"].dtype == np.int32
        assert v1.arrays.rel_code.dtype == v2.arrays.rel_code.dtype == (np.uint8 if n_relations <= 256
                                                                       else np.uint16)
        assert graph_differences(v1, v2, atol=0, rtol=0) == []
        for name, array in vars(v2.arrays).items():
            assert getattr(v1.arrays, name).dtype == array.dtype, name
            np.testing.assert_array_equal(getattr(v1.arrays, name), array)
        r1, r2 = clematis.propagate(v1, ["n0"]), clematis.propagate(v2, ["n0"])
        assert identical(r1, r2) and r1.metrics["propagations"] > 10


class TestAtomicSave:
    def test_numpy_scalar_multipliers_are_plain_floats_and_save(self, tmp_path):
        g = ConceptGraph.from_edges(EDGES, relation_multipliers={"supports": np.float32(0.5)})
        assert type(g.relation_multipliers["supports"]) is float
        g.save(tmp_path / "g.npz")
        assert ConceptGraph.load(tmp_path / "g.npz").relation_multipliers["supports"] == 0.5

    def test_a_save_failing_midway_leaves_the_old_file_byte_for_byte(self, tmp_path, monkeypatch):
        path = tmp_path / "g.npz"
        ConceptGraph.from_edges(EDGES[:1]).save(path)
        before = path.read_bytes()
        real_write_array = np.lib.format.write_array
        written = []

        def fail_on_third_member(fp, array, *args, **kwargs):
            if len(written) == 2:
                fp.write(b"half a member")
                raise OSError("disk full")
            written.append(array)
            return real_write_array(fp, array, *args, **kwargs)

        monkeypatch.setattr(np.lib.format, "write_array", fail_on_third_member)
        with pytest.raises(OSError, match="disk full"):
            graph().save(path)
        assert len(written) == 2  # the failure did happen midway
        assert path.read_bytes() == before
        assert sorted(p.name for p in tmp_path.iterdir()) == ["g.npz"]  # no temporary left behind

    def test_a_failing_rename_leaves_the_old_file_and_no_temporary(self, tmp_path, monkeypatch):
        path = tmp_path / "g.npz"
        ConceptGraph.from_edges(EDGES[:1]).save(path)
        before = path.read_bytes()

        def refuse(src, dst):
            raise PermissionError("read-only target")

        monkeypatch.setattr(os, "replace", refuse)
        with pytest.raises(PermissionError):
            graph().save(path)
        assert path.read_bytes() == before
        assert sorted(p.name for p in tmp_path.iterdir()) == ["g.npz"]

    def test_save_replaces_the_target_of_a_symlink(self, tmp_path):
        target, link = tmp_path / "real.npz", tmp_path / "link.npz"
        ConceptGraph.from_edges(EDGES[:1]).save(target)
        link.symlink_to(target)
        graph().save(link)
        assert link.is_symlink()
        assert ConceptGraph.load(target).n_edges == len(EDGES)


class TestLoadRefusesBadFiles:
    def test_missing_empty_garbage_and_directory(self, tmp_path):
        (tmp_path / "empty.npz").write_bytes(b"")
        (tmp_path / "garbage.npz").write_bytes(b"PK\x03\x04" + bytes(range(256)) * 4)
        assert_refused(tmp_path / "missing.npz", "No such file")
        assert_refused(tmp_path / "empty.npz", "BadZipFile")
        assert_refused(tmp_path / "garbage.npz", "BadZipFile")
        assert_refused(tmp_path, "IsADirectoryError")

    @pytest.mark.parametrize("keep", [0.1, 0.5, 0.9, 0.99])
    def test_truncated_files(self, tmp_path, keep):
        good = tmp_path / "good.npz"
        graph().save(good)
        data = good.read_bytes()
        cut = tmp_path / "cut.npz"
        cut.write_bytes(data[:int(len(data) * keep)])
        assert_refused(cut)

    def test_a_flipped_data_byte_fails_the_crc(self, tmp_path):
        good = tmp_path / "good.npz"
        graph().save(good)
        data = bytearray(good.read_bytes())
        with zipfile.ZipFile(good) as archive:
            info = archive.getinfo("data.npy")
        data[info.header_offset + 30 + len("data.npy") + 130] ^= 0xFF  # inside the float payload
        bad = tmp_path / "bad.npz"
        bad.write_bytes(bytes(data))
        assert_refused(bad, "CRC")

    @pytest.mark.parametrize(
        ("member", "value", "match"),
        [
            ("rel_code", None, "rel_code.npy is missing"),
            ("format", np.array("csc"), "format is 'csc', expected 'csr'"),
            ("format", np.array("x" * 10_000), "format.npy holds a 40000-byte string"),
            ("indices", np.array([1.5, 2.0, 2.0, 0.0]), "indices.npy holds dtype float64; expected integers"),
            ("rel_code", np.array([0.0, 0.0, 1.0, 2.0]), "rel_code.npy holds dtype float64"),
            ("data", np.array(["a", "b", "c", "d"]), "data.npy holds dtype <U1; expected floats"),
            ("indptr", np.array([0, 2, 3, 4], dtype=object), "indptr.npy holds dtype object"),
            ("indptr", np.array([0, 2, 4]), r"indptr.npy has shape \(3,\), expected \(4,\)"),
            ("indptr", np.array([[0, 2, 3, 4]]), "indptr.npy has shape"),
            ("data", np.ones(5, np.float32), r"data.npy has shape \(5,\), expected \(4,\)"),
            ("shape", np.array([3, 4]), r"the matrix shape \(3, 4\) is not square"),
            ("shape", np.array([-1, -1]), "is not square"),
            ("indices", np.array([1, 2, 7, 0], np.int32), r"indices must lie in \[0, 3\)"),
            ("indptr", np.array([0, 3, 2, 4], np.int32), "indptr"),
            ("data", np.float32([0.5, np.nan, 1.0, 0.0]), "weights must be finite"),
            ("rel_code", np.uint8([0, 0, 9, 0]), "rel_code values must index relations"),
            ("rel_code", np.int32([0, 0, 1, 2]), "rel_code.npy holds int32; a version-2 file stores uint8"),
            ("clematis_meta", np.array("not json"), "Expecting value"),
            ("clematis_meta", np.array("[1, 2]"), "clematis_meta is a JSON list"),
            ("clematis_meta", np.array("[" * 100_000 + "]" * 100_000), "RecursionError"),
            ("clematis_meta", np.array('{"format_version": 1}'), "clematis_meta lacks node_ids"),
        ],
    )
    def test_inconsistent_members(self, tmp_path, member, value, match):
        assert_refused(with_members(tmp_path, **{member: value}), match)

    @pytest.mark.parametrize(
        ("change", "match"),
        [
            (dict(format_version=3), "unsupported graph format version 3 \\(this version reads 1, 2\\)"),
            (dict(format_version=True), "unsupported graph format version True"),
            (dict(node_ids=["a", "b"]), "node_ids must have one id per node"),
            (dict(node_ids="abc"), "node_ids must be a sequence of strings, got a str"),
            (dict(labels=[1, 2, 3]), "labels must be strings"),
            (dict(relations=["supports"]), "rel_code values must index relations"),
            (dict(relation_multipliers={"supports": "1.0"}), r"relation_multipliers\['supports'\]"),
            (dict(relation_multipliers=[]), "relation_multipliers must be a mapping"),
        ],
    )
    def test_inconsistent_metadata(self, tmp_path, change, match):
        good = tmp_path / "good.npz"
        graph().save(good)
        meta = {**meta_of(good), **change}
        assert_refused(with_members(tmp_path, clematis_meta=np.array(json.dumps(meta))), match)

    def test_a_pickled_member_is_refused_unread(self, tmp_path):
        assert_refused(with_members(tmp_path, clematis_meta=np.array([{"x": 1}], dtype=object)),
                       "holds dtype object")

    def test_a_header_declaring_more_than_the_entry_holds(self, tmp_path):
        """The ".npz declaring 200 M nodes" of issue 11: refused from the header, not allocated."""
        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(header, {"descr": "<i4", "fortran_order": False,
                                                      "shape": (200_000_001,)})
        path = with_members(tmp_path, shape=np.array([200_000_000] * 2),
                            indptr=header.getvalue() + bytes(64))
        assert_refused(path, r"indptr.npy declares shape \(200000001,\)")

    def test_a_zip_bomb_is_refused_by_its_compression_ratio(self, tmp_path):
        n = 20_000_000  # within the default limits: the ratio alone refuses it
        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(header, {"descr": "<i4", "fortran_order": False,
                                                      "shape": (n + 1,)})
        good = tmp_path / "good.npz"
        graph().save(good)
        members = members_of(good)
        members["shape.npy"] = npy_bytes(np.array([n, n]))
        members["indptr.npy"] = header.getvalue() + bytes(4 * (n + 1))
        bomb = write_zip(tmp_path / "bomb.npz", members, compression=zipfile.ZIP_DEFLATED)
        assert bomb.stat().st_size < (4 * n) // MAX_COMPRESSION_RATIO
        assert_refused(bomb, f"more than {MAX_COMPRESSION_RATIO}-fold")

    def test_forged_zip_sizes_are_refused(self, tmp_path):
        """A central directory claiming more compressed bytes than the file holds."""
        good = tmp_path / "good.npz"
        graph().save(good)
        data = bytearray(good.read_bytes())
        with zipfile.ZipFile(good) as archive:
            info = archive.getinfo("indptr.npy")
        entry = data.rindex(b"PK\x01\x02", 0, data.index(b"indptr.npy", info.header_offset + 40))
        data[entry + 20:entry + 28] = (10**9).to_bytes(4, "little") * 2  # compressed, uncompressed
        forged = tmp_path / "forged.npz"
        forged.write_bytes(bytes(data))
        assert_refused(forged, "beyond the end of the file")

    def test_limits_refuse_large_graphs_before_reading_them(self, tmp_path):
        good = tmp_path / "good.npz"
        graph().save(good)
        assert_refused(good, "3 nodes, more than max_nodes=2", max_nodes=2)
        assert_refused(good, "4 edges, more than max_edges=3", max_edges=3)
        assert ConceptGraph.load(good, max_nodes=3, max_edges=4).n_edges == 4

    def test_default_limits_admit_100_million_edge_graphs(self):
        assert LOAD_MAX_EDGES >= 100_000_000 and LOAD_MAX_NODES >= 100_000_000

    def test_bad_limits_are_type_errors(self, tmp_path):
        with pytest.raises(TypeError, match="max_nodes must be an integer"):
            ConceptGraph.load(tmp_path / "g.npz", max_nodes=1.5)


class TestValidatedConstruction:
    """The public constructor checks its arrays: bad ones raise instead of crashing the kernel."""

    @pytest.mark.parametrize(
        ("change", "error", "match"),
        [
            (dict(indices=np.array([1, 2, 2, 10**6], np.int32)), ValueError, r"indices must lie in \[0, 3\)"),
            (dict(indptr=np.array([0, 2, 3, 9], np.int32)), ValueError, "indptr"),
            (dict(weights=np.float32([0.5, 1.0])), ValueError, "weights must have one entry per edge"),
            (dict(rel_code=np.int32([0, 0, 1, 7])), ValueError, "rel_code values must index relations"),
            (dict(rel_table=np.float32([1, 1, 1])), ValueError, "rel_table must be the float32 multiplier"),
            (dict(rel_table=np.float32([1, 0.5])), ValueError, "rel_table must be the float32 multiplier"),
            (dict(tie_pos=np.int32([2, 1, 0])), ValueError, "arrays.tie_pos does not match"),
            (dict(node_of_pos=np.int32([0, 1])), ValueError, "arrays.node_of_pos does not match"),
            (dict(key_rank=np.int32([0, 1])), ValueError, "key_rank must have one entry per node"),
            (dict(weights=np.ma.array([0.5, 1.0, 0.25, 0.75], mask=[0, 1, 0, 0])), TypeError,
             "weights is a masked array"),
        ],
    )
    def test_bad_arrays_raise(self, change, error, match):
        g = graph()
        a = g.arrays
        fields = {name: getattr(a, name) for name in vars(a)}
        with pytest.raises(error, match=match):
            ConceptGraph(type(a)(**{**fields, **change}), g.node_ids, g.labels, g.relations,
                         g.relation_multipliers)

    def test_not_csr_arrays(self):
        with pytest.raises(TypeError, match="arrays must be a CSRArrays"):
            ConceptGraph({"indptr": [0]}, None, [""], ["supports"], {"supports": 1.0})

    def test_good_arrays_give_the_same_graph_and_writable_ones_are_copied(self):
        g = graph()
        fields = {name: np.array(getattr(g.arrays, name)) for name in vars(g.arrays)}  # writable
        rebuilt = ConceptGraph(type(g.arrays)(**fields), g.node_ids, g.labels, g.relations,
                               g.relation_multipliers)
        fields["indices"][:] = 10**6  # the caller's arrays no longer matter
        r1 = clematis.propagate(g, ["a"], queue_budget=100)
        r2 = clematis.propagate(rebuilt, ["a"], queue_budget=100)
        np.testing.assert_array_equal(r1.nodes, r2.nodes)
        np.testing.assert_array_equal(r1.values.view(np.int32), r2.values.view(np.int32))
        assert not rebuilt.arrays.indices.flags.writeable

    def test_pickled_graphs_keep_their_arrays(self):
        g = graph()
        copy = pickle.loads(pickle.dumps(g))
        np.testing.assert_array_equal(copy.arrays.indices, g.arrays.indices)
        assert copy.relation_multipliers == g.relation_multipliers


def test_deflated_files_written_by_other_tools_still_load(tmp_path):
    """As numpy.savez_compressed writes them."""
    good = tmp_path / "good.npz"
    graph().save(good)
    compressed = write_zip(tmp_path / "deflated.npz", members_of(good), compression=zipfile.ZIP_DEFLATED)
    assert ConceptGraph.load(compressed).node_ids == ["a", "b", "c"]
