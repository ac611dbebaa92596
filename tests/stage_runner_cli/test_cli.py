"""``clematis-native``, driven as a real console script in a subprocess."""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import save_version_1

import clematis
from clematis._platform import available_cpus
from clematis.cli import build_parser
from clematis.graph import ConceptGraph
from clematis.runner import DatasetLock

SCRIPT = Path(sys.executable).with_name("clematis-native")
GENERATED = ["--nodes", "60", "--edges", "240", "--turns", "3", "--seed", "7"]


def cli(*args, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([os.fspath(SCRIPT), *map(os.fspath, args)], cwd=cwd, capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, timeout=300)


def ok(*args, cwd: Path, env: dict | None = None):
    proc = cli(*args, cwd=cwd, env=env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def error(*args, cwd: Path, status: int = 2) -> str:
    proc = cli(*args, cwd=cwd)
    assert proc.returncode == status, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("clematis-native: error: "), proc.stderr
    assert proc.stdout == ""
    return lines[0]


def tree(root: Path) -> dict[str, str]:
    """Every file below ``root`` with the sha256 of its bytes, but the runner's bookkeeping
    (``.clematis/``: lock, manifest)."""
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.relative_to(root).parts[0] != ".clematis"}


def artifacts(root: Path) -> dict[str, str]:
    return {k: v for k, v in tree(root).items() if k.startswith("artifacts/")}


def results(root: Path) -> dict[str, str]:
    """What the verify gate compares: every file under artifacts/ and state/."""
    return {k: v for k, v in tree(root).items() if k.split("/")[0] in ("artifacts", "state")}


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cli")


@pytest.fixture(scope="module")
def demo_run(workdir) -> Path:
    """The packaged dataset after one full native run."""
    ok("demo-dataset", "demo", cwd=workdir)
    ok("run", "--dataset", "demo", "--backend", "native", cwd=workdir)
    return workdir / "demo"


@pytest.fixture(scope="module")
def generated_golden(workdir) -> Path:
    """A generated dataset after one full Python run: the golden of the verify tests."""
    ok("generate", "golden", *GENERATED, cwd=workdir)
    ok("run", "--dataset", "golden", "--backend", "python", cwd=workdir)
    return workdir / "golden"


def fresh(workdir: Path, name: str, *extra) -> Path:
    ok("generate", name, *GENERATED, *extra, cwd=workdir)
    return workdir / name


def test_script_is_the_installed_console_script():
    assert SCRIPT.is_file(), f"{SCRIPT} missing: install the package (make install)"


@pytest.mark.native
def test_run_on_the_packaged_dataset_writes_every_stage_of_every_turn(demo_run):
    files = artifacts(demo_run)
    assert "artifacts/stage1_graphs.json" in files
    for turn in range(4):
        for stage in ("stage2_seed", "stage3_propagate", "stage4_merge", "stage5_gel"):
            assert f"artifacts/turn_{turn:04d}/{stage}.json" in files
    merged = json.loads((demo_run / "artifacts/turn_0000/stage4_merge.json").read_text())
    assert merged["top"] and merged["top"][0]["node"] in merged["merged"]
    assert not (demo_run / ".clematis-staging").exists()
    timings = json.loads((demo_run / "timings/stages.json").read_text())
    assert set(timings["stage_totals"]) == {"stage1_load", "stage2_seed", "stage3_propagate",
                                            "stage4_merge", "stage5_gel"}


@pytest.mark.native
def test_turns_propagate_over_the_previous_turns_decayed_weights(demo_run):
    gel = [json.loads((demo_run / f"artifacts/turn_{t:04d}/stage5_gel.json").read_text()) for t in range(2)]
    manifest = json.loads((demo_run / "artifacts/stage1_graphs.json").read_text())
    sums = [manifest["graphs"][0]["weights_sum"]] + [g["graphs"]["demo"]["weights_sum"] for g in gel]
    assert gel[0]["enabled"] and gel[0]["factor"] == pytest.approx(0.9)
    assert sums[0] > sums[1] > sums[2]
    assert gel[0]["graphs"]["demo"]["file"] == "state/turn_0001/demo.npz"


@pytest.mark.native
def test_rerun_on_the_same_copy_is_byte_identical(demo_run, workdir):
    before = artifacts(demo_run)
    out = ok("run", "--dataset", "demo", "--backend", "native", cwd=workdir)
    assert artifacts(demo_run) == before
    assert out["n_steps"] == 1 + 4 * 4 and out["commit"]["changed"] == 0


@pytest.mark.native
def test_python_and_native_backends_give_identical_artifacts(workdir):
    for backend in ("python", "native"):
        ok("demo-dataset", f"demo_{backend}", cwd=workdir)
        out = ok("run", "--dataset", f"demo_{backend}", "--backend", backend, cwd=workdir)
        assert out["backends"] == {"stage3_propagate": [backend], "stage5_gel": [backend]}
    assert artifacts(workdir / "demo_python") == artifacts(workdir / "demo_native")
    assert len(artifacts(workdir / "demo_python")) == 17


@pytest.mark.native
def test_generated_dataset_python_native_and_workers_agree(workdir, generated_golden):
    native = fresh(workdir, "gen_native")
    out = ok("run", "--dataset", native, "--backend", "native", "--native-only", "--workers", "0",
             cwd=workdir)
    assert out["workers"] == available_cpus() and out["native_only"] is True
    assert artifacts(native) == artifacts(generated_golden)


@pytest.mark.native
def test_environment_switches_gel_to_python_without_changing_artifacts(workdir, generated_golden):
    root = fresh(workdir, "gel_env")
    out = ok("run", "--dataset", root, cwd=workdir, env={"PERF_NATIVE_GEL_ENABLED": "0"})
    assert out["backends"] == {"stage3_propagate": ["native"], "stage5_gel": ["python"]}
    assert artifacts(root) == artifacts(generated_golden)


def test_dry_run_plans_every_step_and_writes_nothing(workdir):
    root = fresh(workdir, "dry")
    before = tree(root)
    out = ok("run", "--dataset", root, "--dry-run", cwd=workdir)
    assert tree(root) == before
    planned = [(s["stage"], s["turn"]) for s in out["planned"]]
    assert planned == [(1, None)] + [(s, t) for t in range(3) for s in (2, 3, 4, 5)]
    assert out["planned"][2]["reads"][0] == "artifacts/turn_0000/stage2_seed.json"
    assert out["planned"][6]["reads"][1] == "state/turn_0001/g00.npz"
    assert "state/turn_0001/g00.npz" in out["planned"][4]["writes"]


def test_dry_run_refuses_a_plan_whose_inputs_no_stage_writes(workdir):
    root = fresh(workdir, "dry_missing")
    message = error("run", "--dataset", root, "--dry-run", "--start-step", "3", cwd=workdir)
    assert ("stage 3 (propagate) on turn 0 needs artifacts/turn_0000/stage2_seed.json, "
            "written by stage 2 (seed) on turn 0") in message
    message = error("run", "--dataset", root, "--dry-run", "--end-step", "3", cwd=workdir)
    assert ("stage 3 (propagate) on turn 1 needs state/turn_0001/g00.npz, "
            "written by stage 5 (gel) on turn 0") in message


@pytest.mark.native
def test_stage_reruns_one_stage_identically(demo_run, workdir):
    before = artifacts(demo_run)
    out = ok("stage", "4", "--dataset", demo_run, cwd=workdir)
    assert out["steps"] == [4, 4] and out["n_steps"] == 4 and len(out["turns"]) == 4
    assert artifacts(demo_run) == before


def test_stage_without_its_inputs_fails_before_work(workdir):
    root = fresh(workdir, "stage_fresh")
    before = tree(root)
    message = error("stage", "2", "--dataset", root, cwd=workdir)
    assert "needs artifacts/stage1_graphs.json" in message
    assert tree(root) == before


@pytest.mark.native
def test_coverage_reports_every_stage_as_measured_on_this_build(workdir):
    out = ok("coverage", cwd=workdir)
    stages = {s["stage"]: s for s in out["stages"]}
    assert sorted(stages) == [1, 2, 3, 4, 5]
    assert {n for n, s in stages.items() if s["driver"] == "native"} == {3, 5}
    assert all(stages[n]["native_executable"] for n in (3, 5))
    assert not any(stages[n]["native_executable"] for n in (1, 2, 4))
    assert out["all_certified"] and all(s["parity_certified"] for s in stages.values())
    assert stages[5]["scope"] == "graph" and stages[4]["scope"] == "merged"


def test_coverage_of_a_step_range(workdir):
    out = ok("coverage", "--start-step", "2", "--end-step", "3", cwd=workdir)
    assert [s["stage"] for s in out["stages"]] == [2, 3]


def test_coverage_does_not_certify_a_stage_whose_kernel_is_missing(workdir):
    code = ("import sys, json; sys.modules['clematis._kernels._gel'] = None; "
            "from clematis.cli import main; sys.argv = ['clematis-native', 'coverage', "
            "'--start-step', '4', '--end-step', '5']; main()")
    proc = subprocess.run([sys.executable, "-c", code], cwd=workdir, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    stages = {s["stage"]: s for s in json.loads(proc.stdout)["stages"]}
    assert stages[5]["native_executable"] is False and stages[5]["parity_certified"] is False
    assert "python" in stages[5]["parity_detail"]
    assert stages[4]["parity_certified"] is True


def test_coverage_certifies_nothing_when_a_backends_chain_run_fails(monkeypatch):
    coverage = importlib.import_module("clematis.runner.coverage")  # the package exports its function
    real_run_chain = coverage.run_chain

    def run_chain(dataset, start, end, options, **kwargs):
        if options.backend == "python":
            raise coverage.StageFailed(coverage.STAGES[1], 0, ValueError("seed file unreadable"))
        return real_run_chain(dataset, start, end, options, **kwargs)

    monkeypatch.setattr(coverage, "run_chain", run_chain)
    out = coverage.coverage(2, 3)
    assert not out["all_certified"]
    assert [s["parity_certified"] for s in out["stages"]] == [False, False]
    assert all(s["parity_detail"].startswith("python run failed: ") and "seed file unreadable"
               in s["parity_detail"] for s in out["stages"])


@pytest.mark.native
def test_verify_passes_against_a_matching_golden(workdir, generated_golden):
    source = fresh(workdir, "verify_src")
    source_before = tree(source)
    summary = ok("verify", "--dataset", source, "--golden", generated_golden, "--run", workdir / "verify_run",
                 "--threads", "1", cwd=workdir)
    assert summary["passed"] and summary["counts"]["match"] == len(results(generated_golden)) == 19
    assert tree(source) == source_before
    reports = workdir / "verify_run" / "_native_gate_reports"
    assert sorted(p.name for p in reports.iterdir()) == ["coverage.json", "run.json", "summary.md",
                                                         "timings.json", "verification.json"]
    assert json.loads((reports / "verification.json").read_text())["passed"] is True
    run_report = json.loads((reports / "run.json").read_text())
    assert run_report["native_only"] is True and len(run_report["turns"]) == 3
    page = (reports / "summary.md").read_text()
    assert "verify: PASSED" in page and "19 match, 0 mismatch, 0 missing, 0 extra" in page
    assert "stage3_propagate" in page  # the timings table
    again = ok("verify", "--dataset", source, "--golden", generated_golden, "--run", workdir / "verify_run",
               "--threads", "1", cwd=workdir)  # a previous run copy is cleaned and reused
    assert again["passed"]


@pytest.mark.native
def test_verify_passes_against_a_golden_whose_state_graphs_are_version_1_files(workdir, generated_golden):
    """A golden made before graph file format 2 (int32 rel_code): same content, so it verifies."""
    source = fresh(workdir, "verify_src_v1")
    golden = workdir / "golden_v1"
    subprocess.run(["cp", "-a", os.fspath(generated_golden), os.fspath(golden)], check=True)
    state = sorted((golden / "state").rglob("*.npz"))
    for path in state:
        save_version_1(ConceptGraph.load(path), path)
    assert state and all(np.load(path)["rel_code"].dtype == np.int32 for path in state)
    summary = ok("verify", "--dataset", source, "--golden", golden, "--run", workdir / "verify_run_v1",
                 "--threads", "1", cwd=workdir)
    assert summary["passed"] and summary["counts"]["match"] == len(results(golden)) == 19


@pytest.mark.native
def test_verify_fails_when_one_golden_artifact_is_altered(workdir, generated_golden):
    source = fresh(workdir, "verify_src_bad")
    golden = workdir / "golden_altered"
    subprocess.run(["cp", "-a", os.fspath(generated_golden), os.fspath(golden)], check=True)
    target = golden / "artifacts/turn_0001/stage4_merge.json"
    data = json.loads(target.read_text())
    node = sorted(data["merged"])[0]
    data["merged"][node] += 1e-3
    target.write_text(json.dumps(data))
    proc = cli("verify", "--dataset", source, "--golden", golden, "--run", workdir / "verify_run_bad",
               cwd=workdir)
    assert proc.returncode == 1, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["passed"] is False
    assert summary["failing_files"] == ["artifacts/turn_0001/stage4_merge.json"]
    report = json.loads((workdir / "verify_run_bad/_native_gate_reports/verification.json").read_text())
    bad = [f for f in report["files"] if f["status"] != "match"]
    assert bad[0]["differences"][0]["where"] == f".merged.{node}"
    page = (workdir / "verify_run_bad/_native_gate_reports/summary.md").read_text()
    assert "verify: FAILED" in page and "artifacts/turn_0001/stage4_merge.json" in page
    assert f".merged.{node}" in page


@pytest.mark.native
def test_verify_fails_when_one_golden_state_graph_is_altered(workdir, generated_golden):
    source = fresh(workdir, "verify_src_state")
    golden = workdir / "golden_state_altered"
    subprocess.run(["cp", "-a", os.fspath(generated_golden), os.fspath(golden)], check=True)
    target = golden / "state/turn_0003/g01.npz"
    graph = ConceptGraph.load(target)
    graph.with_weights(graph.arrays.weights + np.float32(0.01)).save(target)
    proc = cli("verify", "--dataset", source, "--golden", golden, "--run", workdir / "verify_run_state",
               cwd=workdir)
    assert proc.returncode == 1, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["passed"] is False and summary["failing_files"] == ["state/turn_0003/g01.npz"]
    report = json.loads((workdir / "verify_run_state/_native_gate_reports/verification.json").read_text())
    bad = next(f for f in report["files"] if f["status"] != "match")
    assert bad["differences"][0]["where"] == ".weights[0]" and bad["more_differences"]


@pytest.mark.native
def test_verify_fails_on_a_result_file_present_on_one_side_only(workdir, generated_golden):
    source = fresh(workdir, "verify_src_extra")
    golden = workdir / "golden_missing"
    subprocess.run(["cp", "-a", os.fspath(generated_golden), os.fspath(golden)], check=True)
    (golden / "state/turn_0002/g00.npz").unlink()
    proc = cli("verify", "--dataset", source, "--golden", golden, "--run", workdir / "verify_run_extra",
               cwd=workdir)
    assert proc.returncode == 1
    summary = json.loads(proc.stdout)
    assert summary["failing_files"] == ["state/turn_0002/g00.npz"] and summary["counts"]["extra"] == 1


@pytest.mark.native
def test_verify_tolerates_differences_within_the_configured_tolerance(workdir, generated_golden):
    source = fresh(workdir, "verify_src_tol")
    golden = workdir / "golden_nudged"
    subprocess.run(["cp", "-a", os.fspath(generated_golden), os.fspath(golden)], check=True)
    target = golden / "artifacts/turn_0000/stage4_merge.json"
    data = json.loads(target.read_text())
    node = sorted(data["merged"])[0]
    data["merged"][node] *= 1 + 1e-7
    target.write_text(json.dumps(data))
    summary = ok("verify", "--dataset", source, "--golden", golden, "--run", workdir / "verify_run_tol",
                 cwd=workdir)
    assert summary["passed"]


# ---- bad input -------------------------------------------------------------------------------------

def test_missing_dataset(workdir):
    assert "does not exist" in error("run", "--dataset", workdir / "nope", cwd=workdir)
    assert "does not exist" in error("stage", "1", "--dataset", workdir / "nope", cwd=workdir)


def test_step_range_out_of_order_and_out_of_range(workdir):
    root = fresh(workdir, "steps")
    message = error("run", "--dataset", root, "--start-step", "4", "--end-step", "2", cwd=workdir)
    assert "out of order" in message
    assert "1..5" in error("run", "--dataset", root, "--end-step", "9", cwd=workdir)
    assert "1..5" in error("coverage", "--start-step", "0", cwd=workdir)
    assert "not a stage number" in error("stage", "x", "--dataset", root, cwd=workdir)


def test_bad_config_names_the_key(workdir):
    root = fresh(workdir, "bad_config")
    (root / "config.yaml").write_text("gel:\n  decay: {rate: 1.5}\n")
    assert "gel.decay.rate" in error("run", "--dataset", root, cwd=workdir)
    (root / "config.yaml").write_text("t1: [unclosed\n")
    assert "config.yaml" in error("run", "--dataset", root, cwd=workdir)


def test_bad_turns_file_names_the_line(workdir):
    root = fresh(workdir, "bad_turns")
    with (root / "turns.jsonl").open("a") as fh:
        fh.write('{"query": "x"}\n')
    assert "turns.jsonl:4" in error("run", "--dataset", root, cwd=workdir)


def test_corrupt_graph_file_fails_stage_1_and_leaves_the_dataset_untouched(workdir):
    root = fresh(workdir, "corrupt")
    (root / "graphs/g01.npz").write_bytes(b"not a zip file")
    before = tree(root)
    message = error("run", "--dataset", root, cwd=workdir)
    assert "stage 1 (load) failed" in message and "graphs/g01.npz" in message
    assert tree(root) == before


def test_a_run_failing_midway_leaves_the_dataset_untouched(workdir):
    root = fresh(workdir, "midway")
    with (root / "turns.jsonl").open("a") as fh:
        fh.write('{"seeds": {"no-such-node": 1.0}}\n')
    before = tree(root)
    message = error("run", "--dataset", root, cwd=workdir)  # bad dataset content: exit 2
    assert "stage 2 (seed) on turn 3 failed" in message and "no-such-node" in message
    assert tree(root) == before


def test_unwritable_run_directory(workdir, generated_golden):
    source = fresh(workdir, "unwritable_src")
    blocker = workdir / "a_file"
    blocker.write_text("")
    message = error("verify", "--dataset", source, "--golden", generated_golden, "--run", blocker / "run",
                    cwd=workdir)
    assert "cannot prepare run directory" in message


def test_verify_refuses_to_delete_an_unrelated_directory(workdir, generated_golden):
    source = fresh(workdir, "unrelated_src")
    unrelated = workdir / "precious"
    unrelated.mkdir()
    (unrelated / "notes.txt").write_text("keep me")
    message = error("verify", "--dataset", source, "--golden", generated_golden, "--run", unrelated,
                    cwd=workdir)
    assert "refusing" in message
    assert (unrelated / "notes.txt").read_text() == "keep me"
    before = tree(generated_golden)
    message = error("verify", "--dataset", source, "--golden", generated_golden, "--run", generated_golden,
                    cwd=workdir)
    assert "outside the golden" in message and tree(generated_golden) == before


def test_native_only_with_the_python_backend_is_refused(workdir):
    root = fresh(workdir, "native_only")
    assert "--native-only requires --backend native" in error(
        "run", "--dataset", root, "--native-only", "--backend", "python", cwd=workdir)


@pytest.mark.native
def test_demo_dataset_into_a_non_empty_directory_is_refused(workdir, demo_run):
    assert "not an empty directory" in error("demo-dataset", demo_run, cwd=workdir)


def test_output_closed_early_is_not_an_error(tmp_path):
    """`clematis-native ... | head -c 1` must not end in a BrokenPipeError traceback."""
    script = Path(sys.executable).with_name("clematis-native")
    dataset = tmp_path / "ds"
    subprocess.run([script, "generate", dataset, "--nodes", "30", "--edges", "60", "--turns", "400"],
                   capture_output=True, check=True)
    # the dry-run plan of 400 turns is far larger than a pipe buffer
    proc = subprocess.run(f"'{script}' run --dataset '{dataset}' --dry-run | head -c 1",
                          shell=True, capture_output=True, text=True, check=False)
    assert proc.stdout == "{"
    assert "Traceback" not in proc.stderr, proc.stderr


@pytest.mark.native
def test_verify_deletes_nothing_it_did_not_make(workdir, generated_golden):
    source = fresh(workdir, "thesis_src")
    thesis = workdir / "thesis"
    (thesis / "data").mkdir(parents=True)
    (thesis / "config.yaml").write_text("t1: {}\n")  # looks like a dataset, has no run-copy marker
    (thesis / "thesis.tex").write_text("\\chapter{keep}")
    (thesis / "data/points.csv").write_text("1,2\n")
    before = tree(thesis)
    message = error("verify", "--dataset", source, "--golden", generated_golden, "--run", thesis, cwd=workdir)
    assert "no run-copy marker" in message and "refusing" in message
    assert tree(thesis) == before and sorted(p.name for p in thesis.iterdir()) == ["config.yaml", "data",
                                                                                     "thesis.tex"]
    # a real run copy with a user's file dropped into it: refused too, nothing deleted
    run = workdir / "copy_with_notes"
    ok("verify", "--dataset", source, "--golden", generated_golden, "--run", run, cwd=workdir)
    (run / "artifacts/notes.txt").write_text("mine")
    before = tree(run)
    message = error("verify", "--dataset", source, "--golden", generated_golden, "--run", run, cwd=workdir)
    assert "artifacts/notes.txt" in message and tree(run) == before


@pytest.mark.native
def test_run_prints_a_short_per_turn_summary(demo_run, workdir):
    proc = cli("run", "--dataset", demo_run, cwd=workdir)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert len(proc.stdout) < 4000 and "ran" not in out
    turn_lines = [line for line in proc.stderr.splitlines() if line.startswith("clematis-native: turn ")]
    assert len(turn_lines) == len(out["turns"]) == 4
    for turn in out["turns"]:
        merged = json.loads((demo_run / f"artifacts/turn_{turn['turn']:04d}/stage4_merge.json").read_text())
        expected = sorted(merged["merged"].items(), key=lambda kv: (-kv[1], kv[0]))[:3]
        assert [(t["node"], t["value"]) for t in turn["top"]] == expected
        assert turn["top"][0]["label"] in turn_lines[turn["turn"]]


def test_version_and_help_text_for_every_option(workdir):
    version = cli("--version", cwd=workdir).stdout.strip()
    assert version == f"clematis-native (clematis) {clematis.__version__}"
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    for name, sub in commands.items():
        for action in sub._actions:
            assert action.help, f"{name} {action.option_strings or action.dest}: no help text"
    generate_help = cli("generate", "--help", cwd=workdir).stdout
    assert "random typed edges per graph" in generate_help
    assert "the stage (1 load" in cli("stage", "--help", cwd=workdir).stdout


@pytest.mark.parametrize(("damage", "named"), [
    (lambda root: (root / "graphs/g01.npz").unlink() or (root / "graphs/g01.npz").symlink_to("gone.npz"),
     "graphs/g01.npz: a dangling symlink"),
    (lambda root: (root / "graphs/.npz").write_bytes(b""), "graphs/.npz: a graph file needs a name"),
    (lambda root: (root / "turns.jsonl").write_text('{"text": "a"}\n' + "[" * 100000 + "]" * 100000 + "\n"),
     "turns.jsonl:2: JSON nested too deeply"),
    (lambda root: (root / "turns.jsonl").write_text('{"text": "a"}\n{"seeds": {"n1": 1, "n1": 2}}\n'),
     "turns.jsonl:2: duplicate key(s) ['n1']"),
    (lambda root: (root / "turns.jsonl").write_text('{"seeds": {"a": {"b": 1, "b": 2}}}\n'),
     "turns.jsonl:1: duplicate key(s) ['b']"),
], ids=["dangling-graph-symlink", "graph-named-.npz", "deeply-nested-turn", "duplicate-key",
       "nested-duplicate"])
def test_bad_dataset_content_is_a_one_line_error_naming_the_file(workdir, request, damage, named):
    root = fresh(workdir, f"damaged_{request.node.callspec.id}")
    damage(root)
    message = error("run", "--dataset", root, cwd=workdir)
    assert named in message and "Traceback" not in message


@pytest.mark.parametrize("link", ["artifacts", "state", "timings", "artifacts/turn_0000", "graphs/g00.npz"])
def test_symlinks_leaving_the_dataset_are_refused(workdir, link):
    root = fresh(workdir, f"escape_{link.replace('/', '_')}")
    outside = workdir / f"outside_{link.replace('/', '_')}"
    if link.endswith(".npz"):
        (root / link).rename(outside)
    else:
        outside.mkdir()
    (root / link).parent.mkdir(parents=True, exist_ok=True)
    (root / link).symlink_to(outside)
    before = {p.name for p in outside.iterdir()} if outside.is_dir() else outside.read_bytes()
    message = error("run", "--dataset", root, cwd=workdir)
    assert f"{link} is a symlink leaving the dataset" in message
    assert before == ({p.name for p in outside.iterdir()} if outside.is_dir() else outside.read_bytes())


def test_a_second_run_fails_at_once_naming_the_holder_and_the_first_completes(workdir, generated_golden):
    root = fresh(workdir, "busy")
    with DatasetLock(root):  # this process is the first run
        message = error("run", "--dataset", root, cwd=workdir)
        assert f"in use by another clematis-native run (pid {os.getpid()} on host" in message
        assert not (root / "artifacts").exists()
        from clematis.runner import RunOptions, open_dataset, run_chain
        run_chain(open_dataset(root), 1, 5, RunOptions(), progress=False)
    assert results(root) == results(generated_golden)


def test_a_stale_lock_of_a_killed_run_is_recovered(workdir, generated_golden):
    root = fresh(workdir, "stale_lock")
    code = ("import os, sys; from clematis.runner import DatasetLock; "
            "DatasetLock(sys.argv[1]).__enter__(); os._exit(9)")
    assert subprocess.run([sys.executable, "-c", code, os.fspath(root)], timeout=60).returncode == 9
    proc = cli("run", "--dataset", root, cwd=workdir)
    assert proc.returncode == 0, proc.stderr
    assert "recovered the lock of a run that did not finish (pid" in proc.stderr
    assert results(root) == results(generated_golden)


def test_stage_3_propagates_the_seeds_of_an_edited_stage2_artifact(workdir):
    root = fresh(workdir, "edited_seeds")
    ok("run", "--dataset", root, cwd=workdir)
    seed_file = root / "artifacts/turn_0000/stage2_seed.json"
    document = json.loads(seed_file.read_text())
    document["graphs"]["g00"] = {"nodes": ["n000005", "n000042"], "weights": [0.5, 1.0]}
    document["graphs"]["g01"] = {"nodes": [], "weights": []}
    seed_file.write_text(json.dumps(document))
    before = json.loads((root / "artifacts/turn_0000/stage3_propagate.json").read_text())
    ok("stage", "3", "--dataset", root, cwd=workdir)
    after = json.loads((root / "artifacts/turn_0000/stage3_propagate.json").read_text())["graphs"]
    assert after != before["graphs"] and after["g01"]["nodes"] == []
    graph = ConceptGraph.load(root / "graphs/g00.npz")
    expected = clematis.run_turn(graph, {"n000005": 0.5, "n000042": 1.0}, clematis.load_config(
        root / "config.yaml"))
    assert dict(zip(after["g00"]["nodes"], after["g00"]["values"], strict=True)) == expected.merged
    assert not (root / "artifacts/turn_0000/stage4_merge.json").exists()  # out of date: removed


def test_a_shorter_run_leaves_no_stale_outputs_and_keeps_user_files(workdir):
    root = fresh(workdir, "shorter")
    ok("run", "--dataset", root, cwd=workdir)
    (root / "artifacts/notes.txt").write_text("mine")
    lines = (root / "turns.jsonl").read_text().splitlines()
    (root / "turns.jsonl").write_text(lines[0] + "\n")
    out = ok("run", "--dataset", root, cwd=workdir)
    assert "artifacts/turn_0001/stage4_merge.json" in out["commit"]["removed_outdated"]
    assert sorted(results(root)) == sorted(
        ["artifacts/notes.txt", "artifacts/stage1_graphs.json", "state/turn_0001/g00.npz",
         "state/turn_0001/g01.npz"] + [f"artifacts/turn_0000/stage{n}.json"
                                       for n in ("2_seed", "3_propagate", "4_merge", "5_gel")])
    assert (root / "artifacts/notes.txt").read_text() == "mine"


def test_a_step_range_that_would_read_out_of_date_outputs_is_refused(workdir):
    root = fresh(workdir, "out_of_date")
    ok("run", "--dataset", root, cwd=workdir)
    (root / "config.yaml").write_text((root / "config.yaml").read_text().replace("rate: 0.9", "rate: 0.5"))
    before = tree(root)
    message = error("run", "--dataset", root, "--end-step", "3", cwd=workdir)
    assert "stage 3 (propagate) on turn 1 reads state/turn_0001/g00.npz, which is out of date" in message
    assert "include stage 5 (gel)" in message and tree(root) == before


def test_symlinks_inside_the_output_directories_are_refused(workdir):
    root = fresh(workdir, "inner_link")
    ok("run", "--dataset", root, cwd=workdir)
    (root / "artifacts/turn_0000").rename(root / "moved_turn")
    (root / "artifacts/turn_0000").symlink_to("../moved_turn")
    before = tree(root)
    message = error("run", "--dataset", root, cwd=workdir)
    assert "artifacts/turn_0000 is a symlink; the runner's output directories" in message
    assert tree(root) == before


@pytest.mark.native
def test_verify_with_all_cpus_runs_without_sched_getaffinity(workdir, generated_golden, tmp_path):
    """macOS and Windows have no os.sched_getaffinity: the default ``--threads 0`` must still work."""
    # as on macOS or Windows; Python 3.13's process_cpu_count uses it on Linux, so it goes too
    (tmp_path / "sitecustomize.py").write_text(
        "import os\ndel os.sched_getaffinity\n"
        "if hasattr(os, 'process_cpu_count'):\n    os.process_cpu_count = os.cpu_count\n")
    env = {"PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    probe = subprocess.run([sys.executable, "-c", "import os; print(hasattr(os, 'sched_getaffinity'))"],
                           capture_output=True, text=True, env={**os.environ, **env}, check=True)
    assert probe.stdout.strip() == "False"  # the interpreters below really lack it
    summary = ok("verify", "--dataset", fresh(workdir, "noaffinity_src"), "--golden", generated_golden,
                 "--run", workdir / "noaffinity_run", cwd=workdir, env=env)
    assert summary["passed"]
