"""A pooled workspace keeps at most QUEUE_BYTES_KEPT (1 MiB) of queue memory after a call
(issue 11, item 5): what a big query grew is released at the end of the call, bits unchanged."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp
from t1_workloads import as_graph

import clematis
import clematis._backend
from clematis._kernel_calls import workspaces_for

pytestmark = pytest.mark.native

LEAVES = 300_000  # one pop of the hub queues them all: 2.4 MB of radix entries at once


@pytest.fixture(scope="module")
def star() -> clematis.ConceptGraph:
    """Node 0 points at every other node; nothing else has edges."""
    indptr = np.full(LEAVES + 2, LEAVES, dtype=np.int32)
    indptr[0] = 0
    weights = np.linspace(0.2, 1.0, LEAVES, dtype=np.float32)
    matrix = sp.csr_array((weights, np.arange(1, LEAVES + 1, dtype=np.int32), indptr),
                          shape=(LEAVES + 1, LEAVES + 1))
    return as_graph(matrix)


def pooled_queue_bytes(graph: clematis.ConceptGraph) -> int:
    with workspaces_for(graph.arrays).acquire() as workspace:
        return workspace.queue_bytes


def bits(result: clematis.T1Result) -> tuple:
    return result.nodes.tobytes(), result.values.view(np.int32).tobytes(), result.metrics, result.truncated


PARAMS = {"queue_budget": 0}
CAPS = {"queue_budget": 0, "frontier_cap": 250_000, "dedupe_window": 250_000, "visited_cap": 300_000}


@pytest.mark.parametrize("params", [PARAMS, CAPS], ids=["radix queue", "heap and rings"])
def test_a_big_query_leaves_at_most_the_threshold(star, params):
    kept = clematis._backend.native_module.QUEUE_BYTES_KEPT
    assert kept == 1 << 20
    first = clematis.propagate(star, [0], backend="native", **params)
    assert first.metrics["pops"] - 1 > kept // 8  # the leaves, queued at once: over 1 MiB of entries
    assert pooled_queue_bytes(star) <= kept
    again = clematis.propagate(star, [0], backend="native", **params)
    fresh_graph = pickle.loads(pickle.dumps(star))  # a new pool: a workspace that never shrank
    fresh = clematis.propagate(fresh_graph, [0], backend="native", **params)
    assert bits(again) == bits(first) == bits(fresh)
    assert pooled_queue_bytes(star) <= kept


def test_the_reference_agrees(star):
    native = clematis.propagate(star, [0], backend="native", **PARAMS)
    assert bits(clematis.propagate(star, [0], backend="python", **PARAMS)) == bits(native)


def test_a_small_query_keeps_its_queue_warm(star):
    clematis.propagate(star, [5], backend="native", queue_budget=0)  # a leaf: one pop
    assert 0 < pooled_queue_bytes(star) <= clematis._backend.native_module.QUEUE_BYTES_KEPT


# The child builds a star, answers its hub query once, then lowers its address-space limit to a
# few MiB above what it uses, so the kernel's queue cannot grow; the hub query (alone through
# propagate, or after a leaf's in one propagate_many kernel call) must raise the
# kernel's MemoryError and leave its pooled workspace idle and small: with the limit lifted, the
# same workspace gives the first answer's bits again, for the hub and for a leaf. A fixed mmap
# threshold makes glibc map every big block afresh and unmap it when freed, so no freed memory of
# an earlier call can serve the queue without growing the address space.
WIDE_CAPS = {"queue_budget": 0, "frontier_cap": 1_500_000, "dedupe_window": 1_500_000,
             "visited_cap": 2_000_000}
OUT_OF_MEMORY_CHILD = """
import json, resource, sys
import numpy as np, scipy.sparse as sp
import clematis
from clematis._kernel_calls import workspaces_for

leaves = 2_000_000  # one pop queues them all: 16 MB of queue entries, 4 MiB may be allocated
params, entry = json.loads(sys.argv[1]), sys.argv[2]
indptr = np.full(leaves + 2, leaves, dtype=np.int32)
indptr[0] = 0
matrix = sp.csr_array((np.linspace(0.2, 1.0, leaves, dtype=np.float32),
                       np.arange(1, leaves + 1, dtype=np.int32), indptr), shape=(leaves + 1,) * 2)
graph = clematis.ConceptGraph.from_csr(matrix)

def run(seed):
    return clematis.propagate(graph, [seed], backend="native", **params)

def bits(r):
    return [r.nodes.tobytes().hex(), r.values.view(np.int32).tobytes().hex(), r.metrics, r.truncated]

def address_space():
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmSize"))

hub, leaf = bits(run(0)), bits(run(5))
soft, hard = resource.getrlimit(resource.RLIMIT_AS)
resource.setrlimit(resource.RLIMIT_AS, (address_space() + (4 << 20), hard))
try:
    if entry == "propagate":
        run(0)
    else:  # one kernel call for both queries: the leaf's, then the hub's
        clematis.propagate_many(graph, [[5], [0]], workers=1, backend="native", **params)
    error = None
except MemoryError as exc:
    error = str(exc)
resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
with workspaces_for(graph.arrays).acquire() as workspace:
    kept = workspace.queue_bytes
print(json.dumps({"error": error, "kept": kept, "hub": bits(run(0)) == hub, "leaf": bits(run(5)) == leaf}))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS and /proc: Linux only")
@pytest.mark.skipif("asan" in os.environ.get("LD_PRELOAD", ""),
                    reason="ASan reserves terabytes of address space")
@pytest.mark.parametrize("entry", ["propagate", "propagate_many"])
@pytest.mark.parametrize("params", [PARAMS, WIDE_CAPS], ids=["radix queue", "heap and rings"])
def test_running_out_of_memory_raises_and_leaves_the_workspace_reusable(tmp_path, params, entry):
    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": str(128 << 10)}
    child = subprocess.run([sys.executable, "-c", OUT_OF_MEMORY_CHILD, json.dumps(params), entry],
                           cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert child.returncode == 0, child.stderr
    outcome = json.loads(child.stdout)
    assert outcome["error"] == "out of memory while running a T1 query"
    assert outcome["kept"] <= clematis._backend.native_module.QUEUE_BYTES_KEPT
    assert outcome["hub"] and outcome["leaf"]
