"""The chain: a registry of numbered stages run over a dataset and its turns.

Stage 1 runs once; stages 2-5 run for every turn in order, so turn k+1 propagates over the
weights that turn k's GEL stage wrote. Each stage declares the files it reads and writes and
computes its outputs from those files only, so ``stage N`` alone does exactly what the chain
does with the same inputs (see ``docs/runner.md``). A step whose input is missing fails before
any work starts; a run commits all its outputs at once, under the dataset lock.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from tqdm import tqdm

from .. import _backend
from .._kernel_calls import map_cancellable
from .._platform import available_cpus
from ..api import T1Result
from ..dispatch import new_counters
from ..gel import gel_factor, gel_policy, run_decay
from ..graph import ConceptGraph
from ..ranking import top_activations
from ..seeding import seeds_from_text
from ..stage import merge, run_turn, turn_workers
from .artifacts import RunStore, check_plain_outputs
from .commit import (
    MANIFEST_FILE,
    MANIFEST_FORMAT,
    MANIFEST_VERSION,
    commit,
    read_manifest,
    recover,
    sha256_file,
)
from .dataset import (
    ARTIFACTS_DIR,
    CONFIG_FILE,
    GRAPHS_DIR,
    STATE_DIR,
    TIMINGS_DIR,
    TURNS_FILE,
    Dataset,
    DatasetError,
    is_finite_number,
)
from .lock import DatasetLock

STAGE1_ARTIFACT = f"{ARTIFACTS_DIR}/stage1_graphs.json"
TIMINGS_FILE = f"{TIMINGS_DIR}/stages.json"
TOP_K = 10
SUMMARY_TOP_K = 3

Step = tuple[int, int | None]
StepIO = tuple[list[str], list[str]]


class StageFailed(RuntimeError):
    """A stage raised; ``stage``, ``turn`` and ``cause`` say where and why."""

    def __init__(self, stage: Stage, turn: int | None, cause: BaseException) -> None:
        super().__init__(f"{_where(stage.number, turn)} failed: {cause}")
        self.stage, self.turn, self.cause = stage, turn, cause


@dataclass(frozen=True)
class RunOptions:
    """``backend`` None resolves per stage (config, environment); ``native_only`` fails instead of
    falling back; ``workers`` threads for T1 across graphs (0 = all CPUs, None = the config's
    ``perf.parallel``)."""

    backend: str | None = None
    native_only: bool = False
    workers: int | None = None

    def __post_init__(self) -> None:
        _backend.backend_name(self.backend)
        if not isinstance(self.native_only, bool):
            raise TypeError(f"native_only must be a bool, got {self.native_only!r}")
        resolve_workers(self.workers)


def check_step_range(start: int, end: int) -> None:
    for name, value in (("start step", start), ("end step", end)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an int, got {value!r}")
        if not FIRST_STAGE <= value <= LAST_STAGE:
            raise ValueError(f"{name} must be in {FIRST_STAGE}..{LAST_STAGE}, got {value}")
    if start > end:
        raise ValueError(f"step range out of order: start step {start} > end step {end}")


def turn_dir(turn: int) -> str:
    return f"{ARTIFACTS_DIR}/turn_{turn:04d}"


def graph_path(name: str, turn: int) -> str:
    """Where the graph ``name`` propagated at ``turn`` lives: the dataset's file at turn 0, the
    previous turn's GEL output after."""
    return f"{GRAPHS_DIR}/{name}.npz" if turn == 0 else f"{STATE_DIR}/turn_{turn:04d}/{name}.npz"


def stage_artifact(stage: int, turn: int) -> str:
    return f"{turn_dir(turn)}/stage{stage}_{STAGES[stage - 1].name}.json"


def weights_digest(graph: ConceptGraph) -> dict:
    """Exact fingerprints of a graph's weights (sha256 of the float32 bytes, float64 sum)."""
    w = graph.arrays.weights
    return {"weights_sha256": hashlib.sha256(w.tobytes()).hexdigest(),
            "weights_sum": float(w.astype(np.float64).sum())}


# ---- what each stage reads and writes ----------------------------------------------------------

