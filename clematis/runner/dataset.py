"""Runner datasets: ``config.yaml``, ``graphs/*.npz`` and ``turns.jsonl`` in one directory.

See ``docs/runner.md`` for the format. :func:`open_dataset` checks a dataset before any work;
:func:`write_demo_dataset` and :func:`generate_dataset` write new ones.
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from .._validation import as_unit_interval
from ..config import load_config
from ..datasets import demo_graph_records, load_demo_graph
from ..graph import DEFAULT_RELATION_MULTIPLIERS, ConceptGraph

CONFIG_FILE = "config.yaml"
GRAPHS_DIR = "graphs"
TURNS_FILE = "turns.jsonl"
GRAPH_SUFFIX = ".npz"
ARTIFACTS_DIR = "artifacts"
STATE_DIR = "state"
TIMINGS_DIR = "timings"
OUTPUT_DIRS = (ARTIFACTS_DIR, STATE_DIR, TIMINGS_DIR)
BOOKKEEPING_DIR = ".clematis"
SYLLABLES = ("ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "be", "do", "fu", "gi", "ha", "ju", "po", "ze")


class DatasetError(ValueError):
    """A dataset directory that is missing, incomplete or malformed."""


class ConfinementError(DatasetError):
    """A path of the dataset resolves outside it (through a symlink)."""


def confined(root: Path, rel: str) -> Path:
    """``root / rel``, refused (ConfinementError) when it resolves outside ``root``."""
    path = root / rel
    if path.resolve().is_relative_to(root.resolve()):
        return path
    link = next((p for p in [*reversed(path.parents), path] if p.is_symlink()), path)
    raise ConfinementError(f"{os.fspath(link)} is a symlink leaving the dataset (to "
                           f"{os.fspath(link.resolve())}); clematis-native reads and writes only inside "
                           f"{os.fspath(root)!r}")


def check_tree_confined(root: Path, rel: str) -> None:
    """Refuse ``root / rel``, or any symlink below it, that resolves outside ``root``."""
    top = confined(root, rel)
    if not top.is_dir():
        return
    for folder, dirs, files in os.walk(top):
        for name in dirs + files:
            if os.path.islink(os.path.join(folder, name)):
                confined(root, os.path.relpath(os.path.join(folder, name), root))


@dataclass(frozen=True)
class Dataset:
    """A checked dataset: its root, normalized config, graph files (in graph order) and turns."""

    root: Path
    config: dict
    graph_files: tuple[Path, ...]
    turns: tuple[dict, ...]

    @property
    def graph_names(self) -> tuple[str, ...]:
        return tuple(path.stem for path in self.graph_files)


def open_dataset(root: str | os.PathLike) -> Dataset:
    """Check the layout, the config and every turn of the dataset at ``root`` (graphs are loaded
    by stage 1). Raises :class:`DatasetError` or ``clematis.ConfigError``."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"dataset {os.fspath(root)!r} does not exist or is not a directory")
    for name in (CONFIG_FILE, GRAPHS_DIR, TURNS_FILE):
        if not (root / name).exists():
            raise DatasetError(f"dataset {os.fspath(root)!r} has no {name}")
    for rel in (CONFIG_FILE, TURNS_FILE, GRAPHS_DIR, BOOKKEEPING_DIR, *OUTPUT_DIRS):
        check_tree_confined(root, rel)
    config = load_config(root / CONFIG_FILE)
    files = tuple(sorted((root / GRAPHS_DIR).glob("*" + GRAPH_SUFFIX)))
    if not files:
        raise DatasetError(f"{root / GRAPHS_DIR}: no graph files (*{GRAPH_SUFFIX})")
    for path in files:
        if path.suffix != GRAPH_SUFFIX:  # ".npz" alone: a hidden file with no name
            raise DatasetError(f"{path}: a graph file needs a name (NAME{GRAPH_SUFFIX}), the name "
                               "of the graph in every artifact")
        if not path.is_file():
            what = "a dangling symlink" if path.is_symlink() else "not a regular file"
            raise DatasetError(f"{path}: {what}; a graph is a file written by ConceptGraph.save")
    return Dataset(root, config, files, read_turns(root / TURNS_FILE))


def _object_without_duplicates(pairs: list[tuple[str, object]]) -> dict:
    duplicated = sorted(key for key, n in Counter(key for key, _ in pairs).items() if n > 1)
    if duplicated:
        raise ValueError(f"duplicate key(s) {duplicated} in one object")
    return dict(pairs)


def read_turns(path: Path) -> tuple[dict, ...]:
    """The queries of ``turns.jsonl``: one ``{"text": str}`` or ``{"seeds": {id: weight}}`` a line."""
    if not path.is_file():
        raise DatasetError(f"{path}: not a regular file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path}: not UTF-8 text ({exc})") from exc
    turns = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            turns.append(check_turn(json.loads(line, object_pairs_hook=_object_without_duplicates)))
        except RecursionError:
            raise DatasetError(f"{path}:{number}: JSON nested too deeply") from None
        except (ValueError, TypeError) as exc:
            raise DatasetError(f"{path}:{number}: {exc}") from exc
    if not turns:
        raise DatasetError(f"{path}: no turns")
    return tuple(turns)


