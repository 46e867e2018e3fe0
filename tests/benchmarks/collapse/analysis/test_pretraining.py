"""The pretraining-seed study: runs that differ only in ``pretrain_seed``, with intervals that include its spread."""
from __future__ import annotations

import json

import numpy as np
import pytest

from benchmarks.collapse import run_collapse
from benchmarks.collapse.analysis import pretraining
from tests.benchmarks.collapse.fakes import TINY
from tests.benchmarks.collapse.fakes import cfg as _cfg


def test_variance_components_find_the_spread_between_groups():
    rng = np.random.default_rng(0)
    within = [rng.normal(0.0, 1.0, 400) for _ in range(4)]
    apart = [g + shift for g, shift in zip(within, (0.0, 3.0, 6.0, 9.0), strict=True)]
    between, sd = pretraining.components(within)
    assert between < 0.2 and sd == pytest.approx(1.0, abs=0.1)
    between, sd = pretraining.components(apart)
    assert between == pytest.approx(np.std([0, 3, 6, 9], ddof=1), rel=0.1) and sd == pytest.approx(1.0, abs=0.1)
    # Resampling the groups too widens the interval when they differ, and centres it on the mean of group means.
    mean, lo, hi = pretraining.nested_interval(apart)
    assert mean == pytest.approx(4.5, abs=0.2) and hi - lo > 4.0
    mean, lo, hi = pretraining.nested_interval(within)
    assert hi - lo < 0.5


def test_the_study_reads_runs_that_differ_only_in_the_pretraining_seed(tmp_path):
    runs = []
    for p in (0, 1):
        params = TINY | {"pretrain_steps": 40, "pretrain_seed": p, "pretrain_cache": str(tmp_path / "cache"),
                         "warm_start": True, "steps": 10}
        run_collapse(_cfg(learner="transformer", schedule="replace", arms=("none",), generations=1, seeds=2,
                          samples=16, test_docs=12, doc_words=30, learner_params=params), tmp_path / f"p{p}")
        runs.append(tmp_path / f"p{p}")
    out = tmp_path / "study.md"
    pretraining.main([str(r) for r in runs] + ["--out", str(out)])
    text, summary = out.read_text(), json.loads(out.with_suffix(".json").read_text())
    assert f"python -m benchmarks.collapse pretraining {runs[0]} " in text and out.with_suffix(".png").is_file()
    assert [r["pretrain_seed"] for r in summary["runs"]] == [0, 1] and "| 1 | 2 |" in text
    g0 = [r["g0_ce"][0] for r in summary["runs"]]
    assert g0[0] != g0[1]  # another pretraining, another starting model: the seeds' human rows are the same
    with pytest.raises(SystemExit):
        pretraining.main([str(runs[0]), str(runs[0]), "--out", str(out)])
