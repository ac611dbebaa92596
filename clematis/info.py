"""``clematis.show_config()``: versions, the active backend and the environment, for bug reports."""

from __future__ import annotations

import os
import platform
import re
import sys
from collections.abc import Mapping
from importlib import metadata

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


def show_config(config: Mapping | None = None, *, file=None, quiet: bool = False) -> dict:
    """Print and return versions, the backend that would run (for ``config``, normalized or
    None) and why, whether the compiled kernel imports (and the import error if not), and the
    relevant environment variables. ``quiet=True`` only returns the dict."""
    from ._version import __version__

    module = _backend.native_module
    choice = _backend.choose_backend(None, config)
    info = {
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
    }
    if not quiet:
        out = file if file is not None else sys.stdout
        for section, values in info.items():
            if isinstance(values, dict):
                print(f"{section}:", file=out)
                for key, value in values.items():
                    print(f"  {key}: {'(unset)' if value is None else value}", file=out)
            else:
                print(f"{section}: {values}", file=out)
    return info
