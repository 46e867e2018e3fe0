import re

import pytest

from filterkit.config import (
    DetectorSpec,
    FilterConfig,
    UsageError,
    dump_config,
    filter_config,
    load_config,
    parse_params,
)
from filterkit.stage.rules import Rule, WeightSpec

YAML = """
mode: weight
combine: all
detectors:
  - {name: exact, params: {fold_case: false}}
rules:
  - {column: exact.is_duplicate, op: ">=", threshold: 1, reason: dup}
weight: {column: classifier.p_machine, power: 3}
"""

TOML = """
mode = "tag"
text_column = "body"
[[detectors]]
name = "exact"
[[rules]]
column = "exact.is_duplicate"
threshold = 1.0
"""


def test_yaml_and_toml_load_typed(tmp_path):
    (tmp_path / "c.yaml").write_text(YAML)
    (tmp_path / "c.toml").write_text(TOML)
    y = load_config(tmp_path / "c.yaml")
    assert y.mode == "weight" and y.combine == "all"
    assert y.detectors == (DetectorSpec("exact", {"fold_case": False}),)
    assert y.rules == (Rule("exact.is_duplicate", ">=", 1, "dup"),)
    assert y.weight == WeightSpec("classifier.p_machine", 3)
    t = load_config(tmp_path / "c.toml")
    assert t.text_column == "body" and t.rules[0].op == ">="


def test_round_trip(tmp_path):
    (tmp_path / "c.yaml").write_text(YAML)
    cfg = load_config(tmp_path / "c.yaml")
    dump_config(cfg, tmp_path / "back.yaml")
    assert load_config(tmp_path / "back.yaml") == cfg


@pytest.mark.parametrize("text,match", [
    ("mdoe: drop\n", "unknown config keys"),
    ("mode: purge\n", "mode must be"),
    ("rules: [{column: a.b, treshold: 1}]\n", "unknown rule keys"),
    ("batch_size: 0\n", "positive"),
    ("detectors: [exact, exact]\n", "configured once"),
])
def test_bad_config_is_a_clear_error(tmp_path, text, match):
    (tmp_path / "c.yaml").write_text(text)
    with pytest.raises(ValueError, match=match):
        load_config(tmp_path / "c.yaml")


def test_replace_ignores_none():
    cfg = FilterConfig().replace(mode=None, text_column="body")
    assert cfg.mode == "drop" and cfg.text_column == "body"


def test_one_parser_for_every_key_value_option():
    assert parse_params(["a.b=1", "a.c=[x]", "d.e=no"], "--param", dotted=True) == {"a": {"b": 1, "c": ["x"]},
                                                                                     "d": {"e": False}}
    assert parse_params(["k=0.5", "k=2", "s=text"], "--lm-param", dotted=False) == {"k": 2, "s": "text"}
    for items, dotted, known, message in ((["lm=1"], True, None, "--param 'lm=1': expected DETECTOR.NAME=VALUE"),
                                          (["k"], False, None, "--x 'k': expected KEY=VALUE"),
                                          (["=1"], False, None, "--x '=1': expected KEY=VALUE"),
                                          (["lm.m=1"], True, {"exact"}, "detector 'lm' is not configured"),
                                          (["a=["], False, None, "VALUE is not YAML")):
        with pytest.raises(UsageError, match=re.escape(message)):
            parse_params(items, "--param" if dotted else "--x", dotted, known)


def test_a_config_from_command_line_options_merges_params_into_the_named_detectors(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("detectors:\n  - {name: minhash, params: {threshold: 0.7}}\n")
    cfg = filter_config(path, None, ["minhash.num_perm=64"], text_column="body")
    assert cfg.text_column == "body"
    assert cfg.detectors == (DetectorSpec("minhash", {"threshold": 0.7, "num_perm": 64}),)
    assert filter_config(None, "exact, length", None).detectors == (DetectorSpec("exact"), DetectorSpec("length"))
    with pytest.raises(UsageError, match="not configured"):
        filter_config(None, "exact", ["lm.model=x"])