def _load_io(dataset: Dataset, turn: None) -> StepIO:
    return [graph_path(n, 0) for n in dataset.graph_names], [STAGE1_ARTIFACT]


def _seed_io(dataset: Dataset, turn: int) -> StepIO:
    return ([STAGE1_ARTIFACT, TURNS_FILE] + [graph_path(n, 0) for n in dataset.graph_names],
            [stage_artifact(2, turn)])


def _propagate_io(dataset: Dataset, turn: int) -> StepIO:
    return ([stage_artifact(2, turn)] + [graph_path(n, turn) for n in dataset.graph_names] + [CONFIG_FILE],
            [stage_artifact(3, turn)])


def _merge_io(dataset: Dataset, turn: int) -> StepIO:
    return ([stage_artifact(3, turn)] + [graph_path(n, 0) for n in dataset.graph_names],
            [stage_artifact(4, turn)])


def _gel_io(dataset: Dataset, turn: int) -> StepIO:
    names = dataset.graph_names
    return ([STAGE1_ARTIFACT] + [graph_path(n, turn) for n in names] + [CONFIG_FILE],
            [stage_artifact(5, turn)] + [graph_path(n, turn + 1) for n in names])


# ---- what each stage does ----------------------------------------------------------------------

def _load(run: ChainRun, turn: None, reads: list[str], writes: list[str]) -> dict:
    entries = []
    for name, rel in zip(run.dataset.graph_names, reads, strict=True):
        graph = run.store.read_graph(rel)
        a = graph.arrays
        # rel_code hashed as int32, whatever width the graph stores it in (digests stay comparable)
        codes = a.rel_code.astype(np.int32).tobytes()
        structure = hashlib.sha256(a.indptr.tobytes() + a.indices.tobytes() + codes)
        entries.append({"name": name, "file": rel, "n_nodes": graph.n_nodes,
                        "n_edges": graph.n_edges, "index_dtype": str(a.indptr.dtype),
                        "relations": graph.relations,
                        "relation_multipliers": {k: float(np.float32(v))
                                                 for k, v in graph.relation_multipliers.items()},
                        "structure_sha256": structure.hexdigest(), **weights_digest(graph)})
    run.store.write_json(writes[0], {"graphs": entries, "n_turns": len(run.dataset.turns)})
    return {}


def _seed(run: ChainRun, turn: int, reads: list[str], writes: list[str]) -> dict:
    run.check_manifest()
    query = run.dataset.turns[turn]
    seeds: dict[str, dict[str, list]] = {}
    for name, graph in zip(run.dataset.graph_names, run.graphs(0), strict=True):
        if "text" in query:
            nodes, weights = seeds_from_text(graph, query["text"])
            seeds[name] = {"nodes": [graph.node_id(int(i)) for i in nodes],
                           "weights": [float(w) for w in weights]}
        else:
            known = [nid for nid in query["seeds"] if nid in graph]
            seeds[name] = {"nodes": known, "weights": [float(np.float32(query["seeds"][n])) for n in known]}
    if "seeds" in query:
        missing = [nid for nid in query["seeds"] if not any(nid in s["nodes"] for s in seeds.values())]
        if missing:
            raise DatasetError(f"{TURNS_FILE} turn {turn}: seed node id(s) {missing} are in no graph")
    run.store.write_json(writes[0], {"turn": turn, "query": query, "graphs": seeds})
    return {}


def _propagate(run: ChainRun, turn: int, reads: list[str], writes: list[str]) -> dict:
    graphs = run.graphs(turn)
    seeds = seeds_of_artifact(run.store.read_json(reads[0]), reads[0], run.dataset.graph_names, graphs)
    results = run.propagate(graphs, seeds, turn)
    out = {name: {"nodes": [res.graph.node_id(int(i)) for i in res.nodes],
                  "values": [float(v) for v in res.values],
                  "metrics": res.metrics}
           for name, res in zip(run.dataset.graph_names, (r.graphs[0] for r in results), strict=True)}
    run.store.write_json(writes[0], {"turn": turn, "graphs": out})
    native_t1: dict[str, int] = {}
    for result in results:
        for key, value in result.metrics["native_t1"].items():
            native_t1[key] = native_t1.get(key, 0) + value
    return {"backend": sorted({r.graphs[0].backend for r in results}), "native_t1": native_t1}


