"""Text distortion (``benchmarks.transfer.distort``): the topic is masked, the style is kept, and the protocol's
distorted arms fit on it."""
from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score

from benchmarks.transfer.distort import distort, distorted_vectorizer
from benchmarks.transfer.protocol import ARMS, Features
from tests.support.domain_rows import domain_rows


def test_content_words_are_masked_character_by_character_and_stop_words_kept():
    text = "The 2019 Report, which they WROTE in London, was not what we had expected!"
    assert distort(text) == "the #### ******, which they ***** in ******, was not what we had ********!"
    assert len(distort(text)) == len(text)


def test_texts_that_differ_only_in_topic_words_of_equal_length_get_the_same_features():
    vec = distorted_vectorizer()
    a, b, c = vec.transform(["The river was wide, and the stone was cold.",
                             "The plant was tall, and the price was high.",
                             "The river was wide; moreover the stone was cold."]).toarray()
    np.testing.assert_array_equal(a, b)
    assert (a != c).any()  # punctuation and a function word are style, and seen


def test_the_distorted_arms_fit_and_transfer_to_an_unseen_domain():
    rows = domain_rows({"a": ("river", "stone", "field"), "b": ("market", "price", "bank")}, 40, size=25, seed=0)
    feats = Features(rows, None, True, need_dv=True)
    train, test = np.flatnonzero(rows.domain == "a"), np.flatnonzero(rows.domain == "b")
    for arm in ("dv_idf", "ngram_idf_dv_idf"):
        scores = feats.fit(ARMS[arm], train, rows.y[train])(test)
        assert roc_auc_score(rows.y[test], scores) > 0.95, arm
