"""The word n-gram learner: out-of-vocabulary tokens apart, NLL per frequency band."""
from __future__ import annotations

import math

import pytest

from benchmarks.collapse.learners.ngram import NGramFamily
from tests.benchmarks.collapse.fakes import TEST, TRAIN


def test_ngram_splits_oov_and_bands():
    family = NGramFamily()
    family.prepare(TRAIN)
    model = family.new(0)
    model.fit(TRAIN[:15])  # a small training set leaves many test words out of its vocabulary
    m = model.evaluate(TEST)
    assert 0 < m["oov_rate"] < 1 and m["test_oov"] == m["oov_rate"]
    mix = (1 - m["oov_rate"]) * m["test_ce_in_vocab"] + m["oov_rate"] * m["test_ce_oov"]
    assert mix == pytest.approx(m["test_ce"])
    assert m["test_ce_in_vocab"] < m["test_ce"] < m["test_ce_oov"]
    assert sum(m[f"band_share_{b}"] for b in ("head", "torso", "tail")) == pytest.approx(1.0)
    assert all(math.isfinite(m[f"nll_{b}"]) for b in ("head", "torso", "tail"))
    assert m["nll_head"] < m["nll_tail"]
