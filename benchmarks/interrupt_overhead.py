"""What the interrupt check costs (issue 11, item 1: at most 1 %), in instructions.

Builds the T1 kernel twice from this checkout in a temporary folder, with the check
(``-DCLEMATIS_INTERRUPT_CHECK=1``, the default) and without it (``=0``), runs the 24-seed
perf-smoke query unbounded (``queue_budget=0``) once under callgrind with each build, collecting
inside the compiled call only, checks that both builds return the same bits, and prints the
instruction counts and their ratio. Needs valgrind and a C compiler; takes a few minutes.

    python benchmarks/interrupt_overhead.py
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from callgrind import NATIVE_QUERY_ENTRY

REPO = Path(__file__).resolve().parents[1]
SOURCES = ("clematis", "setup.py", "pyproject.toml", "README.md", "MANIFEST.in", "LICENSE")
NOT_SOURCE = shutil.ignore_patterns("*.so", "*.pyd", "*.c", "__pycache__")
SEEDS = 24
# callgrind collects inside the compiled call the worker makes (Query.run_validated calls
# CompiledQuery.run: its Cython wrapper and everything it calls)
KERNEL_CALL = NATIVE_QUERY_ENTRY
VARIANTS = {"with check": "1", "without check": "0"}


def build(dest: Path, check: str) -> Path:
    """This checkout's package with the kernels compiled in place, the check on (``"1"``) or off."""
    dest.mkdir(parents=True)
    for name in SOURCES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, dest / name, ignore=NOT_SOURCE)
        elif source.exists():
            shutil.copy2(source, dest / name)
    env = {**os.environ, "CFLAGS": f"{os.environ.get('CFLAGS', '')} -DCLEMATIS_INTERRUPT_CHECK={check}"}
    subprocess.run([sys.executable, "setup.py", "-q", "build_ext", "--inplace"], cwd=dest, env=env,
                   check=True, stdout=subprocess.DEVNULL)
    return dest


def instructions(package_root: Path, workdir: Path) -> tuple[int, str]:
    """Instructions inside one compiled call of the query, and the digest of its result."""
    out = workdir / f"callgrind.{package_root.name}.out"
    result = subprocess.run(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", f"--toggle-collect={KERNEL_CALL}",
         sys.executable, __file__, "--worker", str(package_root)],
        check=True, capture_output=True, text=True,
    )
    totals = re.search(r"^(?:totals|summary): (\d+)", out.read_text(), re.MULTILINE)
    if totals is None:
        raise RuntimeError(f"no instruction total in {out}")
    return int(totals.group(1)), result.stdout.strip()


def worker(package_root: Path) -> None:
    """Run the query once with the package built in ``package_root``; print its digest."""
    sys.path.insert(0, str(package_root))
    import numpy as np
    from t1_workloads import first_seeds, smoke_graph

    import clematis
    from clematis.api import Query

    if not Path(clematis.__file__).is_relative_to(package_root):
        raise RuntimeError(f"imported {clematis.__file__}, not the build in {package_root}")
    query = Query(smoke_graph(), backend="native", queue_budget=0)
    result = query.run_validated(*query.seeds(first_seeds(SEEDS)))
    digest = hashlib.sha256(result.nodes.tobytes() + np.asarray(result.values).tobytes()
                            + json.dumps(result.metrics).encode()).hexdigest()
    print(f"{digest} pops={result.metrics['pops']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker)
        return 0
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed (apt-get install valgrind)")
    with tempfile.TemporaryDirectory(prefix="clematis-interrupt-") as tmp:
        counts = {}
        for name, check in VARIANTS.items():
            root = build(Path(tmp) / f"check{check}", check)
            counts[name] = instructions(root, Path(tmp))
    (with_check, digest_on), (without, digest_off) = counts["with check"], counts["without check"]
    if digest_on != digest_off:
        sys.exit(f"MISMATCH: the builds with and without the check differ ({digest_on} != {digest_off})")
    print(f"perf-smoke graph, seeds 0..{SEEDS - 1}, queue_budget=0 ({digest_on.split()[1]}), "
          "instructions in one compiled call (callgrind):")
    print(f"  without the interrupt check {without:15,}")
    print(f"  with the interrupt check    {with_check:15,}")
    ratio = with_check / without
    print(f"  ratio {ratio:.4f} (overhead {100 * (ratio - 1):+.2f} %, target <= 1 %)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
