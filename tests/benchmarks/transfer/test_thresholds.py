"""Leave-one-domain-out thresholds (``benchmarks.transfer.thresholds``): read only the training side, and the worst
domain's threshold is the strictest."""
from __future__ import annotations

import numpy as np

from benchmarks.transfer.protocol import ARMS, Features, Split
from benchmarks.transfer.protocol_data import Rows
from benchmarks.transfer.thresholds import evaluate_thresholds, lodo_thresholds
from tests.support.domain_rows import domain_rows

WORDS = {"a": ("river", "stone", "field"), "b": ("market", "price", "bank"), "c": ("goal", "match", "team")}


def _rows(seed: int = 0, articles: int = 60) -> Rows:
    """Three domains of ``articles`` articles, one human and one machine text each."""
    return domain_rows(WORDS, articles, size=25, seed=seed)


def test_lodo_thresholds_read_only_the_training_side_and_worst_is_the_max():
    rows = _rows()
    train = np.flatnonzero(rows.domain != "c")
    got = lodo_thresholds(Features(rows, None, True), ARMS["ngram_idf"], rows, train)
    assert set(got["per_domain"]) == {"a", "b"}
    assert got["lodo_worst"] == max(got["per_domain"].values()) >= got["lodo"]
    # The held-out domain's texts change; nothing read from the training side does.
    other = Rows(**{**rows.__dict__, "text": [t if d != "c" else "noise " * 5 for t, d in
                                              zip(rows.text, rows.domain, strict=True)]})
    again = lodo_thresholds(Features(other, None, True), ARMS["ngram_idf"], other, train)
    assert again == got


def test_a_repeated_human_text_counts_once():
    rows = _rows(articles=200)
    feats = Features(rows, None, True)
    a_humans = np.flatnonzero((rows.domain == "a") & ~rows.y)
    b = np.flatnonzero(rows.domain == "b")
    top = int(a_humans[np.argmax(feats.fit(ARMS["ngram_idf"], b, rows.y[b])(a_humans))])
    train = np.flatnonzero(rows.domain != "c")
    once = lodo_thresholds(feats, ARMS["ngram_idf"], rows, train)
    # Domain a's highest-scoring human 300 times more: counted per row it would set a's threshold alone.
    rep = np.r_[np.arange(len(rows)), np.full(300, top)]
    more = rows.take(rep)
    repeated = lodo_thresholds(Features(more, None, True), ARMS["ngram_idf"], more, np.flatnonzero(more.domain != "c"))
    assert repeated["per_domain"]["a"] == once["per_domain"]["a"]


def test_evaluate_thresholds_counts_each_regime_and_domain():
    rows = _rows()
    test = np.arange(len(rows))
    sp = Split("domain", "x", np.array([], int), test, np.array([], int))
    scores = rows.y.astype(float) + np.where(rows.domain == "a", 0.5, 0.0)  # domain a's humans score 0.5
    res = evaluate_thresholds(rows, sp, scores, {"low": 0.25, "high": 0.75}, reps=20, seed=0)
    assert res["machine_rows"] == res["human_rows"] == 180
    assert res["low"]["tpr"] == 1.0 and res["low"]["fpr"] == 60 / 180
    assert res["low"]["fpr_by_domain"] == {"a": 1.0, "b": 0.0, "c": 0.0}
    assert res["high"]["tpr"] == 1.0 and res["high"]["fpr"] == 0.0
    assert res["low"]["fpr_ci"][0] < 60 / 180 < res["low"]["fpr_ci"][1]
