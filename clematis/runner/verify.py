"""The full-chain validation gate: clean copy, native run, artifact comparison, reports."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from .artifacts import ARTIFACTS_DIR, STAGING_DIR, STATE_DIR, TIMINGS_DIR, dumps
from .chain import FIRST_STAGE, LAST_STAGE, TIMINGS_FILE, RunOptions, StageFailed, run_chain
from .coverage import coverage
from .dataset import CONFIG_FILE, DatasetError, open_dataset

REPORTS_DIR = "_native_gate_reports"
MAX_DIFFERENCES = 5
DEFAULT_TOLERANCE = {"atol": 1.0e-6, "rtol": 1.0e-5}


def tolerance(config: dict) -> dict:
    """``perf.native.t1.parity`` of the dataset's config, else the defaults of config.md."""
    parity = config.get("perf", {}).get("native", {}).get("t1", {}).get("parity", {})
    return {k: float(parity.get(k, v)) for k, v in DEFAULT_TOLERANCE.items()}


def diff_json(golden, run, atol: float, rtol: float, where: str = "") -> list[dict]:
    """Differences between two JSON values: floats within ``atol + rtol * max(|a|, |b|)``,
    everything else (keys, lengths, strings, integers) exactly."""
    if isinstance(golden, float) or isinstance(run, float):
        numeric = all(isinstance(x, int | float) and not isinstance(x, bool) for x in (golden, run))
        if numeric and abs(golden - run) <= atol + rtol * max(abs(golden), abs(run)):
            return []
        return [{"where": where, "golden": golden, "run": run}]
    if isinstance(golden, dict) and isinstance(run, dict):
        out = [{"where": f"{where}.{k}", "golden": golden.get(k, "<absent>"), "run": run.get(k, "<absent>")}
               for k in sorted(set(golden) ^ set(run))]
        for k in sorted(set(golden) & set(run)):
            out += diff_json(golden[k], run[k], atol, rtol, f"{where}.{k}")
        return out
    if isinstance(golden, list) and isinstance(run, list):
        if len(golden) != len(run):
            return [{"where": f"{where}[len]", "golden": len(golden), "run": len(run)}]
        out = []
        for i, (g, r) in enumerate(zip(golden, run, strict=True)):
            out += diff_json(g, r, atol, rtol, f"{where}[{i}]")
        return out
    if type(golden) is not type(run) or golden != run:
        return [{"where": where, "golden": golden, "run": run}]
    return []


def compare_artifacts(golden_root: Path, run_root: Path, tol: dict) -> list[dict]:
    """One entry per artifact file in either tree: match, mismatch, missing or extra."""
    golden_files = {p.relative_to(golden_root).as_posix() for p in (golden_root / ARTIFACTS_DIR).rglob("*")
                    if p.is_file()}
    run_files = {p.relative_to(run_root).as_posix() for p in (run_root / ARTIFACTS_DIR).rglob("*")
                 if p.is_file()}
    results = []
    for rel in sorted(golden_files | run_files):
        if rel not in run_files:
            results.append({"file": rel, "status": "missing", "differences": []})
            continue
        if rel not in golden_files:
            results.append({"file": rel, "status": "extra", "differences": []})
            continue
        try:
            golden = json.loads((golden_root / rel).read_text())
        except (ValueError, UnicodeDecodeError) as exc:
            results.append({"file": rel, "status": "mismatch",
                            "differences": [{"where": "", "golden": f"unreadable: {exc}", "run": None}]})
            continue
        diffs = diff_json(golden, json.loads((run_root / rel).read_text()), tol["atol"], tol["rtol"])
        results.append({"file": rel, "status": "mismatch" if diffs else "match",
                        "n_differences": len(diffs), "differences": diffs[:MAX_DIFFERENCES]})
    return results


def prepare_run_copy(source: Path, run: Path, golden: Path) -> None:
    """A clean copy of the dataset's inputs at ``run`` (a previous run copy there is removed)."""
    dst = run.resolve()
    for role, other in (("source dataset", source), ("golden", golden)):
        kept = other.resolve()
        if kept == dst or kept in dst.parents or dst in kept.parents:
            raise DatasetError(f"the run directory {os.fspath(run)!r} must be outside the {role} "
                               f"{os.fspath(other)!r} and not contain it")
    looks_like_copy = (run / CONFIG_FILE).exists() or (run / REPORTS_DIR).exists()
    if run.is_dir() and any(run.iterdir()) and not looks_like_copy:
        raise DatasetError(f"the run directory {os.fspath(run)!r} is not empty and is not a dataset copy; "
                           "refusing to delete it")
    try:
        if run.exists():
            shutil.rmtree(run)
        shutil.copytree(source, run, ignore=shutil.ignore_patterns(
            ARTIFACTS_DIR, STATE_DIR, TIMINGS_DIR, STAGING_DIR, REPORTS_DIR))
        (run / REPORTS_DIR).mkdir()
    except OSError as exc:
        raise PermissionError(f"cannot prepare run directory {os.fspath(run)!r}: "
                              f"{exc.strerror or exc}") from exc


def verify(source: str | os.PathLike, golden: str | os.PathLike, run: str | os.PathLike,
           threads: int = 0) -> tuple[bool, dict]:
    """Run the gate; returns ``(passed, summary)`` and writes ``RUN/_native_gate_reports/``."""
    source, golden, run = Path(source), Path(golden), Path(run)
    dataset = open_dataset(source)
    if not (golden / ARTIFACTS_DIR).is_dir():
        raise DatasetError(f"golden {os.fspath(golden)!r} has no {ARTIFACTS_DIR}/ "
                           "(run the chain on it first)")
    prepare_run_copy(source, run, golden)
    reports = run / REPORTS_DIR

    def write(name: str, obj) -> None:
        (reports / name).write_text(dumps(obj))

    write("coverage.json", coverage(FIRST_STAGE, LAST_STAGE))
    summary = {"source": os.fspath(source), "golden": os.fspath(golden), "run": os.fspath(run),
               "reports": os.fspath(reports), "tolerance": tolerance(dataset.config)}
    try:
        run_report = run_chain(open_dataset(run), FIRST_STAGE, LAST_STAGE,
                               RunOptions(backend="native", native_only=True, workers=threads))
    except StageFailed as exc:
        write("run.json", {"status": "failed", "error": str(exc)})
        write("verification.json", {"passed": False, "error": str(exc), "files": []})
        return False, {**summary, "passed": False, "error": str(exc)}
    write("run.json", {"status": "ok", **run_report})
    shutil.copyfile(run / TIMINGS_FILE, reports / "timings.json")
    files = compare_artifacts(golden, run, summary["tolerance"])
    counts = {s: sum(f["status"] == s for f in files) for s in ("match", "mismatch", "missing", "extra")}
    passed = counts["match"] == len(files) > 0
    write("verification.json", {"passed": passed, "tolerance": summary["tolerance"], "counts": counts,
                                "files": files})
    failing = [f["file"] for f in files if f["status"] != "match"]
    return passed, {**summary, "passed": passed, "counts": counts, "failing_files": failing}