def _merge(run: ChainRun, turn: int, reads: list[str], writes: list[str]) -> dict:
    propagated = run.store.read_json(reads[0])
    graphs = run.graphs(0)  # ids and labels do not change between turns
    results = []
    try:
        for name, graph in zip(run.dataset.graph_names, graphs, strict=True):
            saved = propagated["graphs"][name]
            nodes = np.array([graph.index_of(n) for n in saved["nodes"]], dtype=graph.arrays.indptr.dtype)
            # rebuilt from the artifact (float32 values round-trip exactly); merge ignores the backend
            results.append(T1Result(nodes, np.array(saved["values"], dtype=np.float32), saved["metrics"],
                                    "artifact", graph))
        metrics, merged = merge(results, [])
    except (KeyError, TypeError, ValueError) as exc:
        raise DatasetError(f"{reads[0]}: not a stage 3 artifact of this dataset ({exc!r})") from exc
    by_name = {str(k): k for k in merged}
    ranked = top_activations(((str(k), v) for k, v in merged.items()), TOP_K)
    top = [{"node": key, "value": value,
            "label": next(g.labels[g.index_of(by_name[key])] for g in graphs if by_name[key] in g)}
           for key, value in ranked]
    run.store.write_json(writes[0], {
        "turn": turn, "merged": {str(k): v for k, v in merged.items()},
        "metrics": {k: v for k, v in metrics.items() if k != "native_t1"}, "n_nodes": len(merged),
        "top": top,
    })
    return {"summary": {"turn": turn, "n_nodes": len(merged), "top": top[:SUMMARY_TOP_K]}}


def _gel(run: ChainRun, turn: int, reads: list[str], writes: list[str]) -> dict:
    run.check_manifest()
    gel = run.dataset.config["gel"]
    factor = gel_factor(gel["decay"]["rate"], gel["decay"]["floor"])
    if run.options.native_only and gel["enabled"] and run.gel_backend != "native":
        raise _backend.NativeUnavailableError(
            f"--native-only: the native GEL kernel is not available ({_backend.gel_import_error})")
    ticks = 1 if gel["enabled"] else 0
    counters = new_counters()
    digests = {}
    for name, graph, rel in zip(run.dataset.graph_names, run.graphs(turn), writes[1:], strict=True):
        decayed = graph.with_weights(run_decay(graph.arrays.weights, factor, ticks, run.gel_policy, counters))
        run.store.write_graph(rel, decayed)
        if turn > 0:
            run.store.forget_graph(graph_path(name, turn))
        digests[name] = {**weights_digest(decayed), "file": rel}
    run.store.write_json(writes[0], {"turn": turn, "enabled": gel["enabled"], "ticks": ticks,
                                     "factor": float(factor), "graphs": digests})
    return {"backend": [run.gel_backend] if ticks else [], "native_gel": counters}


@dataclass(frozen=True)
class Stage:
    """One stage: ``scope`` is ``dataset`` (once), ``graph`` (each graph, each turn) or
    ``merged`` (across graphs, each turn); ``kernel`` names the compiled module that drives it
    natively (None: Python-driven); ``io(dataset, turn)`` gives the files a step reads and
    writes, ``run(chain_run, turn, reads, writes)`` computes the writes from the reads. ``turn``
    is None for a ``dataset`` stage and an int otherwise: the scope decides, so the fields type it
    ``Any``."""

    number: int
    name: str
    scope: str
    kernel: str | None
    description: str
    io: Callable[[Dataset, Any], StepIO] = dataclasses.field(repr=False)
    run: Callable[[ChainRun, Any, list[str], list[str]], dict] = dataclasses.field(repr=False)

    @property
    def driver(self) -> str:
        return "python" if self.kernel is None else "native"

    @property
    def key(self) -> str:
        return f"stage{self.number}_{self.name}"


