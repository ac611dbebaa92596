"""``clematis-native``, driven as a real console script in a subprocess."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

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
    """Every file below ``root`` with the sha256 of its bytes."""
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def artifacts(root: Path) -> dict[str, str]:
    return {k: v for k, v in tree(root).items() if k.startswith("artifacts/")}


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
    assert [s["stage"] for s in out["ran"]] == [1] + [2, 3, 4, 5] * 4


@pytest.mark.native
def test_python_and_native_backends_give_identical_artifacts(workdir):
    for backend in ("python", "native"):
        ok("demo-dataset", f"demo_{backend}", cwd=workdir)
        out = ok("run", "--dataset", f"demo_{backend}", "--backend", backend, cwd=workdir)
        assert {b for s in out["ran"] if s["stage"] in (3, 5) for b in s["backend"]} == {backend}
    assert artifacts(workdir / "demo_python") == artifacts(workdir / "demo_native")
    assert len(artifacts(workdir / "demo_python")) == 17


@pytest.mark.native
def test_generated_dataset_python_native_and_workers_agree(workdir, generated_golden):
    native = fresh(workdir, "gen_native")
    out = ok("run", "--dataset", native, "--backend", "native", "--native-only", "--workers", "0",
             cwd=workdir)
    assert out["workers"] == len(os.sched_getaffinity(0)) and out["native_only"] is True
    assert artifacts(native) == artifacts(generated_golden)


@pytest.mark.native
def test_environment_switches_gel_to_python_without_changing_artifacts(workdir, generated_golden):
    root = fresh(workdir, "gel_env")
    out = ok("run", "--dataset", root, cwd=workdir, env={"PERF_NATIVE_GEL_ENABLED": "0"})
    assert {b for s in out["ran"] if s["stage"] == 5 for b in s["backend"]} == {"python"}
    assert {b for s in out["ran"] if s["stage"] == 3 for b in s["backend"]} == {"native"}
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
    assert {s["stage"] for s in out["ran"]} == {4} and len(out["ran"]) == 4
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


@pytest.mark.native
def test_verify_passes_against_a_matching_golden(workdir, generated_golden):
    source = fresh(workdir, "verify_src")
    source_before = tree(source)
    summary = ok("verify", "--dataset", source, "--golden", generated_golden, "--run", workdir / "verify_run",
                 "--threads", "1", cwd=workdir)
    assert summary["passed"] and summary["counts"]["match"] == len(artifacts(generated_golden))
    assert tree(source) == source_before
    reports = workdir / "verify_run" / "_native_gate_reports"
    assert sorted(p.name for p in reports.iterdir()) == ["coverage.json", "run.json", "timings.json",
                                                         "verification.json"]
    assert json.loads((reports / "verification.json").read_text())["passed"] is True
    assert json.loads((reports / "run.json").read_text())["native_only"] is True


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
    message = error("run", "--dataset", root, cwd=workdir, status=1)
    assert "stage 1 (load) failed" in message and "g01.npz" in message
    assert tree(root) == before


def test_a_run_failing_midway_leaves_the_dataset_untouched(workdir):
    root = fresh(workdir, "midway")
    with (root / "turns.jsonl").open("a") as fh:
        fh.write('{"seeds": {"no-such-node": 1.0}}\n')
    before = tree(root)
    message = error("run", "--dataset", root, cwd=workdir, status=1)
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
