"""The full-chain validation gate: clean run copy, native run, comparison of every result, reports.

Compared: every file under ``artifacts/`` and ``state/`` of the golden and of the run copy, with
:mod:`clematis.parity` (JSON documents and state graphs at the dataset's tolerance, other files
byte for byte). Not compared (the runner's own bookkeeping): ``timings/``, the reports
directory and ``.clematis/`` (lock, lock owner, journal, manifest, run-copy marker, staging).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from ..parity import DEFAULT_ATOL, DEFAULT_RTOL, Difference, graph_differences, json_differences
from .artifacts import dumps, files_under, load_graph, write_atomic
from .chain import FIRST_STAGE, LAST_STAGE, TIMINGS_FILE, RunOptions, StageFailed, condensed, run_chain
from .commit import MANIFEST_FILE, pending_commit, read_manifest, recover
from .coverage import coverage
from .dataset import (
    ARTIFACTS_DIR,
    BOOKKEEPING_DIR,
    CONFIG_FILE,
    GRAPH_SUFFIX,
    GRAPHS_DIR,
    STATE_DIR,
    TURNS_FILE,
    Dataset,
    DatasetError,
    check_tree_confined,
    open_dataset,
)
from .lock import LOCK_FILE, OWNER_FILE, DatasetLock

REPORTS_DIR = "_native_gate_reports"
REPORT_FILES = ("coverage.json", "run.json", "timings.json", "verification.json", "summary.md")
MARKER_FILE = f"{BOOKKEEPING_DIR}/run-copy.json"
MARKER_FORMAT = "clematis.runner.run-copy"
COMPARED_DIRS = (ARTIFACTS_DIR, STATE_DIR)
MAX_DIFFERENCES = 5
STATUSES = ("match", "mismatch", "missing", "extra")


def tolerance(config: dict) -> dict:
    """``perf.native.t1.parity`` of the dataset's config, else the defaults of clematis.parity."""
    parity = config.get("perf", {}).get("native", {}).get("t1", {}).get("parity", {})
    return {"atol": float(parity.get("atol", DEFAULT_ATOL)), "rtol": float(parity.get("rtol", DEFAULT_RTOL))}


def _as_json(difference: Difference) -> dict:
    return {"where": difference.where, "golden": difference.a, "run": difference.b}


def _file_differences(golden: Path, run: Path, rel: str, tol: dict) -> list[Difference]:
    """The first differences of the file ``rel`` between the two trees (parity rules by kind)."""
    limit = {"limit": MAX_DIFFERENCES + 1, **tol}
    try:
        if rel.endswith(".json"):
            docs = [json.loads((root / rel).read_text(encoding="utf-8")) for root in (golden, run)]
            return json_differences(*docs, **limit)
        if rel.endswith(GRAPH_SUFFIX):
            return graph_differences(load_graph(golden / rel, rel), load_graph(run / rel, rel), **limit)
    except (ValueError, RecursionError) as exc:  # DatasetError and JSONDecodeError are ValueErrors
        return [Difference("", f"unreadable: {exc}", None)]
    same = (golden / rel).read_bytes() == (run / rel).read_bytes()
    return [] if same else [Difference("", "bytes differ", "bytes differ")]


def compare_results(golden: Path, run: Path, tol: dict) -> list[dict]:
    """One entry per result file (under artifacts/ and state/) in either tree: ``match``,
    ``mismatch`` (with the first differences), ``missing`` (only in the golden) or ``extra``."""
    files: dict[Path, set[str]] = {}
    for root in (golden, run):
        for top in COMPARED_DIRS:
            check_tree_confined(root, top)
        files[root] = {rel for top in COMPARED_DIRS for rel in files_under(root, top)}
    results: list[dict] = []
    for rel in sorted(files[golden] | files[run]):
        if rel not in files[run] or rel not in files[golden]:
            status = "missing" if rel not in files[run] else "extra"
            results.append({"file": rel, "status": status, "differences": []})
            continue
        diffs = _file_differences(golden, run, rel, tol)
        results.append({"file": rel, "status": "mismatch" if diffs else "match",
                        "differences": [_as_json(d) for d in diffs[:MAX_DIFFERENCES]],
                        "more_differences": len(diffs) > MAX_DIFFERENCES})
    return results


# ---- the run copy ------------------------------------------------------------------------------

