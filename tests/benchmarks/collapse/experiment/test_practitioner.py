"""The practitioner's classifier refit: the run's FPR reaches it, and its own data picks the features."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks.collapse.experiment.practitioner import FitContext, fit_classifier
from detectors.classifier.train import TrainConfig, train_detector


def _soup(text: str, rng: np.random.Generator) -> str:
    """A weak learner's sample: the words of a human document with letters swapped inside them."""
    words = []
    for w in text.split():
        chars = list(w)
        if len(chars) > 3:
            i = int(rng.integers(1, len(chars) - 1))
            chars[i], chars[i - 1] = chars[i - 1], chars[i]
        words.append("".join(chars))
    return " ".join(words)


def test_classifier_refit_takes_the_runs_fpr_and_the_better_out_of_fold_features(shared_data, tmp_path):
    words = " ".join(t for t in pq.read_table(shared_data / "human" / "wikitext2.parquet")["text"].to_pylist()[:400]
                     if t).split()
    docs = [" ".join(words[i:i + 40]) for i in range(0, 40 * 360, 40)]
    trusted = np.array(docs[:180], dtype=object)
    rng = np.random.default_rng(0)
    machine = np.array([_soup(d, rng) for d in docs[180:]], dtype=object)
    ctx = FitContext(2, tmp_path, trusted, lambda n: machine[:n], [], max_fpr=0.05)
    params = fit_classifier(ctx, {"head": "text"})
    assert params["head"] == "text"
    manifest = json.loads((Path(params["model_dir"]) / "manifest.json").read_text())
    assert manifest["train_config"]["target_fpr"] == 0.05
    table = {"text": [str(t) for t in trusted] + [str(t) for t in machine],
             "label": ["human"] * len(trusted) + ["machine"] * len(machine)}
    other = train_detector(pa.table(table), TrainConfig(target_fpr=0.05, idf=not manifest["train_config"]["idf"]))
    key = "tpr_at_0.05_fpr"
    assert manifest["metrics_out_of_fold"]["text"][key] >= other.manifest["metrics_out_of_fold"]["text"][key]
    # The choice goes into the generation's record.
    assert ctx.notes == {"fit_classifier_tfidf": float(manifest["train_config"]["idf"]),
                         "fit_classifier_oof_tpr": manifest["metrics_out_of_fold"]["text"][key]}


def test_article_folds_keep_the_threshold_from_learning_the_trusted_articles(shared_data, tmp_path):
    """Trusted windows of a few articles against human windows of other articles (topic, nothing machine-made):
    folds by opening words let every fold learn each trusted article, so the out-of-fold TPR looks high; folds by
    article show the classifier has nothing that carries to an unseen article."""
    from benchmarks.collapse.data.text import clean_wikitext, windows

    rows = pq.read_table(shared_data / "human" / "wikitext2.parquet", columns=["text"])["text"].to_pylist()
    articles = [windows(clean_wikitext(t), 40)[:40] for t in rows if t]
    articles = [a for a in articles if len(a) == 40][:12]
    trusted = np.array([d for a in articles[:6] for d in a], dtype=object)
    keys = np.array([f"a{i}" for i in range(6) for _ in range(40)], dtype=object)
    other = np.array([d for a in articles[6:] for d in a], dtype=object)
    tpr = {}
    for name, groups in (("opening", None), ("article", keys)):
        ctx = FitContext(1, tmp_path / name, trusted, lambda n: other[:n], [], max_fpr=0.05, trusted_articles=groups)
        manifest = json.loads((Path(fit_classifier(ctx, {})["model_dir"]) / "manifest.json").read_text())
        tpr[name] = ctx.notes["fit_classifier_oof_tpr"]
        if groups is not None:  # one group per trusted article, one per sample of the own model
            assert manifest["training_data"]["groups"] == 6 + len(other)
    assert tpr["opening"] > 0.5
    assert tpr["article"] < tpr["opening"] - 0.3
