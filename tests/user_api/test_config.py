"""load_config: defaults, normalization, and every kind of error (path, value, allowed, hint)."""

from __future__ import annotations

import logging
import tracemalloc

import pytest

import clematis
from clematis._backend import reset_once_logs
from clematis.config import MAX_CONFIG_BYTES, MAX_YAML_ALIASES, MAX_YAML_DEPTH, ConfigError, load_config


def errors_of(raw) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(raw)
    return info.value.errors


def test_defaults_match_the_spec():
    cfg = load_config()
    assert cfg["t1"] == {
        "decay": {"mode": "exp_floor", "rate": 0.6, "floor": 0.05},
        "edge_type_mult": {"supports": 1.0, "associates": 0.6, "contradicts": 0.8},
        "radius_cap": 4, "iter_cap": 50, "node_budget": 1.5, "queue_budget": 10000, "relax_cap": None,
    }
    assert cfg["perf"] == {
        "t1": {"caps": {"frontier": 0, "visited": 0}, "dedupe_window": 0},
        "parallel": {"enabled": False, "t1": False, "max_workers": 0},
    }
    assert cfg["gel"] == {"enabled": False, "decay": {"rate": 0.95, "floor": 0.0}}
    assert load_config({}) == cfg


def test_perf_native_appears_only_when_written_and_gets_its_defaults():
    assert "native" not in load_config({"perf": {"t1": {"dedupe_window": 3}}})["perf"]
    native = load_config({"perf": {"native": {"t1": {"strict_parity": True}}}})["perf"]["native"]
    assert native == {
        "t1": {"enabled": True, "backend": "native", "strict_parity": True,
               "parity": {"atol": 1.0e-6, "rtol": 1.0e-5}},
        "gel": {"enabled": True},
    }


def test_loading_is_idempotent_and_does_not_alias_the_input():
    raw = {"t1": {"edge_type_mult": {"causes": 0.5}}, "perf": {"native": {"t1": {"enabled": False}}}}
    cfg = load_config(raw)
    assert load_config(cfg) == cfg
    cfg["t1"]["edge_type_mult"]["causes"] = 9.0
    assert raw["t1"]["edge_type_mult"]["causes"] == 0.5
    assert load_config()["t1"]["edge_type_mult"] == {"supports": 1.0, "associates": 0.6, "contradicts": 0.8}


def test_yaml_file_is_read(tmp_path):
    path = tmp_path / "cfg.yaml"
    path.write_text("t1:\n  decay: {mode: attn_quad, alpha: 0.5}\n  relax_cap: 7\nperf:\n  parallel:\n"
                    "    enabled: true\n")
    cfg = load_config(path)
    assert cfg["t1"]["decay"] == {"mode": "attn_quad", "alpha": 0.5}
    assert cfg["t1"]["relax_cap"] == 7
    assert cfg["perf"]["parallel"]["enabled"] is True
    assert load_config(str(path)) == cfg


def test_empty_yaml_file_gives_the_defaults(tmp_path):
    path = tmp_path / "empty.yaml"
    path.write_text("")
    assert load_config(path) == load_config()


@pytest.mark.parametrize("iter_cap, layers, expected", [(None, 7, 7), (9, None, 9), (9, 7, 7), (3, 7, 3)])
def test_iter_cap_and_iter_cap_layers_smaller_wins(iter_cap, layers, expected):
    t1 = {k: v for k, v in (("iter_cap", iter_cap), ("iter_cap_layers", layers)) if v is not None}
    cfg = load_config({"t1": t1})
    assert cfg["t1"]["iter_cap"] == expected
    assert "iter_cap_layers" not in cfg["t1"]


def test_edge_type_mult_overrides_defaults_and_accepts_new_relations():
    mult = load_config({"t1": {"edge_type_mult": {"associates": 0.25, "causes": 2}}})["t1"]["edge_type_mult"]
    assert mult == {"supports": 1.0, "associates": 0.25, "contradicts": 0.8, "causes": 2}


def test_rust_backend_is_an_alias_of_native_with_one_warning(caplog):
    reset_once_logs()
    raw = {"perf": {"native": {"t1": {"backend": "rust"}}}}
    with caplog.at_level(logging.WARNING, logger="clematis.config"):
        assert load_config(raw)["perf"]["native"]["t1"]["backend"] == "native"
        load_config(raw)
    warnings = [r for r in caplog.records if r.name == "clematis.config"]
    assert len(warnings) == 1
    assert warnings[0].levelno == logging.WARNING
    assert warnings[0].getMessage().startswith("backend_rust_alias:")


