"""Stage coverage: who drives each stage, whether its kernel runs here, and whether its parity
check passed on this build.

Certification is measured, not declared: the packaged demo dataset is run through the chain
once with the Python backend and once with the native one, and a stage is parity-certified when
its artifacts are byte-identical between the two runs (and, for a native-driven stage, when the
native run really used the compiled kernel).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from .. import _backend
from .chain import (
    FIRST_STAGE,
    LAST_STAGE,
    STAGES,
    RunOptions,
    Stage,
    StageFailed,
    check_step_range,
    run_chain,
)
from .dataset import open_dataset, write_demo_dataset

KERNEL_AVAILABLE = {
    "clematis._kernels._t1": _backend.native_available,
    "clematis._kernels._gel": _backend.gel_native_available,
}
PARITY_CASE = "packaged demo dataset, chain run with --backend python and with --backend native"


def _run_case(root: Path, backend: str) -> dict:
    # The native case runs on the default backend: native wherever a kernel imports, so a
    # missing kernel shows as a stage that ran python rather than as an error.
    options = RunOptions(backend=None if backend == "native" else backend)
    return run_chain(open_dataset(write_demo_dataset(root)), FIRST_STAGE, LAST_STAGE, options,
                     progress=False)


def _certify(stage: Stage, roots: dict[str, Path], native_report: dict) -> tuple[bool, str]:
    ran = [step for step in native_report["ran"] if step["stage"] == stage.number]
    if stage.kernel is not None:
        used = {b for step in ran for b in (step.get("backend") or []) if b}
        if used != {"native"}:
            return False, f"the native run used {sorted(used) or 'no'} backend(s), not the compiled kernel"
    written = sorted({rel for step in ran for rel in step["writes"]})
    differing = [rel for rel in written
                 if (roots["python"] / rel).read_bytes() != (roots["native"] / rel).read_bytes()]
    if differing:
        return False, f"{len(differing)} of {len(written)} file(s) differ, e.g. {differing[0]}"
    return True, f"{len(written)} file(s) byte-identical"


def coverage(start: int = FIRST_STAGE, end: int = LAST_STAGE) -> dict:
    """The coverage report of stages ``start..end`` as a JSON-able dict (the parity case always
    runs the whole chain: a stage's inputs come from the stages before it)."""
    check_step_range(start, end)
    with tempfile.TemporaryDirectory(prefix="clematis-coverage-") as tmp:
        roots = {b: Path(tmp) / b for b in ("python", "native")}
        reports: dict[str, dict] = {}
        failure = None
        for backend, root in roots.items():
            try:
                reports[backend] = _run_case(root, backend)
            except StageFailed as exc:
                failure = failure or f"{backend} run failed: {exc}"
        stages = []
        for stage in STAGES[start - 1:end]:
            certified, detail = ((False, failure) if failure is not None
                                 else _certify(stage, roots, reports["native"]))
            stages.append({
                "stage": stage.number, "name": stage.name, "scope": stage.scope,
                "description": stage.description, "driver": stage.driver, "kernel": stage.kernel,
                "native_executable": stage.kernel is not None and KERNEL_AVAILABLE[stage.kernel](),
                "parity_certified": certified, "parity_detail": detail,
            })
    return {"steps": [start, end], "parity_case": PARITY_CASE, "stages": stages,
            "all_certified": all(s["parity_certified"] for s in stages)}
