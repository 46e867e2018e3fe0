"""The scoring-LM comparison's analysis: a threshold is never set on the rows it is measured on, a held-out domain's
trained arm never sees that domain, and the report renders what it computed."""
from __future__ import annotations

import numpy as np

from benchmarks.lm.scorers import DOMAINS, _tpr_cross_half, default_rule, evaluate, markdown
from benchmarks.transfer.protocol_data import Rows
from detectors.classifier.ngram_lm import STATS


def test_each_half_is_measured_at_the_threshold_of_the_other_half():
    articles = np.arange(400, dtype=np.uint64)
    y = np.arange(400) >= 200
    half = articles % 2
    # Half 1's humans score 10, half 0's 0, machines 5: own-half cuts would flag no human; crossed cuts flag every
    # human and machine of half 1 and none of half 0.
    s = np.where(y, 5.0, np.where(half == 1, 10.0, 0.0))
    assert _tpr_cross_half(y, s, articles) == (0.5, 0.5)


def _rows(per_cell: int = 60, seed: int = 0) -> tuple[Rows, dict]:
    rng = np.random.default_rng(seed)
    n = per_cell * 2 * len(DOMAINS)
    domain = np.repeat(DOMAINS, per_cell * 2)
    y = np.tile(np.repeat([False, True], per_cell), len(DOMAINS))
    rows = Rows(text=[""] * n, y=y, source=np.full(n, "s"), domain=domain, generator=np.full(n, "g"),
                family=np.full(n, "f"), job=np.full(n, "generation"), language=np.full(n, "en"),
                article=np.arange(n, dtype=np.uint64))
    feats = {}
    for model, signal in (("smollm2", 2.0), ("gemma", 0.0)):
        stats = rng.normal(size=(n, len(STATS)))
        stats[:, STATS.index("fastdetect")] += signal * y
        stats[: 5, STATS.index("loglik")] = np.nan  # an abstaining LM
        feats[model] = (stats, rng.normal(size=(n, 4)))
    return rows, feats


def test_arms_separate_where_the_signal_is_and_not_where_it_is_not():
    rows, feats = _rows()
    result = evaluate(rows, feats)
    for d in DOMAINS:
        assert result["smollm2 fastdetect (zero-shot)"][d]["auroc"][0] > 0.85
        assert result["smollm2 statistics + hidden"][d]["auroc"][0] > 0.8  # learnt on the other three domains
        point, low, high = result["gemma fastdetect (zero-shot)"][d]["auroc"]
        assert 0.35 < point < 0.65 and low < point < high
    assert result["smollm2 loglik (zero-shot)"]["xsum"]["abstained"] == 5
    foreign = {m: (np.where(np.arange(10)[:, None] < 4, np.nan, 1.0) * np.ones((10, len(STATS))), h[:10])
               for m, (_, h) in feats.items()}  # four abstained, six at fastdetect 1.0
    rule = default_rule(rows, feats, foreign)
    assert rule["smollm2"]["xsum"][1] > 0.5 > rule["smollm2"]["xsum"][0]  # machines shifted by 2 above a 0.86 cut
    assert rule["gemma"]["non-English"] == [0.6, 0.4]
    text = markdown({"command": "cmd", "about": "about", "arms": result, "default_rule": rule})
    assert "| smollm2 fastdetect (zero-shot) |" in text and text.count("\n| gemma") == 7  # three arms, three tables
