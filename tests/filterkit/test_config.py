import pytest

from filterkit.config import DetectorSpec, FilterConfig, dump_config, load_config
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