STAGES = (
    Stage(1, "load", "dataset", None, "load and validate every graph", _load_io, _load),
    Stage(2, "seed", "graph", None, "seed every graph from the turn's text or explicit seeds",
          _seed_io, _seed),
    Stage(3, "propagate", "graph", "clematis._kernels._t1", "T1 propagation of stage 2's seeds (run_turn)",
          _propagate_io, _propagate),
    Stage(4, "merge", "merged", None, "merge activations and metrics across graphs", _merge_io, _merge),
    Stage(5, "gel", "graph", "clematis._kernels._gel", "GEL edge-weight decay for the next turn",
          _gel_io, _gel),
)
FIRST_STAGE, LAST_STAGE = STAGES[0].number, STAGES[-1].number


def seeds_of_artifact(document, rel: str, names: tuple[str, ...],
                      graphs: list[ConceptGraph]) -> list[dict]:
    """Per graph (graph order), the ``{node id: weight}`` seeds a stage 2 artifact holds."""
    try:
        per_graph = document["graphs"]
        if sorted(per_graph) != sorted(names):
            raise ValueError(f"it seeds graphs {sorted(per_graph)}, the dataset has {sorted(names)}")
        seeds = []
        for name, graph in zip(names, graphs, strict=True):
            nodes, weights = per_graph[name]["nodes"], per_graph[name]["weights"]
            if not isinstance(nodes, list) or not isinstance(weights, list) or len(nodes) != len(weights):
                raise ValueError(f"graphs.{name}: nodes and weights must be lists of one length")
            if len(set(nodes)) != len(nodes):
                raise ValueError(f"graphs.{name}: a node is seeded twice")
            for node, weight in zip(nodes, weights, strict=True):
                if node not in graph:
                    raise ValueError(f"graphs.{name}: node {node!r} is not in the graph")
                if not is_finite_number(weight):
                    raise ValueError(f"graphs.{name}: the weight of {node!r} must be a finite number")
            seeds.append(dict(zip(nodes, weights, strict=True)))
    except (KeyError, TypeError, ValueError) as exc:
        raise DatasetError(f"{rel}: not a stage 2 artifact of this dataset ({exc})") from exc
    return seeds


class ChainRun:
    """Runs planned steps of the chain on one dataset through one :class:`RunStore`."""

    def __init__(self, dataset: Dataset, store: RunStore, options: RunOptions) -> None:
        self.dataset = dataset
        self.store = store
        self.options = options
        self.config = with_workers(dataset.config, options.workers)
        self.gel_policy = gel_policy(options.backend, dataset.config)
        self.gel_backend = self.gel_policy.backend

    def graphs(self, turn: int) -> list[ConceptGraph]:
        return [self.store.read_graph(graph_path(name, turn)) for name in self.dataset.graph_names]

    def check_manifest(self) -> None:
        names = [g["name"] for g in self.store.read_json(STAGE1_ARTIFACT)["graphs"]]
        if names != list(self.dataset.graph_names):
            raise DatasetError(f"graphs changed since stage 1 ({names} != {list(self.dataset.graph_names)}); "
                               "re-run from stage 1")

    def propagate(self, graphs: list[ConceptGraph], seeds: list[dict], turn: int) -> list:
        """One ``run_turn`` per graph with that graph's seeds, on the configured threads."""
        def one(pair):
            graph, graph_seeds = pair
            return run_turn(graph, graph_seeds, self.config, turn=turn, backend=self.options.backend,
                            native_only=self.options.native_only)

        threads = turn_workers(self.config, len(graphs))
        with map_cancellable(one, zip(graphs, seeds, strict=True), threads,
                             thread_name_prefix="clematis-t1") as turns:
            return list(turns)

    def step(self, stage: Stage, turn: int | None) -> dict:
        reads, writes = stage.io(self.dataset, turn)
        try:
            return stage.run(self, turn, reads, writes)
        except Exception as exc:
            raise StageFailed(stage, turn, exc) from exc


def with_workers(config: dict, workers: int | None) -> dict:
    """``config`` with ``perf.parallel`` set for ``workers`` threads (None: unchanged)."""
    if workers is None:
        return config
    perf = dict(config.get("perf", {}))
    perf["parallel"] = {**perf.get("parallel", {}), "enabled": True, "t1": True, "max_workers": workers}
    return {**config, "perf": perf}


