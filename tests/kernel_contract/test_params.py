"""One definition per T1 parameter: the kernel struct, the typed options, the config and the
signatures all follow clematis._params."""

from __future__ import annotations

import inspect
import typing

import numpy as np
import pytest

import clematis
from clematis import _params
from clematis._params import ALL_NAMES, PARAMETER_NAMES, KernelCaps, T1Options, T1Params


@pytest.mark.native
def test_kernel_struct_fields_are_the_parameter_definition():
    from clematis._kernels import _t1

    assert _t1.PARAMS_DTYPE.names == PARAMETER_NAMES
    assert _t1.PARAMS_DTYPE["node_budget"] == np.float32  # the contract rounds it to float32


def test_typed_options_name_every_parameter():
    assert tuple(typing.get_type_hints(T1Options)) == (*KernelCaps.__annotations__, *[
        n for n in ALL_NAMES if n not in KernelCaps.__annotations__])
    assert set(typing.get_type_hints(T1Options)) == set(ALL_NAMES)
    contract_optional = [p.name for p in _params.PARAMETERS if p.contract is not _params.REQUIRED]
    assert list(KernelCaps.__annotations__) == contract_optional


@pytest.mark.parametrize("function", [clematis.propagate, clematis.propagate_many, clematis.Query.__init__])
def test_public_signatures_take_the_typed_options(function):
    assert inspect.signature(function).parameters["params"].kind is inspect.Parameter.VAR_KEYWORD
    hint = typing.get_type_hints(function)["params"]
    assert typing.get_origin(hint) is typing.Unpack and typing.get_args(hint) == (T1Options,)


def test_contract_profile_requires_the_scalars_and_keeps_caps_off():
    with pytest.raises(TypeError, match="missing required T1 parameter 'radius_cap'"):
        T1Params.build("contract", decay="exp_floor", rate=0.5, floor=0.0)
    with pytest.raises(TypeError, match="missing required decay parameter 'rate'"):
        T1Params.build("contract", radius_cap=1, iter_cap_layers=1, node_budget=1.0)
    p = T1Params.build("contract", rate=0.5, floor=0.0, radius_cap=1, iter_cap_layers=2, node_budget=1.0)
    assert (p.frontier_cap, p.visited_cap, p.dedupe_window, p.queue_budget, p.relax_cap) == (0,) * 5


def test_user_profile_defaults_follow_the_spec():
    p = T1Params.build("user")
    assert p.as_kwargs() == {"decay": "exp_floor", "rate": np.float32(0.6), "floor": np.float32(0.05),
                             "radius_cap": 4, "iter_cap_layers": 50, "node_budget": np.float32(1.5),
                             "frontier_cap": 0, "visited_cap": 0, "dedupe_window": 0,
                             "queue_budget": 10000, "relax_cap": 0}


def test_default_config_maps_to_the_user_profile():
    assert _params.from_config(clematis.load_config(None)) == T1Params.build("user")


def test_config_values_reach_the_parameters():
    config = clematis.load_config({"t1": {"decay": {"mode": "attn_quad", "alpha": 0.5}, "relax_cap": 7,
                                          "iter_cap": 9},
                                   "perf": {"t1": {"caps": {"frontier": 3}, "dedupe_window": 2}}})
    p = _params.from_config(config)
    assert (p.decay.mode, p.decay["alpha"], p.relax_cap, p.iter_cap_layers, p.frontier_cap,
            p.dedupe_window) == ("attn_quad", np.float32(0.5), 7, 9, 3, 2)


def test_record_round_trips_every_field():
    p = T1Params.build("user", radius_cap=3, relax_cap=11, node_budget=0.25)
    dtype = np.dtype([(name, np.float32 if name == "node_budget" else np.int64) for name in PARAMETER_NAMES])
    record = p.record(dtype)
    assert [record[name][0] for name in PARAMETER_NAMES] == [getattr(p, name) for name in PARAMETER_NAMES]
