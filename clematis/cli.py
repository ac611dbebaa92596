"""``clematis-native``: run the chain over a dataset, report stage coverage, debug one stage, and
gate a build on a full-chain comparison with a golden run (see ``docs/runner.md``).

Results go to stdout as JSON; progress bars, the per-turn summary of a run and errors go to
stderr. Exit status: 0 success, 1 a stage failed (not because of its input) or verification found
differences, 2 bad input (arguments, dataset content, an unwritable or busy dataset), 130
interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from . import __version__, _backend
from .runner.chain import (
    FIRST_STAGE,
    LAST_STAGE,
    STAGES,
    RunOptions,
    StageFailed,
    check_step_range,
    condensed,
    plan,
    run_chain,
)
from .runner.coverage import coverage
from .runner.dataset import generate_dataset, open_dataset, write_demo_dataset
from .runner.lock import DatasetBusyError, describe
from .runner.verify import verify

PROG = "clematis-native"
INTERRUPTED = 130  # exit status after Ctrl-C, as shells report a process ended by SIGINT
STAGE_LIST = ", ".join(f"{s.number} {s.name}" for s in STAGES)


class CommandError(Exception):
    """Bad input found by the command line itself (exit status 2)."""


# Exceptions that mean bad input (exit status 2), also when a stage raised them.
INPUT_ERRORS = (CommandError, ValueError, TypeError, OSError, _backend.NativeUnavailableError,
                DatasetBusyError)


class OneLineParser(argparse.ArgumentParser):
    """Usage errors as one line on stderr, exit status 2."""

    def error(self, message: str):
        fail(message, 2)


def fail(message: str, status: int):
    sys.stderr.write(f"{PROG}: error: {' '.join(str(message).split())}\n")
    sys.exit(status)


def note(message: str) -> None:
    sys.stderr.write(f"{PROG}: {message}\n")


def _step(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a stage number: {value!r}") from None


def _count(value: str) -> int:
    number = _step(value)
    if number < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {number}")
    return number


def _options(args) -> RunOptions:
    backend = args.backend
    if args.native_only:
        if backend == "python":
            raise CommandError("--native-only requires --backend native")
        backend = "native"
        missing = [f"{name} ({why})" for name, why in (("T1", _backend.import_error),
                                                       ("GEL", _backend.gel_import_error)) if why]
        if missing:
            raise CommandError(f"--native-only: compiled kernel(s) not importable: {', '.join(missing)}")
    return RunOptions(backend=backend, native_only=args.native_only, workers=args.workers)


def cmd_run(args) -> tuple[int, dict]:
    check_step_range(args.start_step, args.end_step)
    options = _options(args)
    dataset = open_dataset(args.dataset)
    if args.dry_run:
        return 0, {"dry_run": True, "dataset": args.dataset, "steps": [args.start_step, args.end_step],
                   "backend_requested": options.backend, "native_only": options.native_only,
                   "n_turns": len(dataset.turns), "graphs": list(dataset.graph_names),
                   "planned": plan(dataset, args.start_step, args.end_step)}
    return 0, _report(run_chain(dataset, args.start_step, args.end_step, options))


def cmd_stage(args) -> tuple[int, dict]:
    check_step_range(args.number, args.number)
    return 0, _report(run_chain(open_dataset(args.dataset), args.number, args.number, _options(args)))


def _report(report: dict) -> dict:
    """Say on stderr what the run recovered and each turn's top activations; the condensed
    report (no per-step records) is the JSON result."""
    recovered = report["recovered"]
    if recovered["stale_lock_of"] is not None:
        note(f"recovered the lock of a run that did not finish ({describe(recovered['stale_lock_of'])})")
    if recovered["commit"] is not None:
        note(f"an interrupted commit was {recovered['commit']} before this run")
    for turn in report["turns"]:
        top = ", ".join(f"{t['label']} ({t['node']}) {t['value']:.4g}" for t in turn["top"])
        note(f"turn {turn['turn']}: {turn['n_nodes']} active node(s); top: {top or 'none'}")
    out = condensed(report)
    note(f"{out['n_steps']} step(s) in {out['seconds']:.2f} s; {out['commit']['written']} file(s) committed")
    return out


def cmd_coverage(args) -> tuple[int, dict]:
    return 0, coverage(args.start_step, args.end_step)


def cmd_verify(args) -> tuple[int, dict]:
    passed, summary = verify(args.dataset, args.golden, args.run, threads=args.threads)
    return (0 if passed else 1), summary


def cmd_demo_dataset(args) -> tuple[int, dict]:
    dataset = open_dataset(write_demo_dataset(args.dir))
    return 0, {"dataset": args.dir, "graphs": list(dataset.graph_names), "n_turns": len(dataset.turns)}


def cmd_generate(args) -> tuple[int, dict]:
    dataset = open_dataset(generate_dataset(args.dir, nodes=args.nodes, edges=args.edges, turns=args.turns,
                                            seed=args.seed, graphs=args.graphs))
    return 0, {"dataset": args.dir, "graphs": list(dataset.graph_names), "n_turns": len(dataset.turns),
               "nodes": args.nodes, "edges": args.edges, "seed": args.seed}


def _add_steps(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--start-step", type=_step, default=FIRST_STAGE, metavar="A",
                        help=f"first stage to run (default {FIRST_STAGE}; stages: {STAGE_LIST})")
    parser.add_argument("--end-step", type=_step, default=LAST_STAGE, metavar="B",
                        help=f"last stage to run (default {LAST_STAGE})")


def _add_backend(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--backend", choices=_backend.BACKENDS, default=None,
                        help="default: config and environment, else native when compiled")
    parser.add_argument("--native-only", action="store_true",
                        help="require the compiled kernels; fail instead of falling back to Python")
    parser.add_argument("--workers", type=_count, default=None, metavar="N",
                        help="threads for T1 across graphs; 0 = all CPUs (default: config perf.parallel)")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog=PROG, description="Run the clematis chain over a dataset, report stage "
                           "coverage, debug one stage, gate a build against a golden run (docs/runner.md).",
                           epilog="exit status: 0 success, 1 a stage failed or verify found differences, "
                           "2 bad input")
    parser.add_argument("--version", action="version", version=f"{PROG} (clematis) {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run stages A..B of the chain over a dataset")
    run.add_argument("--dataset", required=True, metavar="D", help="the dataset (written into: use a copy)")
    _add_steps(run)
    _add_backend(run)
    run.add_argument("--dry-run", action="store_true", help="print the planned stage work, write nothing")
    run.set_defaults(handler=cmd_run)

    cov = sub.add_parser("coverage", help="per stage: driver, native-executable, parity-certified")
    _add_steps(cov)
    cov.set_defaults(handler=cmd_coverage)

    stage = sub.add_parser("stage", help="run one stage (for debugging)")
    stage.add_argument("number", type=_step, metavar="N", help=f"the stage ({STAGE_LIST})")
    stage.add_argument("--dataset", required=True, metavar="D",
                       help="a dataset holding the stage's inputs (written into: use a copy)")
    _add_backend(stage)
    stage.set_defaults(handler=cmd_stage)

    ver = sub.add_parser("verify", help="full-chain validation gate against a golden run")
    ver.add_argument("--dataset", required=True, metavar="SRC", help="source dataset (left untouched)")
    ver.add_argument("--golden", required=True, metavar="GOLD", help="a dataset the chain already ran on")
    ver.add_argument("--run", required=True, metavar="RUN",
                     help="where the clean run copy is made: absent, empty or a previous run copy")
    ver.add_argument("--threads", type=_count, default=0, metavar="N",
                     help="T1 threads across graphs; 0 = all CPUs (default)")
    ver.set_defaults(handler=cmd_verify)

    demo = sub.add_parser("demo-dataset", help="write the packaged demo dataset to DIR")
    demo.add_argument("dir", metavar="DIR", help="where to write it (must not exist or be empty)")
    demo.set_defaults(handler=cmd_demo_dataset)

    gen = sub.add_parser("generate", help="write a random dataset (same arguments, same dataset)")
    gen.add_argument("dir", metavar="DIR", help="where to write it (must not exist or be empty)")
    gen.add_argument("--nodes", type=_count, default=1000, metavar="N",
                     help="node ids shared by every graph (default 1000)")
    gen.add_argument("--edges", type=_count, default=5000, metavar="M",
                     help="random typed edges per graph (default 5000)")
    gen.add_argument("--turns", type=_count, default=5, metavar="T",
                     help="turns, alternating text and explicit seeds (default 5)")
    gen.add_argument("--seed", type=_count, default=0, metavar="S",
                     help="random seed: the same arguments give the same dataset (default 0)")
    gen.add_argument("--graphs", type=_count, default=2, metavar="G", help="number of graphs (default 2)")
    gen.set_defaults(handler=cmd_generate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        status, output = args.handler(args)
    except KeyboardInterrupt:  # Ctrl-C: run_chain discards what it staged; a journaled commit is recovered
        fail("interrupted", INTERRUPTED)
    except StageFailed as exc:
        fail(f"{exc} (nothing was written to the dataset)", 2 if isinstance(exc.cause, INPUT_ERRORS) else 1)
    except INPUT_ERRORS as exc:
        fail(str(exc), 2)
    except Exception as exc:  # a bug: still one line, naming the exception
        fail(f"unexpected {type(exc).__name__}: {exc}", 1)
    try:
        print(json.dumps(output, indent=1, sort_keys=True), flush=True)
    except BrokenPipeError:  # stdout closed early (e.g. piped into head): not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return status


if __name__ == "__main__":
    raise SystemExit(main())
