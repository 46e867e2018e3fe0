"""The ``ngram_lm`` head (``detectors.classifier.ngram_lm``) on a tiny llama: trained as the protocol's arm, scored
through the detector with its own LM, deaf to layout, silent where the LM abstains, and shipped at a threshold that
scores each domain as unseen."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from sklearn.metrics import roc_auc_score

from benchmarks.transfer.lm_features import LMEncoder
from benchmarks.transfer.protocol import ARMS, Features
from benchmarks.transfer.protocol_data import EmbeddingCache
from detectors.classifier.ngram_lm import decision, fit_ngram_lm, ngram_counts, train_ngram_lm_head
from tests.support.domain_rows import domain_rows
from tests.support.tiny_causal_lm import save_tiny_causal_lm, tiny_tokenizer

pytest.importorskip("torch")
WORDS = {"a": ("river", "stone", "field"), "b": ("market", "price", "bank")}
LAYERS = (1, 2)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A two-layer llama, toy rows of two domains and their LM features."""
    lm = str(save_tiny_causal_lm(tmp_path_factory.mktemp("lm") / "llama", "llama", 0, tiny_tokenizer()))
    rows = domain_rows(WORDS, 60, size=25, seed=3)
    cache = EmbeddingCache(tmp_path_factory.mktemp("cache"), LMEncoder(model=lm, layers=LAYERS, threads=1))
    return lm, rows, cache.get(rows.text)


@pytest.fixture(scope="module")
def model_dir(tiny, tmp_path_factory) -> str:
    from detectors.classifier.model import ClassifierModel

    lm, rows, dense = tiny
    heads, metrics = train_ngram_lm_head(ngram_counts(rows.text), dense, rows.y, rows.article)
    manifest = {"features": {"ngram_lm": {"lm_params": {"model": lm, "max_tokens": 128,
                                                        "hidden_layers": list(LAYERS), "threads": 1}}},
                "metrics_out_of_fold": metrics, "default_head": "ngram_lm"}
    return str(ClassifierModel(heads=heads, manifest=manifest).save(tmp_path_factory.mktemp("ngram_lm")))


def test_the_head_is_the_protocols_arm(tiny):
    _, rows, dense = tiny
    feats = Features(rows, None, True)
    feats.lm, feats.hidden = dense[:, :9], dense[:, 9:]
    train, test = np.flatnonzero(rows.article % 2 == 0), np.flatnonzero(rows.article % 2 == 1)
    protocol = feats.fit(ARMS["ngram_idf_hidden_lm"], train, rows.y[train])(test)
    counts = ngram_counts(rows.text)
    ours = decision(fit_ngram_lm(counts[train], dense[train], rows.y[train]), counts[test], dense[test])
    np.testing.assert_allclose(ours, protocol, atol=1e-4)  # the same model, its dense columns in another order


def test_the_detector_scores_with_its_own_lm_and_ignores_layout(tiny, model_dir):
    from detectors.classifier.detector import ClassifierDetector
    from detectors.classifier.model import ClassifierModel

    _, rows, _ = tiny
    test = domain_rows(WORDS, 20, size=25, seed=9)
    variants = ["  " + test.text[0].replace(" ", "\n", 3) + "\n", test.text[0].replace(" ", "   ")]  # layout only
    det = ClassifierDetector(model_dir=model_dir, languages=("*",), min_chars=0)  # word salad: no language
    det.setup()
    out = det.score(pa.table({"text": [*test.text, *variants, "market price"]}))
    p = out["classifier.p_machine"].to_numpy()
    n = len(test.text)
    assert roc_auc_score(test.y, p[:n]) > 0.9 and ((p[:n] >= 0) & (p[:n] <= 1)).all()
    np.testing.assert_allclose(p[n:n + 2], p[0], rtol=1e-5)
    # Too short for the LM: it abstains, so does the head, and a rule keeps the row.
    assert np.isnan(p[-1]) and out["classifier.head"].to_pylist()[-2:] == ["ngram_lm", "lm_abstained"]
    metrics = ClassifierModel.read_manifest(model_dir)["metrics_out_of_fold"]["ngram_lm"]
    assert det.default_rules()[0].threshold == pytest.approx(metrics["threshold"])


def test_the_shipped_threshold_scores_each_domain_with_a_head_fitted_without_it(tiny, monkeypatch):
    import benchmarks.classifier.ship as ship
    from detectors.classifier.train import calibrator

    _, rows, dense = tiny
    counts = ngram_counts(rows.text)
    fitted: list[set[str]] = []
    real = ship.fit_ngram_lm

    def fit(c, d, y, C):
        idx = [int(np.flatnonzero((dense == row).all(axis=1))[0]) for row in d]
        fitted.append({str(rows.domain[i]) for i in idx})
        return real(c, d, y, C)

    monkeypatch.setattr(ship, "fit_ngram_lm", fit)
    rng = np.random.default_rng(1)
    calibration = calibrator(rng.normal(size=200) + np.arange(200) % 2, np.arange(200) % 2 == 1)
    got = ship.ngram_lm_default_threshold(rows, counts, dense, 4.0, calibration)
    assert fitted == [{"b"}, {"a"}]
    assert got["head"] == "ngram_lm" and got["rule"] == "lodo_worst"
    assert got["value"] == max(got["by_domain"].values()) and set(got["by_domain"]) == set(WORDS)
