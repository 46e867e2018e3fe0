"""Tuning on validation: the chosen setting has the lowest mean validation NLL, the config's is marked beside it."""
import json

import numpy as np
import pytest

from benchmarks.collapse.experiment import config as collapse_config
from benchmarks.collapse.tune import grid_points, main, sweep

CONFIG = ("schedule: replace\nsamples: 40\ngenerations: 1\nseeds: 2\ndoc_words: 40\ntest_docs: 50\n"
          "human_sources: [human/wikitext2.parquet]\n")


def test_grid_points_are_the_product_first_key_slowest():
    assert grid_points({"a": [1, 2], "b": ["x", "y"]}) == [
        {"a": 1, "b": "x"}, {"a": 1, "b": "y"}, {"a": 2, "b": "x"}, {"a": 2, "b": "y"}]


def test_the_choice_is_the_lowest_validation_mean_and_the_config_is_compared(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("learner: ngram\nlearner_params: {floor: 0.001}\n" + CONFIG)
    out = tmp_path / "t.md"
    assert main(["--config", str(cfg), "--grid", "floor=[0.001, 0.3]", "--validation-fraction", "0.1",
                 "-o", str(out)]) == 0
    data = json.loads(out.with_suffix(".json").read_text())
    means = [np.mean([r["validation"] for r in p["seeds"]]) for p in data["points"]]
    assert data["chosen"] == data["points"][int(np.argmin(means))]["params"]
    assert data["configured"] == {"floor": 0.001}
    assert all(len(p["seeds"]) == 2 for p in data["points"])
    text = out.read_text()
    assert f"| floor={data['chosen']['floor']} (chosen" in text
    assert "config)" in text.split("| floor=0.001")[1].split("\n")[0]
    # the floors differ, so the test NLL differs and the paired difference is reported (or the choice agrees)
    assert ("nats per word from the config's" in text) != (data["chosen"] == {"floor": 0.001})
    assert out.with_suffix(".png").stat().st_size > 0


def test_progress_starts_before_the_first_fit_and_counts_every_fit(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("learner: ngram\nvalidation_fraction: 0.1\n" + CONFIG)
    calls: list[tuple[str, int, int]] = []
    sweep(collapse_config.load(cfg), {"floor": [0.001, 0.3]}, lambda *call: calls.append(call))
    # the call at 0 starts the clock, so the time left counts the first fit too
    assert calls == [("fits", done, 4) for done in range(5)]


def test_a_real_transformer_is_fitted_at_each_step_count(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("learner: transformer\nvalidation_fraction: 0.1\nlearner_params: {vocab_size: 300, layers: 1, "
                   "width: 16, heads: 2, block: 32, steps: 2, threads: 1}\n" + CONFIG.replace("seeds: 2", "seeds: 1"))
    out = tmp_path / "t.md"
    assert main(["--config", str(cfg), "--grid", "steps=[1, 20]", "-o", str(out)]) == 0
    points = json.loads(out.with_suffix(".json").read_text())["points"]
    # twenty steps learn something one step does not: the fit really ran at each setting
    assert points[1]["seeds"][0]["validation"] < points[0]["seeds"][0]["validation"]
    assert "config's steps=2 is not in the grid" in out.read_text()
    assert "edge of the grid in steps" in out.read_text()  # both values are edges of a two-value grid


def test_a_config_without_validation_articles_is_refused(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("learner: ngram\n" + CONFIG)
    with pytest.raises(SystemExit, match="validation-fraction"):
        main(["--config", str(cfg), "--grid", "floor=[0.1]", "-o", str(tmp_path / "t.md")])