def is_finite_number(value) -> bool:
    """A JSON number (not a boolean) that is finite."""
    return not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)


def check_turn(turn) -> dict:
    """A turn is ``{"text": str}`` or ``{"seeds": {node id: finite weight}}`` (non-empty)."""
    if not isinstance(turn, dict) or len(turn) != 1 or next(iter(turn)) not in ("text", "seeds"):
        raise ValueError(f'a turn is {{"text": ...}} or {{"seeds": {{...}}}}, got {turn!r}')
    if "text" in turn:
        if not isinstance(turn["text"], str):
            raise TypeError(f"text must be a string, got {turn['text']!r}")
        return turn
    seeds = turn["seeds"]
    if not isinstance(seeds, dict) or not seeds:
        raise ValueError(f"seeds must be a non-empty object of node id -> weight, got {seeds!r}")
    for node, weight in seeds.items():
        if not is_finite_number(weight):
            raise ValueError(f"seeds[{node!r}] must be a finite number, got {weight!r}")
    return turn


def write_dataset(root: str | os.PathLike, graphs: Mapping[str, ConceptGraph], turns: Sequence[dict],
                  config_text: str) -> Path:
    """Write a dataset (``root`` must not exist or be empty); graph order is name order."""
    root = Path(root)
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise DatasetError(f"{os.fspath(root)!r} exists and is not an empty directory")
    for turn in turns:
        check_turn(turn)
    (root / GRAPHS_DIR).mkdir(parents=True, exist_ok=True)
    (root / CONFIG_FILE).write_text(config_text)
    for name, graph in graphs.items():
        graph.save(root / GRAPHS_DIR / f"{name}{GRAPH_SUFFIX}")
    (root / TURNS_FILE).write_text("".join(json.dumps(t, sort_keys=True) + "\n" for t in turns))
    return root


def write_demo_dataset(root: str | os.PathLike) -> Path:
    """The packaged dataset: the demo graph and its reverse (every edge turned around), four turns."""
    data = resources.files("clematis").joinpath("data")
    nodes, labels, edges = demo_graph_records()
    reversed_graph = ConceptGraph.from_edges(((d, s, w, r) for s, d, w, r in edges), labels=labels,
                                             nodes=nodes)
    turns = [json.loads(line) for line in data.joinpath("demo_dataset_turns.jsonl").read_text().splitlines()]
    return write_dataset(root, {"demo": load_demo_graph(), "demo_reversed": reversed_graph}, turns,
                         data.joinpath("demo_dataset_config.yaml").read_text())


def generate_dataset(root: str | os.PathLike, *, nodes: int = 1000, edges: int = 5000, turns: int = 5,
                     seed: int = 0, graphs: int = 2, gel_rate: float = 0.9) -> Path:
    """A random dataset, the same for the same arguments: ``graphs`` graphs over one set of
    ``nodes`` ids (``n000000``, ... with made-up word labels), ``edges`` typed edges each, and
    ``turns`` turns alternating text and explicit seeds."""
    for name, value, low in (("nodes", nodes, 1), ("edges", edges, 0), ("turns", turns, 1),
                             ("graphs", graphs, 1), ("seed", seed, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    as_unit_interval("gel_rate", gel_rate)
    rng = np.random.default_rng(seed)
    ids = [f"n{i:06d}" for i in range(nodes)]
    syllables = rng.integers(0, len(SYLLABLES), (nodes, 3))
    labels = {nid: "".join(SYLLABLES[s] for s in row) for nid, row in zip(ids, syllables, strict=True)}
    relations = list(DEFAULT_RELATION_MULTIPLIERS)
    built = {}
    for g in range(graphs):
        src, dst = rng.integers(0, nodes, edges), rng.integers(0, nodes, edges)
        weight = np.round(rng.uniform(0.2, 1.0, edges), 3)
        rel = rng.integers(0, len(relations), edges)
        records = ((ids[s], ids[d], float(w), relations[r]) for s, d, w, r in zip(src, dst, weight, rel,
                                                                                   strict=True))
        built[f"g{g:02d}"] = ConceptGraph.from_edges(records, labels=labels, nodes=ids)
    queries: list[dict] = []
    for t in range(turns):
        picked = rng.choice(nodes, size=min(3, nodes), replace=False)
        if t % 2 == 0:
            queries.append({"text": " and ".join(labels[ids[i]] for i in picked)})
        else:
            weights = np.round(rng.uniform(0.25, 1.0, picked.size), 3)
            queries.append({"seeds": {ids[i]: float(w) for i, w in zip(picked, weights, strict=True)}})
    config = (f"# generated: nodes={nodes} edges={edges} turns={turns} seed={seed} graphs={graphs}\n"
              f"t1:\n  queue_budget: 10000\ngel:\n  enabled: true\n"
              f"  decay: {{rate: {gel_rate!r}, floor: 0.0}}\n")
    return write_dataset(root, built, queries, config)
