"""docs/examples/quickstart.ipynb: stored without outputs, and it runs on a real Jupyter kernel."""

from __future__ import annotations

import pytest
from helpers import REPO

import clematis._platform

NOTEBOOK = REPO / "docs" / "examples" / "quickstart.ipynb"
PURE_PYTHON = clematis._platform.env_flag(clematis._platform.ENV_PUREPYTHON) is True
nbformat = pytest.importorskip("nbformat")


def code_cells(notebook) -> list:
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def test_stored_without_outputs():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    assert all(cell.outputs == [] and cell.execution_count is None for cell in code_cells(notebook))


def outputs_of(cells, marker: str) -> list:
    (cell,) = [cell for cell in cells if marker in cell.source]
    return cell.outputs


@pytest.mark.skipif(PURE_PYTHON, reason="once, in the normal pass: a kernel start and a full run")
def test_runs_on_a_jupyter_kernel(tmp_path):
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    outside_the_checkout = {"metadata": {"path": str(tmp_path)}}  # the kernel's working directory
    client = nbclient.NotebookClient(notebook, kernel_name="python3", timeout=300,
                                     resources=outside_the_checkout)
    client.execute()
    cells = code_cells(notebook)
    report = outputs_of(cells, "clematis.show_config()")
    assert [o.output_type for o in report] == ["execute_result"]  # shown once, nothing printed
    assert report[0].data["text/plain"].startswith("versions:\n  clematis: ")
    small = outputs_of(cells, "from_pandas(edges")[0].data["text/html"]
    assert "5 edges" in small and "Rain &lt;wet&gt;" in small
    query = outputs_of(cells, '"garden:compost"])')
    assert "<table>" in query[-1].data["text/html"] and "T1Result: " in query[-1].data["text/html"]
    assert "<table" in outputs_of(cells, "by_text.to_pandas()")[0].data["text/html"]
    for marker in ("by_text.plot(k=15)", "by_text.plot_subgraph"):
        assert any("image/png" in o.get("data", {}) for o in outputs_of(cells, marker))
    batch = outputs_of(cells, "progress=True")
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in batch)  # tqdm.auto
    assert not [o for o in batch if o.output_type == "stream" and o.name == "stderr"]
    assert outputs_of(cells, "graph.save(path)")[0].data["text/plain"] == "True"
    assert "native:" in outputs_of(cells, "assert_identical(res")[0].text
