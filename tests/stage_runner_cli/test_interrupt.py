"""Ctrl-C stops a runaway query (issue 11, item 1): a child process runs a query that never ends
(benchmarks/interrupt_latency.py), says ``started`` once the query runs, gets SIGINT and must end
with KeyboardInterrupt (exit 130 for the CLI); then the same process runs a bounded query and
must get the bits of a fresh process. No timed assertion: the timeouts only bound a hang."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest
from interrupt_latency import RUNAWAY, interrupt_child, runaway_graph, start_child, write_runaway_dataset

from clematis._kernel_calls import Cancellation, map_cancellable
from clematis.api import Query

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

BACKENDS = ["native", "python"]
HANG_TIMEOUT = 180.0  # s, only to turn a hang into a failure (generous: CI machines are shared)


def fresh_digest(scenario: str, backend: str) -> str:
    proc = start_child(scenario, backend, "--normal-only")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    (line,) = out.splitlines()
    return line.removeprefix("digest ")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("scenario", ["propagate", "many-1", "many-2", "turn-1", "turn-2"])
def test_sigint_stops_the_query_and_leaves_the_workspace_reusable(scenario, backend):
    _, status, lines, err = interrupt_child(scenario, backend, "--then-normal", timeout=HANG_TIMEOUT)
    assert status == 0, err
    assert len(lines) == 2 and lines[0].startswith("interrupted "), (lines, err)
    assert lines[1] == f"digest {fresh_digest(scenario, backend)}"


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every path under ``root`` with its content (None for a directory)."""
    return {p.relative_to(root).as_posix(): p.read_bytes() if p.is_file() else None for p in root.rglob("*")}


@pytest.mark.parametrize("backend", BACKENDS)
def test_cli_run_exits_130_with_one_line_and_writes_nothing(tmp_path, backend):
    dataset = write_runaway_dataset(tmp_path / "dataset", threads=2)
    before = snapshot(dataset)
    _, status, lines, err = interrupt_child("cli", backend, "--dataset", str(dataset), timeout=HANG_TIMEOUT)
    assert status == 130
    assert lines == []
    assert err.splitlines()[-1] == "clematis-native: error: interrupted"
    assert "Traceback" not in err
    # the inputs unchanged, no outputs and no staging left: only the (released) lock file is new
    assert snapshot(dataset) == {**before, ".clematis": None, ".clematis/lock": b""}


@pytest.mark.native
def test_dask_cancels_the_submitted_futures():
    _, status, lines, err = interrupt_child("dask", "native", timeout=120)
    assert status == 0, err
    assert lines[0].startswith("interrupted ") and lines[1] == "tasks left 0", (lines, err)



def test_a_nested_cancellation_follows_its_parent_only():
    parent = Cancellation()
    child = Cancellation(parent)
    child.set()
    assert not parent.is_set()
    sibling = Cancellation(parent)
    parent.set()
    assert sibling.is_set() and Cancellation(parent).is_set()


def runtime_errors_of(caller) -> list[str]:
    """Run ``caller`` on a thread; the messages of the RuntimeError it raised. Fails when the
    thread is still running after HANG_TIMEOUT (a query that was not cancelled)."""
    errors: list[str] = []

    def guarded():
        try:
            caller()
        except RuntimeError as exc:
            errors.append(str(exc))

    thread = threading.Thread(target=guarded, daemon=True)
    thread.start()
    thread.join(HANG_TIMEOUT)
    assert not thread.is_alive(), "the running queries were not cancelled"
    return errors


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_exception_in_the_caller_stops_the_running_threads(backend):
    graph = runaway_graph()
    query = Query(graph, backend=backend, **RUNAWAY)
    seeds = query.seeds(["a"])

    def caller():
        with map_cancellable(lambda _: query.run_validated(*seeds), range(2), 2,
                             thread_name_prefix="test") as results:
            assert results is not None  # the threads are running their runaway queries
            raise RuntimeError("the caller failed")

    assert runtime_errors_of(caller) == ["the caller failed"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_exception_while_submitting_stops_the_items_already_running(monkeypatch, backend):
    """Ctrl-C can reach the caller while it still submits items and the first ones already run
    their queries (a loaded machine, a Python query holding the GIL): those must stop too."""
    import clematis._kernel_calls as kernel_calls

    query = Query(runaway_graph(), backend=backend, **RUNAWAY)
    seeds = query.seeds(["a"])
    running = threading.Event()

    def run(_):
        running.set()
        return query.run_validated(*seeds)

    class InterruptedExecutor(kernel_calls.ThreadPoolExecutor):
        """Submits the first item, then fails once that item's query runs."""

        def submit(self, *args, **kwargs):
            if self._threads:
                running.wait(HANG_TIMEOUT)
                raise RuntimeError("interrupted while submitting")
            return super().submit(*args, **kwargs)

    monkeypatch.setattr(kernel_calls, "ThreadPoolExecutor", InterruptedExecutor)

    def caller():
        with map_cancellable(run, range(3), 2, thread_name_prefix="test") as results:
            list(results)

    assert runtime_errors_of(caller) == ["interrupted while submitting"]