def _is_fresh(run: Path) -> bool:
    """``run`` is absent, empty, or holds only the lock files of an interrupted preparation."""
    if not run.exists():
        return True
    entries = {p.name for p in run.iterdir()}
    if not entries <= {BOOKKEEPING_DIR}:
        return False
    lock_files = {Path(LOCK_FILE).name, Path(OWNER_FILE).name}
    return not entries or {p.name for p in (run / BOOKKEEPING_DIR).iterdir()} <= lock_files


def _check_placement(source: Path, run: Path, golden: Path) -> None:
    dst = run.resolve()
    for role, other in (("source dataset", source), ("golden", golden)):
        kept = other.resolve()
        if kept == dst or kept in dst.parents or dst in kept.parents:
            raise DatasetError(f"the run directory {os.fspath(run)!r} must be outside the {role} "
                               f"{os.fspath(other)!r} and not contain it")
    if run.exists() and not run.is_dir():
        raise DatasetError(f"cannot prepare run directory {os.fspath(run)!r}: it is not a directory")
    if not _is_fresh(run) and not (run / MARKER_FILE).is_file():
        raise DatasetError(f"the run directory {os.fspath(run)!r} is not empty and has no run-copy marker "
                           f"({MARKER_FILE}): clematis-native did not make it; refusing to touch it")


def _runner_files(run: Path) -> set[str]:
    """Files of a previous run copy that the runner wrote: copied inputs, outputs, reports."""
    try:
        marker = json.loads((run / MARKER_FILE).read_text())
        inputs = marker["inputs"] if marker.get("format") == MARKER_FORMAT else None
    except (OSError, ValueError, KeyError, AttributeError):
        inputs = None
    if not isinstance(inputs, list):
        raise DatasetError(f"{run / MARKER_FILE}: unreadable run-copy marker; refusing to touch "
                           f"{os.fspath(run)!r}")
    return ({str(rel) for rel in inputs} | set(read_manifest(run)["outputs"])
            | {f"{REPORTS_DIR}/{name}" for name in REPORT_FILES})


def _clear_previous_copy(run: Path) -> None:
    """Delete the files a previous run copy's marker and manifest list, refusing (before
    deleting anything) when other files are there."""
    owned = _runner_files(run)
    present = {p.relative_to(run).as_posix() for p in run.rglob("*")
               if (p.is_file() or p.is_symlink()) and p.relative_to(run).parts[0] != BOOKKEEPING_DIR}
    foreign = sorted(present - owned)
    if foreign:
        raise DatasetError(f"the run directory {os.fspath(run)!r} holds files clematis-native did not write "
                           f"({', '.join(foreign[:3])}{', ...' if len(foreign) > 3 else ''}); "
                           "move them away, verify deletes only what it made")
    for rel in sorted(present & owned):
        (run / rel).unlink()
        parent = (run / rel).parent
        while parent != run and not any(parent.iterdir()):
            parent.rmdir()
            parent = parent.parent
    (run / MANIFEST_FILE).unlink(missing_ok=True)


def prepare_run_copy(dataset: Dataset, run: Path) -> None:
    """A clean copy of the dataset's inputs at ``run``; call it holding ``run``'s lock."""
    recover(run)
    if (run / MARKER_FILE).exists():
        _clear_previous_copy(run)
    inputs = [CONFIG_FILE, TURNS_FILE] + [f"{GRAPHS_DIR}/{p.name}" for p in dataset.graph_files]
    write_atomic(run / MARKER_FILE, json.dumps({"format": MARKER_FORMAT, "source": os.fspath(dataset.root),
                                                "inputs": inputs}).encode())
    (run / GRAPHS_DIR).mkdir(exist_ok=True)
    for rel in inputs:
        shutil.copyfile(dataset.root / rel, run / rel)
    (run / REPORTS_DIR).mkdir(exist_ok=True)


# ---- the gate ----------------------------------------------------------------------------------

def verify(source: str | os.PathLike, golden: str | os.PathLike, run: str | os.PathLike,
           threads: int = 0) -> tuple[bool, dict]:
    """Run the gate; returns ``(passed, summary)`` and writes ``RUN/_native_gate_reports/``.
    ``source`` and ``golden`` are only read; ``run`` is locked while the gate works on it."""
    source, golden, run = Path(source), Path(golden), Path(run)
    dataset = open_dataset(source)
    if not (golden / ARTIFACTS_DIR).is_dir():
        raise DatasetError(f"golden {os.fspath(golden)!r} has no {ARTIFACTS_DIR}/ "
                           "(run the chain on it first)")
    if pending_commit(golden):
        raise DatasetError(f"golden {os.fspath(golden)!r} has an unfinished commit; run clematis-native on "
                           "it once to complete it")
    _check_placement(source, run, golden)
    try:
        run.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PermissionError(f"cannot prepare run directory {os.fspath(run)!r}: "
                              f"{exc.strerror or exc}") from exc
    with DatasetLock(run):
        prepare_run_copy(dataset, run)
        return _gate(dataset, golden, run, threads)


