"""The classifier's LoRA fine-tuned encoder (``detectors.classifier.lora``) on a tiny random BERT."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from tests.support.tiny_bert import save_tiny_bert

pytest.importorskip("peft")

HUMAN_WORDS = ("road", "storm", "neighbour", "fix", "honestly", "my", "says")
MACHINE_WORDS = ("furthermore", "delve", "overall", "crucial", "landscape", "notably", "tapestry")
COMMON = ("the", "a", "city", "council", "will", "new", "year", "team")


def _texts(n: int, seed: int) -> tuple[list[str], np.ndarray]:
    """Texts whose class shows only in which of two word sets they draw from."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2 == 1
    texts = [" ".join(rng.choice((MACHINE_WORDS if m else HUMAN_WORDS) + COMMON, size=14)) for m in y]
    return texts, y


@pytest.fixture(scope="module")
def settings(tmp_path_factory):
    from detectors.classifier.lora import LoraSettings

    path = save_tiny_bert(tmp_path_factory.mktemp("bert") / "tiny", HUMAN_WORDS + MACHINE_WORDS + COMMON)
    return LoraSettings(encoder=path, r=4, alpha=8, lr=1e-2, epochs=8, batch_size=8, max_tokens=32)


@pytest.mark.filterwarnings("error::FutureWarning")  # no dependency's deprecation notice reaches the user
def test_lora_learns_to_separate_and_leaves_the_base_weights(settings):
    import torch
    from transformers import AutoModel

    from detectors.classifier.lora import LoraClassifier

    train, y = _texts(160, 0)
    test, y_test = _texts(80, 1)
    model = LoraClassifier(settings, seed=0, threads=1).fit(train, y)
    assert roc_auc_score(y_test, model.decision_function(test)) > 0.9
    base = AutoModel.from_pretrained(settings.encoder).state_dict()
    tuned = {k.replace("base_model.model.", "").replace(".base_layer", ""): v
             for k, v in model.model_.state_dict().items() if "lora_" not in k}
    assert set(tuned) == set(base)
    assert all(torch.equal(tuned[k], base[k]) for k in base)
    lora = [v for k, v in model.model_.state_dict().items() if "lora_B" in k]
    assert lora and any(v.abs().sum() > 0 for v in lora)  # B starts at zero: a trained adapter moved it


def test_lora_is_deterministic_per_seed_and_scores_in_input_order(settings):
    from detectors.classifier.lora import LoraClassifier

    train, y = _texts(48, 2)
    test, _ = _texts(20, 3)
    test[3] = test[3] + " " + " ".join(COMMON * 2)  # a longer text: scoring batches by length must restore order
    a = LoraClassifier(settings, seed=0, threads=1).fit(train, y)
    b = LoraClassifier(settings, seed=0, threads=1).fit(train, y)
    s = a.decision_function(test)
    np.testing.assert_array_equal(s, b.decision_function(test))
    np.testing.assert_allclose([a.decision_function([t])[0] for t in test[:5]], s[:5], atol=1e-5)
    with pytest.raises(RuntimeError, match="fit"):
        LoraClassifier(settings).decision_function(test)


def test_weights_round_trip_to_the_same_scores_and_refuse_another_encoder(settings):
    from detectors.classifier.lora import LoraClassifier

    train, y = _texts(48, 4)
    test, _ = _texts(12, 5)
    model = LoraClassifier(settings, seed=0, threads=1).fit(train, y)
    weights = model.weights()
    assert all(w.dtype == np.float32 for w in weights.values()) and "head.weight" in weights
    assert sum(w.size for w in weights.values()) < 5_000  # adapter and head only, not the encoder
    again = LoraClassifier.from_weights(settings, weights, threads=1)
    np.testing.assert_allclose(again.decision_function(test), model.decision_function(test), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="missing"):
        LoraClassifier.from_weights(settings, {k: v for k, v in weights.items() if k != "head.bias"})
    bad = {**weights, "head.weight": np.zeros((1, 3), np.float32)}
    with pytest.raises(ValueError, match="shape"):
        LoraClassifier.from_weights(settings, bad)


@pytest.fixture(scope="module")
def tiny_lora_model(settings, tmp_path_factory) -> str:
    """A LoRA head trained by ``train_lora_head`` on the tiny BERT (450 pairs: the held-out third holds the 100+
    humans a 1% threshold needs), saved as a model directory."""
    from dataclasses import asdict

    from detectors.classifier.model import ClassifierModel
    from detectors.classifier.train import train_lora_head

    texts, y = _texts(900, 6)
    heads, metrics = train_lora_head(texts, y, np.arange(900) // 2, settings, threads=1)
    manifest = {"features": {"lora": asdict(settings)}, "metrics_out_of_fold": metrics, "default_head": "lora"}
    return str(ClassifierModel(heads=heads, manifest=manifest).save(tmp_path_factory.mktemp("lora")))


def test_a_lora_model_scores_through_the_detector_at_its_held_out_threshold(tiny_lora_model):
    import pyarrow as pa

    from detectors.classifier.detector import ClassifierDetector
    from detectors.classifier.model import ClassifierModel

    texts, y = _texts(60, 7)
    variants = ["  " + texts[0].replace(" ", "\n", 3) + "\n", texts[0].replace(" ", "   ")]  # layout only
    det = ClassifierDetector(model_dir=tiny_lora_model, languages=("*",))  # word salad: not identifiably English
    det.setup()
    out = det.score(pa.table({"text": [*texts, *variants, "too short"]}))
    p = out["classifier.p_machine"].to_numpy()
    assert roc_auc_score(y, p[:60]) > 0.9 and ((p[:60] >= 0) & (p[:60] <= 1)).all()
    np.testing.assert_allclose(p[60:62], p[0], rtol=1e-6)
    assert np.isnan(p[62]) and out["classifier.head"].to_pylist()[-4:] == ["lora", "lora", "lora", "too_short"]
    metrics = ClassifierModel.read_manifest(tiny_lora_model)["metrics_out_of_fold"]["lora"]
    assert metrics["validation_rows"] + metrics["fit_rows"] == 900
    assert det.default_rules()[0].threshold == pytest.approx(metrics["threshold"])


def test_a_head_the_model_lacks_or_an_unknown_packaged_model_is_refused(tiny_lora_model):
    from detectors.classifier.detector import ClassifierDetector
    from detectors.classifier.model import ModelFileError

    with pytest.raises(ModelFileError, match="no embed head"):
        ClassifierDetector(model_dir=tiny_lora_model, head="embed").setup()
    with pytest.raises(ValueError, match="model must be one of"):
        ClassifierDetector(model="gpt-detector")


def test_fitting_leaves_the_callers_torch_generator_as_it_was(settings):
    import torch

    from detectors.classifier.lora import LoraClassifier

    train, y = _texts(16, 8)
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    LoraClassifier(settings, seed=5, threads=1).fit(train, y)
    assert torch.equal(torch.rand(3), expected)
