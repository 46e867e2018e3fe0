"""The LoRA benchmark's training sample and validation split (``benchmarks.transfer.lora``)."""
from __future__ import annotations

import numpy as np

from benchmarks.transfer.lora import fit_and_validation
from benchmarks.transfer.protocol import Split
from benchmarks.transfer.protocol_data import Rows


def test_validation_humans_are_an_unseen_third_of_articles_each_text_once():
    n = 300
    rng = np.random.default_rng(0)
    article = rng.integers(0, 60, size=n).astype(np.uint64)
    y = np.arange(n) % 2 == 1
    text = [f"text {i}" if y[i] else f"human of {article[i]}" for i in range(n)]  # an article's humans repeat
    rows = Rows(text=text, y=y, source=np.full(n, "s"), domain=np.full(n, "d"), generator=np.full(n, "g"),
                family=np.full(n, "f"), job=np.full(n, "generation"), language=np.full(n, "en"), article=article)
    sp = Split("source", "x", np.arange(n), np.array([], int), np.array([], int))
    fit, val = fit_and_validation(rows, sp, n_train=100, seed=0)
    assert fit.size == 100 and not np.intersect1d(rows.article[fit], rows.article[val]).size
    assert (~rows.y[val]).all() and len({text[i] for i in val}) == val.size
    assert set(rows.article[val]) == {a for a in set(article) if a % 3 == 0 and (~y[article == a]).any()}
    np.testing.assert_array_equal(fit, fit_and_validation(rows, sp, n_train=100, seed=0)[0])
