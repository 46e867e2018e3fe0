"""The LM's features in the transfer protocol: one row per text from the detector's own columns, cached, and an
arm fitted on them that abstains where the LM does without failing."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from benchmarks.transfer.lm_features import LMEncoder, split_features
from benchmarks.transfer.protocol import ARMS, Features
from benchmarks.transfer.protocol_data import EmbeddingCache, article_sample
from detectors.classifier.embed import text_key
from detectors.classifier.ngram_lm import STATS
from detectors.lm.detector import LMDetector
from tests.support.domain_rows import domain_rows
from tests.support.tiny_causal_lm import save_tiny_causal_lm, tiny_tokenizer

WORDS = {"a": ("river", "stone", "field"), "b": ("market", "price", "bank")}


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory) -> str:
    """A two-layer llama."""
    return str(save_tiny_causal_lm(tmp_path_factory.mktemp("lm") / "llama", "llama", 0, tiny_tokenizer()))


def test_a_feature_row_is_the_detectors_statistics_then_its_pooled_states(tiny_lm):
    texts = ["the river stone lies in the field by the bank " * 3, "market price", "bank goal match team " * 6]
    enc = LMEncoder(model=tiny_lm, layers=(1, 2), threads=1)
    stats, hidden = split_features(enc.encode(texts))
    assert enc.dim == len(STATS) + 2 * 32 == stats.shape[1] + hidden.shape[1]
    det = LMDetector(model=tiny_lm, max_tokens=128, hidden_layers=[1, 2], threads=1)
    direct = det.score(pa.table({"text": texts}))
    for j, name in enumerate(STATS):
        np.testing.assert_allclose(stats[:, j], direct[f"lm.{name}"].to_numpy(), rtol=1e-6)
    assert np.isnan(stats[1, 0]) and np.isnan(hidden[1]).all()  # too short: the LM abstains
    np.testing.assert_allclose(hidden[[0, 2]], np.asarray(direct["lm.hidden"].to_pylist(), np.float32)[[0, 2]])


def test_lm_arms_fit_on_cached_features_and_score_abstained_rows(tiny_lm, tmp_path):
    rows = domain_rows(WORDS, 30, size=25, seed=0)
    rows.text[0] = "short"  # under min_tokens: NaN features, imputed after scaling
    cache = EmbeddingCache(tmp_path / "lm", LMEncoder(model=tiny_lm, layers=(1, 2), threads=1), chunk=16)
    feats = Features(rows, None, True, cache)
    assert len(list((tmp_path / "lm").glob("emb_*.npz"))) > 1  # written in chunks, so a killed run resumes
    again = EmbeddingCache(tmp_path / "lm", LMEncoder(model=tiny_lm, layers=(1, 2), threads=1))
    assert {text_key(t) for t in rows.text} <= set(again.vectors)  # read back, nothing left to encode
    np.testing.assert_array_equal(np.hstack(split_features(again.get(rows.text))), np.hstack([feats.lm, feats.hidden]))
    train = np.flatnonzero(rows.domain == "a")
    for arm in ("lm", "hidden_lm", "ngram_idf_hidden_lm"):
        s = feats.fit(ARMS[arm], train, rows.y[train])(np.arange(len(rows)))
        assert np.isfinite(s).all()


def test_article_sample_keeps_whole_articles_and_grows_with_the_share():
    rows = domain_rows(WORDS, 200, size=25, seed=1)
    small, large = article_sample(rows, 0.2), article_sample(rows, 0.5)
    assert set(small) < set(large) and len(article_sample(rows, 1.0)) == len(rows)
    kept = set(rows.article[small].tolist())
    chosen = set(small.tolist())
    assert all((a in kept) == (i in chosen) for i, a in enumerate(rows.article.tolist()))
    assert 0.1 < len(kept) / len(set(rows.article.tolist())) < 0.3
