"""The n-gram baseline: its floor is the one with the lowest validation NLL, and the margin is per seed."""
import json

import numpy as np
import pytest

from benchmarks.collapse.baseline import main


def test_floor_is_chosen_on_validation_and_margins_read_the_run(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("learner: ngram\nschedule: replace\nsamples: 40\ngenerations: 1\nseeds: 2\ndoc_words: 40\n"
                   "test_docs: 50\nhuman_sources: [human/wikitext2.parquet]\nvalidation_fraction: 0.1\n")
    run = tmp_path / "run"
    run.mkdir()
    records = [{"arm": "none", "seed": s, "generation": 0, "nll_per_word": 5.0} for s in range(2)]
    (run / "results.json").write_text(json.dumps({"records": records}))
    out = tmp_path / "b.md"
    assert main(["--config", str(cfg), "--run", str(run), "--floors", "0.001,0.1,0.3", "-o", str(out)]) == 0
    data = json.loads(out.with_suffix(".json").read_text())
    means = {f: np.mean([r["validation"] for r in rows]) for f, rows in data["ngram"]["floors"].items()}
    assert data["ngram"]["chosen"] == min(means, key=means.get)
    text = out.read_text()
    assert f"| {data['ngram']['chosen']} (chosen) |" in text
    test_at = np.mean([r["test"] for r in data["ngram"]["floors"]["0.001"]])
    assert f"{test_at - 5.0:+.2f}" in text.split("| 0.001 |")[1].split("\n")[0]


def test_a_config_without_validation_articles_is_refused(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("learner: ngram\nsamples: 40\nseeds: 1\n")
    with pytest.raises(SystemExit, match="validation"):
        main(["--config", str(cfg), "-o", str(tmp_path / "b.md")])
