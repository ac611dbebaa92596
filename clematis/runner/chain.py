"""The chain: numbered stages over a dataset and its turns.

Stage 1 runs once; stages 2-5 run for every turn in order, so turn k+1 propagates over the
weights that turn k's GEL stage wrote. Every stage reads its inputs from, and writes its outputs
to, the dataset tree (see ``docs/runner.md``); a stage whose input is missing fails before any
work starts.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from .. import _backend
from .._platform import available_cpus
from ..api import T1Result
from ..dispatch import new_counters
from ..gel import gel_factor, gel_policy, run_decay
from ..graph import ConceptGraph
from ..seeding import seeds_from_text
from ..stage import merge, run_turn
from .artifacts import ARTIFACTS_DIR, STATE_DIR, TIMINGS_DIR, RunStore
from .dataset import GRAPHS_DIR, Dataset

STAGE1_ARTIFACT = f"{ARTIFACTS_DIR}/stage1_graphs.json"
TIMINGS_FILE = f"{TIMINGS_DIR}/stages.json"
TOP_K = 10


@dataclass(frozen=True)
class Stage:
    """One stage: ``scope`` is ``dataset`` (once), ``graph`` (each graph, each turn) or
    ``merged`` (across graphs, each turn); ``kernel`` names the compiled module that drives it
    natively (None: Python-driven)."""

    number: int
    name: str
    scope: str
    kernel: str | None
    description: str

    @property
    def driver(self) -> str:
        return "python" if self.kernel is None else "native"


STAGES = (
    Stage(1, "load", "dataset", None, "load and validate every graph"),
    Stage(2, "seed", "graph", None, "seed every graph from the turn's text or explicit seeds"),
    Stage(3, "propagate", "graph", "clematis._kernels._t1", "T1 propagation of every graph (run_turn)"),
    Stage(4, "merge", "merged", None, "merge activations and metrics across graphs"),
    Stage(5, "gel", "graph", "clematis._kernels._gel", "GEL edge-weight decay for the next turn"),
)
FIRST_STAGE, LAST_STAGE = STAGES[0].number, STAGES[-1].number


class StageFailed(RuntimeError):
    """A stage raised; ``stage`` and ``turn`` say where."""

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


def step_io(dataset: Dataset, stage: int, turn: int | None) -> tuple[list[str], list[str]]:
    """The files stage ``stage`` reads and writes at ``turn``."""
    names = dataset.graph_names
    if stage == 1:
        return [f"{GRAPHS_DIR}/{n}.npz" for n in names], [STAGE1_ARTIFACT]
    out = f"{turn_dir(turn)}/stage{stage}_{STAGES[stage - 1].name}.json"
    if stage == 2:
        return [STAGE1_ARTIFACT], [out]
    if stage == 3:
        return [f"{turn_dir(turn)}/stage2_seed.json"] + [graph_path(n, turn) for n in names], [out]
    if stage == 4:
        return [f"{turn_dir(turn)}/stage3_propagate.json"] + [graph_path(n, 0) for n in names], [out]
    return ([STAGE1_ARTIFACT] + [graph_path(n, turn) for n in names],
            [out] + [graph_path(n, turn + 1) for n in names])


def _steps(dataset: Dataset, start: int, end: int) -> list[tuple[int, int | None]]:
    steps = [(1, None)] if start <= 1 else []
    return steps + [(s, k) for k in range(len(dataset.turns)) for s in range(max(start, 2), end + 1)]


def _where(stage: int, turn: int | None) -> str:
    return f"stage {stage} ({STAGES[stage - 1].name})" + (f" on turn {turn}" if turn is not None else "")


def plan(dataset: Dataset, start: int, end: int) -> list[dict]:
    """The steps of a run, in order, with what each reads and writes. Raises ValueError when a
    step reads a file that neither exists nor is written by an earlier step of the run."""
    check_step_range(start, end)
    producer = {rel: (stage, turn) for stage, turn in _steps(dataset, FIRST_STAGE, LAST_STAGE)
                for rel in step_io(dataset, stage, turn)[1]}
    produced: set[str] = set()
    planned = []
    for stage, turn in _steps(dataset, start, end):
        reads, writes = step_io(dataset, stage, turn)
        for rel in reads:
            if rel not in produced and not (dataset.root / rel).exists():
                raise ValueError(f"{_where(stage, turn)} needs {rel}, written by {_where(*producer[rel])}; "
                                 "run that step first or include it in the step range")
        produced.update(writes)
        planned.append({"stage": stage, "name": STAGES[stage - 1].name, "turn": turn,
                        "reads": reads, "writes": writes})
    return planned


def weights_digest(graph: ConceptGraph) -> dict:
    """Exact fingerprints of a graph's weights (sha256 of the float32 bytes, float64 sum)."""
    w = graph.arrays.weights
    return {"weights_sha256": hashlib.sha256(w.tobytes()).hexdigest(),
            "weights_sum": float(w.astype(np.float64).sum())}


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

    def stage1(self, turn: None) -> dict:
        entries = []
        for name, graph in zip(self.dataset.graph_names, self.graphs(0), strict=True):
            a = graph.arrays
            structure = hashlib.sha256(a.indptr.tobytes() + a.indices.tobytes() + a.rel_code.tobytes())
            entries.append({"name": name, "file": graph_path(name, 0), "n_nodes": graph.n_nodes,
                            "n_edges": graph.n_edges, "index_dtype": str(a.indptr.dtype),
                            "relations": graph.relations,
                            "relation_multipliers": {k: float(np.float32(v))
                                                     for k, v in graph.relation_multipliers.items()},
                            "structure_sha256": structure.hexdigest(), **weights_digest(graph)})
        self.store.write_json(STAGE1_ARTIFACT, {"graphs": entries, "n_turns": len(self.dataset.turns)})
        return {}

    def check_manifest(self) -> None:
        names = [g["name"] for g in self.store.read_json(STAGE1_ARTIFACT)["graphs"]]
        if names != list(self.dataset.graph_names):
            raise ValueError(f"graphs changed since stage 1 ({names} != {list(self.dataset.graph_names)}); "
                             "re-run from stage 1")

    def stage2(self, turn: int) -> dict:
        self.check_manifest()
        query = self.dataset.turns[turn]
        seeds = {}
        for name, graph in zip(self.dataset.graph_names, self.graphs(0), strict=True):
            if "text" in query:
                nodes, weights = seeds_from_text(graph, query["text"])
                seeds[name] = {"nodes": [graph.node_id(int(i)) for i in nodes],
                               "weights": [float(w) for w in weights]}
            else:
                known = [nid for nid in query["seeds"] if nid in graph]
                seeds[name] = {"nodes": known,
                               "weights": [float(np.float32(query["seeds"][n])) for n in known]}
        if "seeds" in query:
            missing = [nid for nid in query["seeds"] if not any(nid in s["nodes"] for s in seeds.values())]
            if missing:
                raise ValueError(f"seed node id(s) {missing} are in no graph")
        self.store.write_json(step_io(self.dataset, 2, turn)[1][0],
                              {"turn": turn, "query": query, "graphs": seeds})
        return {}

    def stage3(self, turn: int) -> dict:
        reads, writes = step_io(self.dataset, 3, turn)
        query = self.store.read_json(reads[0])["query"]
        result = run_turn(self.graphs(turn), query.get("text", query.get("seeds")), self.config, turn=turn,
                          backend=self.options.backend, native_only=self.options.native_only)
        graphs = {name: {"nodes": [res.graph.node_id(int(i)) for i in res.nodes],
                         "values": [float(v) for v in res.values], "metrics": res.metrics}
                  for name, res in zip(self.dataset.graph_names, result.graphs, strict=True)}
        self.store.write_json(writes[0], {"turn": turn, "graphs": graphs})
        return {"backend": sorted({res.backend for res in result.graphs}),
                "native_t1": result.metrics["native_t1"]}

    def stage4(self, turn: int) -> dict:
        reads, writes = step_io(self.dataset, 4, turn)
        propagated = self.store.read_json(reads[0])["graphs"]
        graphs = self.graphs(0)  # ids and labels do not change between turns
        results = []
        for name, graph in zip(self.dataset.graph_names, graphs, strict=True):
            saved = propagated[name]
            nodes = np.array([graph.index_of(n) for n in saved["nodes"]], dtype=graph.arrays.indptr.dtype)
            # rebuilt from the artifact (float32 values round-trip exactly); merge ignores the backend
            results.append(T1Result(nodes, np.array(saved["values"], dtype=np.float32), saved["metrics"],
                                    "artifact", graph))
        metrics, merged = merge(results, [])
        ranked = sorted(merged.items(), key=lambda item: (-abs(item[1]), str(item[0])))[:TOP_K]
        labels = {nid: next(g.labels[g.index_of(nid)] for g in graphs if nid in g) for nid, _ in ranked}
        self.store.write_json(writes[0], {
            "turn": turn, "merged": {str(k): v for k, v in merged.items()},
            "metrics": {k: v for k, v in metrics.items() if k != "native_t1"}, "n_nodes": len(merged),
            "top": [{"node": nid, "label": labels[nid], "value": v} for nid, v in ranked],
        })
        return {}

    def stage5(self, turn: int) -> dict:
        self.check_manifest()
        _, writes = step_io(self.dataset, 5, turn)
        gel = self.dataset.config["gel"]
        factor = gel_factor(gel["decay"]["rate"], gel["decay"]["floor"])
        if self.options.native_only and gel["enabled"] and self.gel_backend != "native":
            raise _backend.NativeUnavailableError(
                f"--native-only: the native GEL kernel is not available ({_backend.gel_import_error})")
        ticks = 1 if gel["enabled"] else 0
        counters = new_counters()
        digests = {}
        for name, graph, rel in zip(self.dataset.graph_names, self.graphs(turn), writes[1:], strict=True):
            decayed = graph.with_weights(run_decay(graph.arrays.weights, factor, ticks, self.gel_policy,
                                                   counters))
            self.store.write_graph(rel, decayed)
            if turn > 0:
                self.store.forget_graph(graph_path(name, turn))
            digests[name] = {**weights_digest(decayed), "file": rel}
        self.store.write_json(writes[0], {"turn": turn, "enabled": gel["enabled"], "ticks": ticks,
                                          "factor": float(factor), "graphs": digests})
        return {"backend": [self.gel_backend] if ticks else [], "native_gel": counters}

    def step(self, stage: int, turn: int | None) -> dict:
        handler: Callable[[int | None], dict] = getattr(self, f"stage{stage}")
        try:
            return handler(turn)
        except Exception as exc:
            raise StageFailed(STAGES[stage - 1], turn, exc) from exc


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


