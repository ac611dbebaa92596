"""The benchmark tooling: every benchmark file is collected, the callgrind pattern finds the kernel."""

from __future__ import annotations

import ast
import importlib.util
import pathlib
import shutil
import subprocess
import sys

import kernel_ab
import pytest
from callgrind import NATIVE_KERNEL_ENTRY, event_totals, function_symbols, matching_functions
from helpers import REPO

BENCHMARKS = REPO / "benchmarks"
TESTS = REPO / "tests"


def imports_from_tests(path: pathlib.Path, test_modules: set[str]) -> list[str]:
    """The test modules a Python file imports, or loads by a path through tests/."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names if alias.name.split(".")[0] in test_modules]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            found += [node.module] if node.module.split(".")[0] in test_modules else []
        elif isinstance(node, ast.Constant) and node.value in ("tests", "conftest.py"):
            found.append(f"path {node.value!r} (line {node.lineno})")
    return found


def test_benchmarks_import_nothing_from_tests():
    test_modules = {"tests", *(path.stem for path in TESTS.rglob("*.py"))}
    found = {str(path.relative_to(REPO)): imports_from_tests(path, test_modules)
             for path in BENCHMARKS.rglob("*.py")}
    assert {path: names for path, names in found.items() if names} == {}


def test_every_benchmark_file_is_collected(tmp_path):
    # from outside the checkout, whose clematis/ would shadow the installed package
    listing = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:randomly",
                              str(BENCHMARKS)], cwd=tmp_path, capture_output=True, text=True,
                             check=True).stdout
    collected = {line.split("::")[0] for line in listing.splitlines() if "::" in line}
    files = sorted({*BENCHMARKS.glob("bench_*.py"), *BENCHMARKS.glob("test_bench_*.py")})
    assert files, "benchmarks/ has no benchmark files"
    assert [f for f in files if str(f.relative_to(REPO)) not in collected] == []


def installed_kernel() -> pathlib.Path:
    return pathlib.Path(importlib.util.find_spec("clematis._kernels._t1").origin)


@pytest.mark.skipif(not sys.platform.startswith("linux") or shutil.which("nm") is None,
                    reason="callgrind and the ELF symbol table: Linux with binutils' nm")
def test_the_callgrind_pattern_names_the_kernel_entry_point(native_required):
    entries = matching_functions(NATIVE_KERNEL_ENTRY, function_symbols(installed_kernel()))
    assert entries, f"{NATIVE_KERNEL_ENTRY!r} matches no function of {installed_kernel()}"
    # callgrind toggles collection, it does not nest: a match must not be the fused dispatcher,
    # which calls the specialisations' wrappers
    assert all(name.startswith("__pyx_fuse_") for name in entries), entries


@pytest.mark.parametrize("name", ["run_t1", "propagate_batch"])
def test_the_pattern_does_not_match_other_kernel_functions(name):
    dispatcher = f"__pyx_pw_8clematis_8_kernels_3_t1_1{name}"
    loop = f"__pyx_fuse_0__pyx_f_8clematis_8_kernels_3_t1_{name}"
    assert matching_functions(NATIVE_KERNEL_ENTRY, [dispatcher, loop]) == []


def test_no_instructions_counted_is_an_error(tmp_path):
    out = tmp_path / "callgrind.out"
    out.write_text("version: 1\ncreator: callgrind\nevents: Ir\nsummary: 0\ntotals: 0\n")
    with pytest.raises(RuntimeError, match="matches no function"):
        event_totals(out, NATIVE_KERNEL_ENTRY)
    out.write_text("version: 1\nevents: Ir D1mr\nsummary: 1234 5\n")
    assert event_totals(out, NATIVE_KERNEL_ENTRY) == {"Ir": 1234, "D1mr": 5}


def test_kernel_ab_compares_the_installed_kernel_with_a_copy(native_required, tmp_path, capsys):
    copy = tmp_path / installed_kernel().name
    shutil.copy(installed_kernel(), copy)
    assert kernel_ab.main([str(copy), "--seeds", "2", "--pairs", "3"]) == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith("seeds 0..1, 3 pairs: A ") and " median B/A " in line, line
    assert kernel_ab.main([str(copy), "--small", "--pairs", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(",")[0] for line in lines] == ["run_indices", "run", "run_batch"], lines
    assert all(f"one query x {kernel_ab.SMALL_CALLS}, 1 pairs: A " in line for line in lines), lines


def test_kernel_ab_names_a_missing_build(tmp_path):
    with pytest.raises(ValueError, match="no such kernel build"):
        kernel_ab.load_build(tmp_path / "missing.so")
