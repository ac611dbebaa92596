"""``clematis.show_config()``: versions, the active backend and the environment, for bug reports."""

from __future__ import annotations

import os
import platform
import re
from collections.abc import Mapping
from importlib import metadata
from typing import TextIO

import numpy as np
import scipy

from . import _backend

ENV_VARIABLES = ("CLEMATIS_NATIVE_T1", "CLEMATIS_STRICT_PARITY", "CLEMATIS_LOG_DIR",
                 "PERF_NATIVE_GEL_ENABLED", "CLEMATIS_CYTHON_DEBUG")


def _installed_version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _cython_build_version(module) -> str | None:
    """The Cython that generated the kernel, read from its shared ABI module (``_cython_3_1_4``)."""
    if module is None:
        return None
    match = re.fullmatch(r"_cython_(\d+)_(\d+)_(\d+)\w*", type(module.propagate_batch).__module__)
    return ".".join(match.groups()) if match else None


class ConfigReport(dict):
    """The :func:`show_config` mapping; its repr (and ``str``) is the readable report."""

    def __repr__(self) -> str:
        lines = []
        for section, values in self.items():
            if isinstance(values, dict):
                lines.append(f"{section}:")
                lines.extend(f"  {key}: {'(unset)' if value is None else value}"
                             for key, value in values.items())
            else:
                lines.append(f"{section}: {values}")
        return "\n".join(lines)

    __str__ = __repr__

    def _repr_pretty_(self, printer, cycle: bool) -> None:
        """IPython shows the report, not the dict."""
        printer.text(repr(self))


def show_config(config: Mapping | None = None, *, file: TextIO | None = None) -> ConfigReport:
    """Versions, the backend that would run (for ``config``, normalized or None) and why, whether
    the compiled kernel imports (and the import error if not), and the relevant environment
    variables, as a :class:`ConfigReport` (a dict whose repr is the report, so a notebook cell
    shows it once). Prints nothing unless ``file`` is given (``file=sys.stdout`` prints it)."""
    from ._version import __version__

    module = _backend.native_module
    choice = _backend.choose_backend(None, config)
    report = ConfigReport({
        "versions": {
            "clematis": __version__,
            "python": platform.python_version(),
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "cython_build": _cython_build_version(module),
            "cython_installed": _installed_version("Cython"),
        },
        "backend": {
            "active": choice.backend,
            "requested": choice.requested,
            "source": choice.source,
            "strict_parity": _backend.strict_parity_enabled(config),
        },
        "kernel": {
            "module": _backend.NATIVE_MODULE,
            "importable": module is not None,
            "path": getattr(module, "__file__", None),
            "import_error": _backend.import_error,
        },
        "environment": {name: os.environ.get(name) for name in ENV_VARIABLES},
        "platform": platform.platform(),
    })
    if file is not None:
        print(report, file=file)
    return report