def resolve_workers(workers: int | None) -> int | None:
    """0 becomes the number of CPUs visible to the process; None stays None."""
    if workers is None:
        return None
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise ValueError(f"workers must be an integer >= 0 or None, got {workers!r}")
    return workers or available_cpus()


# ---- plans, staleness and runs -----------------------------------------------------------------

def step_io(dataset: Dataset, stage: int, turn: int | None) -> StepIO:
    """The files stage ``stage`` reads and writes at ``turn``."""
    return STAGES[stage - 1].io(dataset, turn)


def _steps(dataset: Dataset, start: int, end: int) -> list[Step]:
    steps = [(1, None)] if start <= 1 else []
    return steps + [(s, k) for k in range(len(dataset.turns)) for s in range(max(start, 2), end + 1)]


def _where(stage: int, turn: int | None) -> str:
    return f"stage {stage} ({STAGES[stage - 1].name})" + (f" on turn {turn}" if turn is not None else "")


def plan(dataset: Dataset, start: int, end: int) -> list[dict]:
    """The steps of a run, in order, with what each reads and writes. Raises ValueError when a
    step reads a file that neither exists nor is written by an earlier step of the run."""
    check_step_range(start, end)
    producer = {rel: step for step in _steps(dataset, FIRST_STAGE, LAST_STAGE)
                for rel in step_io(dataset, *step)[1]}
    produced: set[str] = set()
    planned = []
    for stage, turn in _steps(dataset, start, end):
        reads, writes = step_io(dataset, stage, turn)
        for rel in reads:
            if rel not in produced and not (dataset.root / rel).exists():
                source = f"written by {_where(*producer[rel])}" if rel in producer else "no stage writes it"
                raise DatasetError(f"{_where(stage, turn)} needs {rel}, {source}; "
                                   "run that step first or include it in the step range")
        produced.update(writes)
        planned.append({"stage": stage, "name": STAGES[stage - 1].name, "turn": turn,
                        "reads": reads, "writes": writes})
    return planned


def input_digests(dataset: Dataset) -> dict[str, str]:
    """sha256 of every input file (config, turns, graphs), by relative path."""
    rels = [CONFIG_FILE, TURNS_FILE] + [graph_path(n, 0) for n in dataset.graph_names]
    return {rel: sha256_file(dataset.root / rel) for rel in rels}


def changed_inputs(dataset: Dataset, manifest: dict) -> set[str]:
    """Inputs whose content differs from what the last committed run recorded (none is known
    to differ when there is no manifest)."""
    recorded = manifest.get("inputs", {})
    if not recorded:
        return set()
    current = input_digests(dataset)
    return {rel for rel in set(current) | set(recorded) if current.get(rel) != recorded.get(rel)}


def outdated_outputs(dataset: Dataset, ran: set[Step], changed: set[str], previous: set[str]) -> set[str]:
    """The previous outputs that no longer hold after a run of the steps ``ran``: those of steps
    that did not run but read (transitively) a file in ``changed``, and those no step of the
    dataset writes any more. Raises DatasetError when a step that ran read such a file."""
    producer = {rel: step for step in _steps(dataset, FIRST_STAGE, LAST_STAGE)
                for rel in step_io(dataset, *step)[1]}
    dirty, outdated = set(changed), set[str]()
    for step in _steps(dataset, FIRST_STAGE, LAST_STAGE):
        reads, writes = step_io(dataset, *step)
        if step in ran:
            stale = [rel for rel in reads if rel in outdated]
            if stale:
                raise DatasetError(f"{_where(*step)} reads {stale[0]}, which is out of date (an input it "
                                   "depends on changed since it was written); include "
                                   f"{_where(producer[stale[0]][0], None)} in the step range")
        elif dirty.intersection(reads):
            dirty.update(writes)
            outdated.update(rel for rel in writes if rel in previous)
    return outdated | (previous - set(producer) - {TIMINGS_FILE})