def run_chain(dataset: Dataset, start: int, end: int, options: RunOptions, *, progress: bool = True) -> dict:
    """Run stages ``start..end``; every write is committed only when all steps succeed.

    Returns the run report (steps with what they wrote and which backend ran); timings go to
    ``timings/stages.json``. Raises :class:`StageFailed` (the dataset is then left unchanged).
    """
    if not isinstance(dataset, Dataset):
        raise TypeError(f"dataset must be a Dataset (see open_dataset), got {type(dataset).__name__}")
    steps = plan(dataset, start, end)
    options = dataclasses.replace(options, workers=resolve_workers(options.workers))
    store = RunStore(dataset.root)
    run = ChainRun(dataset, store, options)
    timings, report = [], []
    try:
        for step in tqdm(steps, desc="clematis-native", unit="step", disable=None if progress else True):
            began = time.perf_counter()
            info = run.step(step["stage"], step["turn"])
            timings.append({"stage": step["stage"], "turn": step["turn"],
                            "seconds": time.perf_counter() - began})
            report.append({k: step[k] for k in ("stage", "name", "turn", "writes")} | info)
        store.write_json(TIMINGS_FILE, {"steps": timings, "stage_totals": stage_totals(timings)})
        store.commit()
    finally:
        store.discard()
    return {"dataset": os.fspath(dataset.root), "steps": [start, end], "workers": options.workers,
            "backend_requested": options.backend, "native_only": options.native_only,
            "n_turns": len(dataset.turns), "graphs": list(dataset.graph_names), "ran": report,
            "timings_file": TIMINGS_FILE}


def stage_totals(timings: list[dict]) -> dict[str, float]:
    totals: dict[str, float] = {}
    for t in timings:
        key = f"stage{t['stage']}_{STAGES[t['stage'] - 1].name}"
        totals[key] = totals.get(key, 0.0) + t["seconds"]
    return totals
