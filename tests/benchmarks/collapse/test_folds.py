"""The ``folds`` subcommand: the practitioner's classifier refitted on a run's saved crawls, both ways."""
from __future__ import annotations

import json

import pytest

from benchmarks.collapse import run_collapse
from benchmarks.collapse.folds import main
from tests.benchmarks.collapse.fakes import small_ngram


@pytest.mark.slow
def test_folds_refits_the_practitioner_both_ways_on_every_saved_crawl(tmp_path):
    run = tmp_path / "run"
    # A tenth of the usual trusted text (137 documents of 34 articles) and one generation keep the refits quick.
    run_collapse(small_ngram(arms=("none",), generations=1, seeds=1, trusted_by="article", trusted_fraction=0.03), run)
    out = tmp_path / "folds.md"
    assert main([str(run), "--seeds", "1", "-o", str(out)]) == 0
    rows = json.loads(out.with_suffix(".json").read_text())["rows"]
    assert [(r["generation"], r["folds"]) for r in rows] == [(1, "opening"), (1, "article")]
    for r in rows:
        assert r["own_samples"] > 0 and 0.0 <= r["fpr"] <= 1.0 and 0.0 <= r["tpr"] <= 1.0
    assert "| article |" in out.read_text()
