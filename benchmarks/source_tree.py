"""A clean copy of the checkout to build from (no venv, build output or Cython-generated C).

Shared by tests (``clean_checkout``: the sdist and packaging tests) and
``abi3_vs_specific.py``; tests import it through pytest's ``pythonpath``.
"""

from __future__ import annotations

import pathlib
import shutil

REPO = pathlib.Path(__file__).resolve().parents[1]
_NOT_SOURCE = shutil.ignore_patterns(".git", ".venv", "build", "dist", "wheelhouse", "*.egg-info", "*.so",
                                     "*.pyd", "*.o", "__pycache__", ".benchmarks", ".hypothesis",
                                     ".ruff_cache")


def _not_source(directory: str, names: list[str]) -> set[str]:
    generated_c = {name for name in names if name.endswith(".c")} if directory.endswith("_kernels") else set()
    return _NOT_SOURCE(directory, names) | generated_c


def copy_source_tree(dest: pathlib.Path) -> pathlib.Path:
    """A clean copy of the checkout (no venv, build output or Cython-generated C) to build from."""
    shutil.copytree(REPO, dest, ignore=_not_source)
    return dest
