"""``benchmarks.classifier.ship``: which build each arm gets, and the LoRA model's out-of-the-box threshold (each
domain's humans are scored by a fine-tune that never saw the domain, the strictest domain sets the value, and a rerun
reuses the kept scores)."""
from __future__ import annotations

import numpy as np
import pytest

from detectors.classifier.train import calibrator, lora_holdout
from tests.support.domain_rows import COMMON, domain_rows
from tests.support.tiny_bert import save_tiny_bert

DOMAINS = {"a": ("river", "stone", "field"), "b": ("market", "price", "bank")}


def test_lora_default_threshold_scores_each_domain_unseen_and_resumes(tmp_path, monkeypatch):
    pytest.importorskip("peft")
    from benchmarks.classifier.ship import lora_default_threshold
    from detectors.classifier.lora import LoraClassifier, LoraSettings

    words = sorted({w for ws in DOMAINS.values() for w in ws} | set(COMMON) | {"moreover"})
    settings = LoraSettings(encoder=save_tiny_bert(tmp_path / "bert", words), r=4, alpha=8, lr=1e-2, epochs=2,
                            batch_size=8, max_tokens=16)
    rows = domain_rows(DOMAINS, articles=30, size=12)
    fitted: list[set[str]] = []
    held = lora_holdout(rows.article)
    real_fit = LoraClassifier.fit

    def fit(self, texts, y):
        idx = [rows.text.index(t) for t in texts]
        assert not held[idx].any()
        fitted.append({str(rows.domain[i]) for i in idx})
        return real_fit(self, texts, y)

    monkeypatch.setattr(LoraClassifier, "fit", fit)
    rng = np.random.default_rng(1)
    calibration = calibrator(rng.normal(size=200) + np.arange(200) % 2, np.arange(200) % 2 == 1)
    got = lora_default_threshold(rows, calibration, settings, tmp_path / "state", threads=1)
    assert fitted == [{"b"}, {"a"}]  # each fine-tune leaves its domain out, and holds out the calibration third
    assert got["head"] == "lora" and got["rule"] == "lodo_worst" and set(got["by_domain"]) == {"a", "b"}
    assert got["value"] == max(got["by_domain"].values())
    humans = {d: len({t for t, m, dd in zip(rows.text, rows.y, rows.domain, strict=True) if not m and dd == d})
              for d in DOMAINS}
    assert {d: np.load(tmp_path / "state" / f"{d}.npy").size for d in DOMAINS} == humans
    assert held.any()

    def no_fit(self, texts, y):
        raise AssertionError("a rerun must reuse the kept scores")

    monkeypatch.setattr(LoraClassifier, "fit", no_fit)
    assert lora_default_threshold(rows, calibration, settings, tmp_path / "state", threads=1) == got


def test_each_arm_gets_its_build_and_others_are_refused():
    from benchmarks.classifier import ship

    assert ship.builder("lora") == (ship.build_lora, None)
    for name, build in (("ngram", ship.build_text), ("ngram_idf", ship.build_text), ("embed", ship.build_embed),
                        ("embed_style", ship.build_embed), (ship.NGRAM_LM_ARM, ship.build_ngram_lm)):
        assert ship.builder(name)[0] is build and ship.builder(name)[1].features
    for name in ("nope", "hidden_lm", "embed_ngram_idf"):
        with pytest.raises(SystemExit, match=name):
            ship.builder(name)
