"""clematis.show_config and the public names of the package."""

from __future__ import annotations

import io

import numpy as np
import pytest
import scipy

import clematis
from clematis.config import load_config


@pytest.mark.native
def test_show_config_returns_versions_backend_kernel_and_env_and_prints_to_file(monkeypatch):
    monkeypatch.setenv("CLEMATIS_STRICT_PARITY", "1")
    monkeypatch.setenv("CLEMATIS_LOG_DIR", "/tmp/somewhere")
    out = io.StringIO()
    info = clematis.show_config(file=out)
    assert info["versions"]["clematis"] == clematis.__version__
    assert info["versions"]["numpy"] == np.__version__ and info["versions"]["scipy"] == scipy.__version__
    assert info["backend"] == {"active": "native", "requested": "native", "source": "default",
                               "strict_parity": True}
    assert info["kernel"]["importable"] is True and info["kernel"]["import_error"] is None
    assert info["kernel"]["path"].endswith((".so", ".pyd"))
    major = info["versions"]["cython_build"].split(".")[0]
    assert major.isdigit() and int(major) >= 3
    assert info["environment"]["CLEMATIS_LOG_DIR"] == "/tmp/somewhere"
    assert info["environment"]["CLEMATIS_NATIVE_T1"] is None
    text = out.getvalue()
    assert "active: native" in text and "CLEMATIS_LOG_DIR: /tmp/somewhere" in text
    assert "CLEMATIS_NATIVE_T1: (unset)" in text


@pytest.mark.native
def test_show_config_reflects_env_and_config(monkeypatch, capsys):
    off = load_config({"perf": {"native": {"t1": {"enabled": False}}}})
    assert clematis.show_config(off)["backend"]["source"] == "config"
    assert capsys.readouterr().out == ""
    monkeypatch.setenv("CLEMATIS_NATIVE_T1", "1")
    backend = clematis.show_config(off)["backend"]
    assert (backend["active"], backend["source"]) == ("native", "env")


def test_public_names_are_exported():
    for name in ("load_config", "ConfigError", "run_turn", "run_smoke_turn", "TurnResult", "show_config",
                 "ParityError"):
        assert name in clematis.__all__ and hasattr(clematis, name)
    assert issubclass(clematis.ConfigError, ValueError)