def _gate(dataset: Dataset, golden: Path, run: Path, threads: int) -> tuple[bool, dict]:
    reports = run / REPORTS_DIR
    tol = tolerance(dataset.config)

    def write(name: str, text: str) -> None:
        write_atomic(reports / name, text.encode())

    cover = coverage(FIRST_STAGE, LAST_STAGE)
    write("coverage.json", dumps(cover))
    summary = {"source": os.fspath(dataset.root), "golden": os.fspath(golden), "run": os.fspath(run),
               "reports": os.fspath(reports), "tolerance": tol}
    try:
        run_report = run_chain(open_dataset(run), FIRST_STAGE, LAST_STAGE,
                               RunOptions(backend="native", native_only=True, workers=threads))
    except StageFailed as exc:
        write("run.json", dumps({"status": "failed", "error": str(exc)}))
        write("verification.json", dumps({"passed": False, "error": str(exc), "files": []}))
        write("summary.md", summary_page(summary, None, [], cover, error=str(exc)))
        return False, {**summary, "passed": False, "error": str(exc)}
    run_report = {"status": "ok", **condensed(run_report)}
    write("run.json", dumps(run_report))
    shutil.copyfile(run / TIMINGS_FILE, reports / "timings.json")
    files = compare_results(golden, run, tol)
    counts = {s: sum(f["status"] == s for f in files) for s in STATUSES}
    passed = counts["match"] == len(files) > 0
    write("verification.json", dumps({"passed": passed, "tolerance": tol, "counts": counts, "files": files}))
    summary.update(passed=passed, counts=counts)
    write("summary.md", summary_page(summary, run_report, files, cover))
    return passed, {**summary, "failing_files": [f["file"] for f in files if f["status"] != "match"]}


def summary_page(summary: dict, run_report: dict | None, files: list[dict], cover: dict,
                 error: str | None = None) -> str:
    """``summary.md``: what ran, the counts, the failing files with their first differences, timings."""
    passed = summary.get("passed", False)
    lines = [f"# clematis-native verify: {'PASSED' if passed else 'FAILED'}", "",
             f"- source: `{summary['source']}`", f"- golden: `{summary['golden']}`",
             f"- run copy: `{summary['run']}`",
             f"- tolerance: atol {summary['tolerance']['atol']:g}, rtol {summary['tolerance']['rtol']:g}"]
    uncertified = [s["stage"] for s in cover["stages"] if not s["parity_certified"]]
    lines.append("- coverage: every stage parity-certified" if not uncertified
                 else f"- coverage: stage(s) {uncertified} not parity-certified (see coverage.json)")
    if run_report is None:
        return "\n".join(lines + ["", f"The run failed: {error}", ""])
    first, last = run_report["steps"]
    lines.append(f"- ran: stages {first}-{last} over {run_report['n_turns']} turn(s) and "
                 f"{len(run_report['graphs'])} graph(s), {run_report['n_steps']} steps, "
                 f"backends {run_report['backends']}, {run_report['workers']} worker(s)")
    counts = summary["counts"]
    lines.append(f"- compared {len(files)} file(s) under {' and '.join(d + '/' for d in COMPARED_DIRS)}: "
                 + ", ".join(f"{counts[s]} {s}" for s in STATUSES))
    failing = [f for f in files if f["status"] != "match"]
    if failing:
        lines += ["", "## Failing files", ""]
        for f in failing:
            lines.append(f"- `{f['file']}`: {f['status']}")
            lines += [f"  - `{d['where'] or '(file)'}`: golden {d['golden']!r}, run {d['run']!r}"
                      for d in f["differences"]]
            if f.get("more_differences"):
                lines.append("  - ... more differences")
    timings = json.loads((Path(summary["run"]) / TIMINGS_FILE).read_text())["stage_totals"]
    lines += ["", "## Timings", "", "| stage | seconds |", "|---|---|"]
    lines += [f"| {name} | {seconds:.3f} |" for name, seconds in timings.items()]
    lines.append(f"| total | {run_report['seconds']:.3f} |")
    return "\n".join(lines) + "\n"