@pytest.mark.parametrize("raw, message", [
    ({"perf": {"native": {"t1": {"backend": "cuda"}}}},
     "perf.native.t1.backend: 'cuda' is not one of native, python"),
    ({"t1": {"radius_cap": -1}}, "t1.radius_cap: -1 is not an integer >= 0"),
    ({"t1": {"radius_cap": 2.0}}, "t1.radius_cap: 2.0 is not an integer >= 0"),
    ({"t1": {"radius_cap": True}}, "t1.radius_cap: True is not an integer >= 0"),
    ({"t1": {"queue_budget": "many"}}, "t1.queue_budget: 'many' is not an integer >= 0"),
    ({"t1": {"node_budget": 0}}, "t1.node_budget: 0 is not a number > 0"),
    ({"t1": {"node_budget": 1e-60}}, "t1.node_budget: 1e-60 is not a number > 0 (after rounding to float32)"),
    ({"t1": {"node_budget": float("nan")}}, "t1.node_budget: nan is not a number > 0"),
    ({"t1": {"decay": {"rate": 1.5}}}, "t1.decay.rate: 1.5 is not a number in [0, 1]"),
    ({"t1": {"decay": {"mode": "linear"}}}, "t1.decay.mode: 'linear' is not one of exp_floor, attn_quad"),
    ({"t1": {"decay": {"mode": "attn_quad", "alpha": -1}}}, "t1.decay.alpha: -1 is not a number >= 0"),
    ({"t1": {"edge_type_mult": {"supports": -0.5}}}, "t1.edge_type_mult.supports: -0.5 is not a number >= 0"),
    ({"t1": {"edge_type_mult": {3: 0.5}}}, "t1.edge_type_mult.3: relation name 3 is not a non-empty string"),
    ({"t1": {"relax_cap": -2}}, "t1.relax_cap: -2 is not an integer >= 0"),
    ({"perf": {"parallel": {"enabled": "yes"}}},
     "perf.parallel.enabled: 'yes' is not a boolean (true or false)"),
    ({"perf": {"native": {"t1": {"parity": {"atol": -1e-6}}}}},
     "perf.native.t1.parity.atol: -1e-06 is not a number >= 0"),
    ({"gel": {"decay": {"floor": 2}}}, "gel.decay.floor: 2 is not a number in [0, 1]"),
    ({"perf": {"t1": 5}}, "perf.t1: 5 is not a mapping"),
    ([1, 2], "(top level): [1, 2] is not a mapping"),
])
def test_bad_values_name_path_value_and_what_is_allowed(raw, message):
    if isinstance(raw, list):
        with pytest.raises(TypeError, match="path_or_dict"):
            load_config(raw)
        return
    assert errors_of(raw) == [message]


@pytest.mark.parametrize("raw, message", [
    ({"t1": {"radius_caps": 3}}, "t1.radius_caps: unknown key; did you mean 'radius_cap'? (allowed: "),
    ({"perf": {"nativ": {}}},
     "perf.nativ: unknown key; did you mean 'native'? (allowed: t1, parallel, native)"),
    ({"perf": {"native": {"t1": {"strict_parity": False, "strictparity": True}}}},
     "perf.native.t1.strictparity: unknown key; did you mean 'strict_parity'?"),
    ({"t1": {"decay": {"mode": "attn_quad", "rate": 0.5}}},
     "t1.decay.rate: unknown key for decay mode 'attn_quad' (allowed: mode, alpha)"),
    ({"zzz": 1}, "zzz: unknown key (allowed: t1, perf, gel)"),
])
def test_unknown_keys_get_a_did_you_mean_hint(raw, message):
    (error,) = errors_of(raw)
    assert error.startswith(message)


