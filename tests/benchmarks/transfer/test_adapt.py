"""Calibration that adapts (``benchmarks.transfer.adapt``): the trusted texts train two cross-fitted models, the cut
comes from their out-of-fold scores, and a domain whose humans look machine-like to the training side is learnt."""
from __future__ import annotations

import numpy as np

from benchmarks.transfer.adapt import (
    cross_fitted,
    curvature,
    held_out_rows,
    laplace,
    retrained,
    run_split,
)
from benchmarks.transfer.protocol import ARMS, Features, Split, trusted_humans
from tests.support.domain_rows import domain_rows


def _rows():
    """Domain a's machine text says 'zeta zeta' or 'moreover'; domain b's humans say 'zeta zeta', its machine text
    'moreover'."""
    rows = domain_rows({"a": ("river", "stone", "field"), "b": ("market", "price", "bank")}, 120, size=25, seed=1)
    for i in range(len(rows)):
        if rows.domain[i] == "a" and rows.y[i] and rows.article[i] % 2:
            rows.text[i] = rows.text[i].replace("moreover", "zeta zeta")
        elif rows.domain[i] == "b" and not rows.y[i]:
            rows.text[i] += " zeta zeta"
    b = rows.domain == "b"
    return rows, Split("domain", "b", np.flatnonzero(~b), np.flatnonzero(b), np.flatnonzero(b & ~rows.y))


def test_trusted_texts_are_one_per_article_and_never_tested():
    rows, sp = _rows()
    trusted = trusted_humans(rows, sp, np.random.default_rng(0), 40)
    assert trusted.size == len(set(rows.article[trusted])) == 40 and not rows.y[trusted].any()
    test = held_out_rows(rows, sp, trusted)
    assert not np.isin(rows.article[test], rows.article[trusted]).any()
    assert test.size == sp.test.size - 2 * 40  # each trusted article's human and machine text leave the test


def test_the_cut_is_one_percent_of_out_of_fold_scores_and_the_domain_is_learnt():
    rows, sp = _rows()
    feats = Features(rows, None, True)
    trusted = trusted_humans(rows, sp, np.random.default_rng(0), 60)
    test = held_out_rows(rows, sp, trusted)
    threshold, scores = cross_fitted(rows, trusted, test, retrained(feats, ARMS["ngram_idf"], rows, sp.train, 20))
    assert scores.shape == test.shape and np.isfinite(threshold)
    res = run_split(feats, ARMS["ngram_idf"], rows, sp, 0, [20], reps=20, calibration=60, replays=(120,))
    assert res["test_machine"] + res["test_human"] == test.size
    # Trained on domain a alone, b's humans look machine-like ('zeta'); the trusted b humans teach that away.
    # Calibrated on b's humans alone, the cut sits above 'zeta' and so above most of b's machine text.
    assert res["plain"]["tpr"] < 0.1 and res["adapted_x20"]["tpr"] > 0.9 and res["replay120_x20"]["tpr"] > 0.9
    assert res["adapted_x20"]["auroc"] > res["plain"]["auroc"]
    # Without the trusted texts (r = 0) only the replay refit is new: the smaller model alone.
    alone = run_split(feats, ARMS["ngram_idf"], rows, sp, 0, [0], reps=20, calibration=60, replays=(120,))
    assert {k for k, v in alone.items() if isinstance(v, dict)} == {"plain", "replay120_x0"}
    assert alone["replay120_x0"]["tpr"] < 0.1
    assert res["adapted_x20"]["fpr"] <= 0.05


def test_the_laplace_update_lowers_the_trusted_texts_and_vanishes_with_their_weight():
    rows, sp = _rows()
    feats = Features(rows, None, True)
    model, build = feats.fit_model(ARMS["ngram_idf"], sp.train, rows.y[sp.train])
    h = curvature(model, build(sp.train))
    assert h.shape == (model.coef_.size + 1,) and (h >= 1).all()  # liblinear's L2 term holds every weight
    trusted = trusted_humans(rows, sp, np.random.default_rng(0), 30)
    plain = model.decision_function(build(sp.test))
    np.testing.assert_allclose(laplace(model, build, h, 1e-9)(trusted)(sp.test), plain, atol=1e-6)
    updated = laplace(model, build, h, 10)(trusted)
    assert (updated(trusted) < model.decision_function(build(trusted)) - 0.1).all()