def _commit_run(dataset: Dataset, store: RunStore, old: dict, ran: set[Step], start: int, end: int) -> dict:
    """Commit the staged writes of a run with its new manifest; returns what changed."""
    outputs = {rel: sha256_file(store.staging / rel) for rel in store.written}
    changed = ({rel for rel, digest in outputs.items() if old["outputs"].get(rel) != digest}
               | changed_inputs(dataset, old))
    dropped = outdated_outputs(dataset, ran, changed, set(old["outputs"]))
    kept = {rel: digest for rel, digest in old["outputs"].items() if rel not in dropped}
    manifest = {"format": MANIFEST_FORMAT, "version": MANIFEST_VERSION, "outputs": {**kept, **outputs},
                "inputs": input_digests(dataset),
                "last_run": {"steps": [start, end], "n_steps": len(ran), "written": sorted(outputs),
                             "committed": time.time()}}
    commit(dataset.root, store.written, dropped, manifest)
    return {"written": len(outputs), "changed": len((changed & set(outputs)) - {TIMINGS_FILE}),
            "removed_outdated": sorted(dropped)}


def run_chain(dataset: Dataset, start: int, end: int, options: RunOptions, *, progress: bool = True) -> dict:
    """Run stages ``start..end`` under the dataset lock; every write is committed at once when
    all steps succeed.

    Returns the run report: per step what it wrote and which backend ran (``ran``), per turn the
    merged top activations (``turns``, when stage 4 ran), the commit and any recovery. Timings go
    to ``timings/stages.json``. Raises :class:`StageFailed` (the dataset is then unchanged) and
    :class:`~clematis.runner.lock.DatasetBusyError` when another run holds the dataset.
    """
    if not isinstance(dataset, Dataset):
        raise TypeError(f"dataset must be a Dataset (see open_dataset), got {type(dataset).__name__}")
    check_step_range(start, end)
    options = dataclasses.replace(options, workers=resolve_workers(options.workers))
    with DatasetLock(dataset.root) as lock:
        recovered = recover(dataset.root)
        check_plain_outputs(dataset.root)
        steps = plan(dataset, start, end)
        ran = {(s["stage"], s["turn"]) for s in steps}
        old = read_manifest(dataset.root)
        outdated_outputs(dataset, ran, changed_inputs(dataset, old), set(old["outputs"]))  # fail early
        store = RunStore(dataset.root)
        run = ChainRun(dataset, store, options)
        timings, report = [], []
        try:
            for step in tqdm(steps, desc="clematis-native", unit="step", disable=None if progress else True):
                began = time.perf_counter()
                info = run.step(STAGES[step["stage"] - 1], step["turn"])
                timings.append({"stage": step["stage"], "turn": step["turn"],
                                "seconds": time.perf_counter() - began})
                report.append({k: step[k] for k in ("stage", "name", "turn", "writes")} | info)
            store.write_json(TIMINGS_FILE, {"steps": timings, "stage_totals": stage_totals(timings)})
            committed = _commit_run(dataset, store, old, ran, start, end)
        finally:
            store.discard()
    return {"dataset": os.fspath(dataset.root), "steps": [start, end], "workers": options.workers,
            "backend_requested": options.backend, "native_only": options.native_only,
            "n_turns": len(dataset.turns), "graphs": list(dataset.graph_names), "ran": report,
            "turns": [s.pop("summary") for s in report if "summary" in s],
            "seconds": sum(t["seconds"] for t in timings), "timings_file": TIMINGS_FILE,
            "manifest_file": MANIFEST_FILE, "commit": committed,
            "recovered": {"commit": recovered, "stale_lock_of": lock.stale_owner}}


def condensed(report: dict) -> dict:
    """A run report without its per-step records: what ran, the backends, the per-turn tops."""
    backends: dict[str, list[str]] = {}
    for step in report["ran"]:
        key = STAGES[step["stage"] - 1].key
        backends[key] = sorted(set(backends.get(key, [])) | set(step.get("backend") or []))
    return {**{k: v for k, v in report.items() if k != "ran"}, "n_steps": len(report["ran"]),
            "backends": {k: v for k, v in backends.items() if v}}


def stage_totals(timings: list[dict]) -> dict[str, float]:
    totals: dict[str, float] = {}
    for t in timings:
        key = STAGES[t["stage"] - 1].key
        totals[key] = totals.get(key, 0.0) + t["seconds"]
    return totals