def test_all_errors_of_a_file_are_reported_together(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("t1:\n  radius_caps: 3\n  node_budget: -1\nperf:\n  native:\n    t1: {backend: cuda}\n"
                    "gel: {enabled: 1}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    err = info.value
    assert isinstance(err, ValueError)
    assert err.source == str(path)
    assert [e.split(":")[0] for e in err.errors] == [
        "t1.radius_caps", "t1.node_budget", "perf.native.t1.backend", "gel.enabled"]
    text = str(err)
    assert str(path) in text and "4 errors" in text
    assert all(e in text for e in err.errors)


def test_unreadable_and_malformed_files_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="cannot read the file"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("t1: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


def test_nothing_runs_on_a_bad_config(demo_graph, tmp_path):
    with pytest.raises(ConfigError):
        clematis.run_turn(demo_graph, "storm", {"t1": {"radius_cap": -1}}, log_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


def config_error(tmp_path, text: str | bytes, name: str = "c.yaml") -> ConfigError:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.source == str(path) and str(path) in str(info.value)
    return info.value


def alias_bomb(target: str) -> str:
    """The billion laughs: nine levels of nine aliases, 9**9 strings when expanded."""
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]"
              for prev, cur in zip("abcdefgh", "bcdefghi", strict=True)]
    return "\n".join(lines) + f"\nt1:\n  {target}: *i\n"


def test_the_alias_bomb_is_refused_at_the_alias_limit(tmp_path):
    bomb = alias_bomb("node_budget")
    assert len(bomb) < 400
    tracemalloc.start()
    try:
        err = config_error(tmp_path, bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    first_refused = 7 + 3 * (MAX_YAML_ALIASES - 9)  # line 3 holds aliases 10 to 18
    assert f"line 3, column {first_refused + 1}: more than {MAX_YAML_ALIASES} aliases" in str(err)
    assert peak < 4 * MAX_CONFIG_BYTES  # the read buffer and a few nodes, not 9**9 strings


def test_a_few_aliases_still_work(tmp_path):
    path = tmp_path / "shared.yaml"
    path.write_text("perf:\n  t1:\n    caps: {frontier: &cap 8, visited: *cap}\n    dedupe_window: *cap\n")
    assert load_config(path)["perf"]["t1"] == {"caps": {"frontier": 8, "visited": 8}, "dedupe_window": 8}


def test_duplicate_keys_are_errors_with_both_lines(tmp_path):
    err = config_error(tmp_path, "t1:\n  radius_cap: 2\n  node_budget: 1.0\n  radius_cap: 3\n")
    assert "line 4, column 3: duplicate key 'radius_cap' (first at line 2)" in str(err)
    err = config_error(tmp_path, "t1: {}\ngel: {}\nt1: {radius_cap: 1}\n")
    assert "line 3, column 1: duplicate key 't1' (first at line 1)" in str(err)
    err = config_error(tmp_path, "t1: {radius_cap: 1, radius_cap: 1}\n")
    assert "duplicate key 'radius_cap'" in str(err)


def test_merge_keys_may_be_overridden(tmp_path):
    path = tmp_path / "merge.yaml"
    path.write_text("t1:\n  <<: {radius_cap: 2, node_budget: 2.0}\n  radius_cap: 3\n")
    t1 = load_config(path)["t1"]
    assert (t1["radius_cap"], t1["node_budget"]) == (3, 2.0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("t1: [unclosed\n", "line 2, column 1: expected ',' or ']'"),
        ("t1:\n\tradius_cap: 2\n", "line 2, column 1: found character '\\t' that cannot start any token"),
        ("t1:\n  radius_cap: 2\x07\n", "line 2: character U+0007 is not allowed"),
        (b"t1:\n  radius_cap: 2\n  node_budget: \xff\n", "line 3: not UTF-8 text (byte 0xff)"),
        ("t1: " + "[" * 50_000 + "]" * 50_000 + "\n", f"column {4 + MAX_YAML_DEPTH}: nested more than"),
        ("t1:\n  radius_cap: 2001-02-30\n", "line 2, column 15: cannot read timestamp value"),
        ("t1:\n  radius_cap: !!int abc\n", "line 2, column 15: cannot read int value"),
        ("t1: !!python/object:os.system x\n", "line 1, column 5: could not determine a constructor"),
        ("t1: {}\n---\nt1: {}\n", "line 2, column 1: but found another document"),
        ("? [a, b]\n: 1\n", "line 1, column 3: found unhashable key"),
    ],
)
def test_every_parse_failure_is_a_config_error_naming_the_line(tmp_path, text, expected):
    err = config_error(tmp_path, text)
    assert expected in str(err), str(err)
    assert len(str(err)) < 400


def test_files_over_the_size_limit_are_refused_unread(tmp_path):
    err = config_error(tmp_path, b"#" * MAX_CONFIG_BYTES + b"\n")
    assert f"larger than {MAX_CONFIG_BYTES} bytes (1 MiB)" in str(err)
    (tmp_path / "at_limit.yaml").write_bytes(b"#" * (MAX_CONFIG_BYTES - 1) + b"\n")
    assert load_config(tmp_path / "at_limit.yaml") == load_config()


def test_a_config_symlinked_to_another_file_is_not_echoed(tmp_path):
    other = tmp_path / "notes.txt"
    other.write_text("Private notes, line after line, never meant for a log.\n" * 2000)
    link = tmp_path / "clematis.yaml"
    link.symlink_to(other)
    with pytest.raises(ConfigError) as info:
        load_config(link)
    assert "is not a mapping" in str(info.value)
    assert len(str(info.value)) < 250


def test_huge_values_and_keys_are_quoted_as_excerpts(tmp_path):
    big = "x" * 50_000
    err = config_error(tmp_path, f"t1:\n  radius_cap: {big}\n  ? {big}\n  : 1\nperf: {big}\n")
    assert len(err.errors) == 3 and all(len(e) < 250 for e in err.errors), err.errors
