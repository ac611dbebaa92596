"""Every Python block of README.md and docs/*.md runs as written (Sybil), each page in a fresh
namespace and an empty working directory; docs/batch.md's Dask example runs as a script."""

from __future__ import annotations

import doctest
import pathlib
import re
import subprocess
import sys

import pytest
from helpers import REPO

sybil = pytest.importorskip("sybil")
from sybil.parsers.markdown import PythonCodeBlockParser, SkipParser  # noqa: E402

PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
SYBIL = sybil.Sybil(parsers=[PythonCodeBlockParser(doctest_optionflags=doctest.ELLIPSIS), SkipParser()])
FENCE = re.compile(r"^```python\n(.*?)^```$", re.S | re.M)


def python_blocks(page: pathlib.Path) -> list[str]:
    return FENCE.findall(page.read_text(encoding="utf-8"))


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_python_blocks_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    examples = list(SYBIL.parse(page))
    for example in examples:
        example.evaluate()
    text = page.read_text(encoding="utf-8")
    for block in FENCE.finditer(text):  # no block left unparsed (a typo in the fence, say)
        first, last = text.count("\n", 0, block.start()) + 1, text.count("\n", 0, block.end()) + 1
        assert any(first <= example.line <= last for example in examples), f"{page.name}:{first}"


def test_the_dask_example_runs_as_a_script(tmp_path):
    pytest.importorskip("distributed")
    (script,) = [block for block in python_blocks(REPO / "docs" / "batch.md") if "clematis.dask" in block]
    assert 'if __name__ == "__main__":' in script
    (tmp_path / "dask_example.py").write_text(script)
    run = subprocess.run([sys.executable, "dask_example.py"], cwd=tmp_path, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "bit-identical: True"
