"""Callgrind instruction counts inside one compiled call, shared by ``compare.py`` and
``abi3_vs_specific.py``; the function patterns live here only.

callgrind's ``--toggle-collect=PATTERN`` flips collection on at the entry of a matching function
and off at its exit; it does not nest, so a pattern must match the outermost compiled function of
a call and nothing it calls. For the T1 kernel that is Cython's wrapper of each fused (int32,
int64) specialisation of ``propagate_batch``: it covers argument unpacking, buffer access, the
``run_t1_batch``/``run_t1`` loop and the output arrays. The fused dispatcher
(``__pyx_pw_..._1propagate_batch``, which calls a specialisation's wrapper) must not match, nor
``run_t1``: either would switch collection off inside the call. ``tests/test_bench_tools.py``
checks the pattern against the symbol table of the built kernel.
"""

from __future__ import annotations

import fnmatch
import re
import shutil
import subprocess
from pathlib import Path

NATIVE_KERNEL_ENTRY = "__pyx_fuse_*__pyx_pw_*_t1_*propagate_batch"
# The Python wrappers of CompiledQuery.run, .run_indices and .run_batch: what Query.run and
# propagate call; each covers its call as the one above does (the methods call no other wrapper).
NATIVE_QUERY_ENTRY = "__pyx_pw_*_t1_*CompiledQuery_*run*"
C_BASELINE_ENTRY = "ffi_call"  # libffi: callgrind sees no call into the ctypes-loaded C kernel


def callgrind_command(pattern: str, out: Path, *options: str) -> list[str]:
    """The valgrind command line that counts events inside functions matching ``pattern``."""
    return ["valgrind", "--tool=callgrind", "--quiet", f"--toggle-collect={pattern}",
            f"--callgrind-out-file={out}", *options]


def event_totals(out: Path, pattern: str) -> dict[str, int]:
    """Event name -> total of a callgrind output file; RuntimeError when nothing was counted."""
    text = out.read_text()
    events = re.search(r"^events: (.+)$", text, re.MULTILINE)
    totals = re.search(r"^(?:totals|summary): (.+)$", text, re.MULTILINE)
    if events is None or totals is None:
        raise RuntimeError(f"no event totals in {out}")
    counts = dict(zip(events.group(1).split(), map(int, totals.group(1).split()), strict=False))
    if not counts.get("Ir"):
        raise RuntimeError(f"callgrind counted no instructions inside {pattern!r}: the pattern matches "
                           "no function that ran (see benchmarks/callgrind.py)")
    return counts


def function_symbols(library: Path) -> list[str]:
    """Names of the functions defined in a shared library's symbol table (``nm``)."""
    nm = shutil.which("nm")
    if nm is None:
        raise RuntimeError("nm (binutils) is not installed")
    listing = subprocess.run([nm, "--defined-only", str(library)], capture_output=True, text=True,
                             check=True).stdout
    return [fields[2] for fields in map(str.split, listing.splitlines())
            if len(fields) == 3 and fields[1] in "tT"]


def matching_functions(pattern: str, names: list[str]) -> list[str]:
    """The names callgrind's ``--toggle-collect`` pattern (``*`` and ``?`` wildcards) matches."""
    return [name for name in names if fnmatch.fnmatchcase(name, pattern)]
