"""Training the AI-text classifier: a hashed n-gram head and a stacked head on LM scores and style statistics."""
from __future__ import annotations

import hashlib
import logging
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import pyarrow as pa
from scipy import sparse
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import StandardScaler

from detectors.classifier.layout import training_texts
from detectors.classifier.metrics import auroc, tpr_at_fpr
from detectors.classifier.model import ClassifierModel
from detectors.surface.style import STYLE_FEATURES, style_features
from filterkit.contract.normalize import normalize_texts

log = logging.getLogger(__name__)
LM_FEATURES = ("lm.loglik", "lm.logrank", "lm.entropy", "lm.fastdetect", "lm.gltr_top1", "lm.gltr_top10",
               "lm.gltr_top100", "lm.gltr_top1000", "lm.ntokens", "lm.binoculars")


@dataclass(frozen=True)
class TrainConfig:
    """How to train: the label, how to group rows for cross-validation, which heads, and the target FPR."""

    label_column: str = "label"
    positive: str = "machine"
    text_column: str = "text"
    group_column: str | None = None
    """None: group by the opening words of each text, so twins that share an opening never straddle folds."""
    stack: Literal["lm"] | None = None
    stack_model: Literal["logistic", "hgb"] = "logistic"
    lm_params: dict[str, Any] = field(default_factory=dict)
    folds: int = 5
    target_fpr: float = 0.01
    C: float = 4.0
    idf: bool = False
    """Weight the hashed n-gram counts by sublinear TF-IDF (fitted on the training rows) before the text head:
    better on chat models and a weak learner's text, up to 0.036 AUROC worse inside ``open_models``
    (``benchmarks/results/classifier_idf.md``), so raw counts stay the default."""
    opening_words: int = 12


def text_vectorizer() -> FeatureUnion:
    """Stateless hashed word 1-2-grams and character 3-5-grams (no vocabulary to fit, so it streams)."""
    word = HashingVectorizer(ngram_range=(1, 2), n_features=2**18, alternate_sign=False)
    char = HashingVectorizer(analyzer="char_wb", ngram_range=(3, 5), n_features=2**18, alternate_sign=False)
    return FeatureUnion([("word", word), ("char", char)]).fit(["fit is a no-op for hashing"])


def opening_groups(texts: list[str], words: int) -> np.ndarray:
    """A group id per text from its first ``words`` normalised words."""
    norm = normalize_texts(pa.array(texts, pa.string())).to_pylist()
    keys = [" ".join(t.split()[:words]) for t in norm]
    # uint64 explicitly: numpy would hold hashes above 2**63 as float64, and ``% 2`` of those is always 0.
    return np.array([int.from_bytes(hashlib.blake2b(k.encode(), digest_size=8).digest(), "little") for k in keys],
                    dtype=np.uint64)


def labels(table: pa.Table, cfg: TrainConfig) -> np.ndarray:
    """Boolean ``is positive`` per row, with clear errors for missing, null, unexpected or one-class labels."""
    if cfg.label_column not in table.column_names:
        raise ValueError(f"no label column {cfg.label_column!r}; columns are {table.column_names}")
    values = table[cfg.label_column].to_pylist()
    if any(v is None for v in values):
        nulls = sum(v is None for v in values)
        raise ValueError(f"label column {cfg.label_column!r} has {nulls} null (unlabelled) rows")
    classes = sorted({str(v) for v in values})
    if len(classes) != 2 or cfg.positive not in classes:
        raise ValueError(f"label column {cfg.label_column!r} must hold two classes, one of them {cfg.positive!r}; "
                         f"found {classes}")
    return np.array([str(v) == cfg.positive for v in values])


def stack_features(table: pa.Table, lm_columns: list[str], texts: list[str]) -> np.ndarray:
    """LM score columns (NaN kept; the head imputes) next to the style statistics."""
    lm = np.column_stack([table[c].to_numpy(zero_copy_only=False).astype(float) for c in lm_columns])
    return np.hstack([lm, style_features(texts)])


def _head(kind: str, C: float, idf: bool = False) -> Any:
    if kind == "text":
        model = LogisticRegression(C=C, solver="liblinear", max_iter=2000, random_state=0)
        return Pipeline([("idf", TfidfTransformer(sublinear_tf=True)), ("model", model)]) if idf else model
    if kind == "embed":
        return Pipeline([("scale", StandardScaler()), ("model", LogisticRegression(C=C, max_iter=3000))])
    if kind == "logistic":
        return Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler()),
                         ("model", LogisticRegression(C=1.0, max_iter=2000))])
    return HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05, random_state=0)


def _out_of_fold(kind: str, C: float, X: Any, y: np.ndarray, groups: np.ndarray, folds: int,
                 idf: bool = False) -> np.ndarray:
    """Decision values of each row from a model (IDF weights included) that never saw its group."""
    raw = np.full(len(y), np.nan)
    for train, test in GroupKFold(n_splits=folds).split(X, y, groups):
        raw[test] = _head(kind, C, idf).fit(X[train], y[train]).decision_function(X[test])
    return raw


def calibrator(raw: np.ndarray, y: np.ndarray) -> LogisticRegression:
    """Platt scaling fitted on out-of-fold decision values, so probabilities are not overconfident."""
    return LogisticRegression(C=1e4).fit(raw.reshape(-1, 1), y)


def predict_machine(model: Any, calib: LogisticRegression, X: Any) -> np.ndarray:
    """Calibrated probability of machine text."""
    return calib.predict_proba(np.asarray(model.decision_function(X)).reshape(-1, 1))[:, 1]


def training_digest(texts: list[str], labels: Any) -> str:
    """The manifest's training-data hash: SHA-256 over each text and its label (machine or not), in order."""
    digest = hashlib.sha256()
    for t, label in zip(texts, labels, strict=True):
        digest.update(t.encode("utf-8") + (b"\x01" if label else b"\x00"))
    return digest.hexdigest()


def head_metrics(y: np.ndarray, p: np.ndarray, fpr: float) -> dict[str, float]:
    """AUROC, TPR at ``fpr`` and the threshold that realises it, from out-of-fold probabilities."""
    tpr, threshold = tpr_at_fpr(y, p, fpr)
    return {"auroc": auroc(y, p), f"tpr_at_{fpr:g}_fpr": tpr, "threshold": threshold}


def train_detector(table: pa.Table, cfg: TrainConfig, lm_scores: pa.Table | None = None) -> ClassifierModel:
    """Cross-validate by group, report out-of-fold metrics, then fit each head on all rows."""
    y = labels(table, cfg)
    raw = table[cfg.text_column].to_pylist()
    if any(t is None for t in raw):
        raise ValueError(f"text column {cfg.text_column!r} has null rows; filter them first")
    texts = training_texts(table[cfg.text_column])
    groups = (np.asarray(table[cfg.group_column].to_pylist()) if cfg.group_column
              else opening_groups(raw, cfg.opening_words))
    if len(np.unique(groups)) < cfg.folds:
        raise ValueError(f"only {len(np.unique(groups))} groups; need at least {cfg.folds} for {cfg.folds}-fold CV")
    log.info("training on %d rows (%d positive) in %d groups", len(y), int(y.sum()), len(np.unique(groups)))
    X_text = sparse.csr_matrix(text_vectorizer().transform(texts))
    dv = _out_of_fold("text", cfg.C, X_text, y, groups, cfg.folds, cfg.idf)
    heads: dict[str, Any] = {
        "text": Pipeline([("features", text_vectorizer()), ("model", _head("text", cfg.C, cfg.idf).fit(X_text, y))]),
        "text_calibration": calibrator(dv, y),
    }
    p_text = heads["text_calibration"].predict_proba(dv.reshape(-1, 1))[:, 1]
    metrics = {"text": head_metrics(y, p_text, cfg.target_fpr)}
    # Percentiles of out-of-fold text-head probabilities: a router sets its routing cut from them, since
    # in-sample probabilities of a hashed n-gram head are overconfident.
    metrics["text"]["percentiles"] = np.percentile(p_text, np.arange(101)).tolist()
    lm_columns: list[str] = []
    if cfg.stack == "lm":
        source = lm_scores if lm_scores is not None else table
        lm_columns = [c for c in LM_FEATURES if c in source.column_names]
        if not lm_columns:
            raise ValueError("the stacked head needs lm.* score columns; none were given or computed")
        X_stack = stack_features(source, lm_columns, texts)
        dv = _out_of_fold(cfg.stack_model, cfg.C, X_stack, y, groups, cfg.folds)
        heads["stacked"] = _head(cfg.stack_model, cfg.C).fit(X_stack, y)
        heads["stacked_calibration"] = calibrator(dv, y)
        metrics["stacked"] = head_metrics(y, heads["stacked_calibration"].predict_proba(dv.reshape(-1, 1))[:, 1],
                                          cfg.target_fpr)
    manifest = {
        "train_config": asdict(cfg),
        "features": {"text": "hashed word 1-2-grams + char_wb 3-5-grams of defended text (2**18 each)"
                              + (", sublinear TF-IDF" if cfg.idf else ""),
                     "stacked": {"lm": lm_columns, "style": list(STYLE_FEATURES)} if lm_columns else None},
        "training_data": {"rows": len(y), "positive": int(y.sum()), "groups": int(len(np.unique(groups))),
                          "sha256": training_digest(raw, y)},
        "metrics_out_of_fold": metrics,
        "default_head": "stacked" if "stacked" in heads else "text",
    }
    for head, m in metrics.items():
        log.info("%s head: out-of-fold AUROC %.4f, TPR %.4f at %.2g FPR", head, m["auroc"],
                 m[f"tpr_at_{cfg.target_fpr:g}_fpr"], cfg.target_fpr)
    return ClassifierModel(heads=heads, manifest=manifest)


def train_from_parquet(paths: list[str], out_dir: str, cfg: TrainConfig, generate: Any = None,
                       progress: Any = None) -> ClassifierModel:
    """Read labelled Parquet (or, with ``generate``, human-only Parquet plus generated machine text), train, save."""

    from detectors.classifier.generate import generate_continuations
    from filterkit.contract import registry
    from filterkit.io.readers import read_table
    from filterkit.io.sources import discover

    table = read_table(discover(paths))
    if cfg.text_column not in table.column_names:
        raise ValueError(f"no text column {cfg.text_column!r}; columns are {table.column_names}")
    if generate is not None:
        humans = [t for t in table[cfg.text_column].to_pylist() if t and t.strip()]
        machines = generate_continuations(humans, generate, progress=progress)
        table = pa.table({cfg.text_column: humans + machines,
                          cfg.label_column: ["human"] * len(humans) + [cfg.positive] * len(machines)})
        cfg = TrainConfig(**{**asdict(cfg), "group_column": None})
    lm_scores = None
    if cfg.stack == "lm" and not all(c in table.column_names for c in LM_FEATURES[:4]):
        lm = registry.build("lm", cfg.lm_params)
        parts = []
        for start in range(0, table.num_rows, 256):
            parts.append(lm.score(pa.table({"text": table[cfg.text_column].slice(start, 256)})))
            if progress:
                progress(min(start + 256, table.num_rows), table.num_rows)
        lm_scores = pa.concat_tables(parts)
    model = train_detector(table, cfg, lm_scores)
    if generate is not None:
        model.manifest["generated_with"] = asdict(generate)
    model.save(out_dir)
    return model


def embed_features(embeddings: np.ndarray, texts: list[str], style: bool) -> np.ndarray:
    """The embedding head's input: sentence embeddings, and the style statistics when the head uses them."""
    return np.hstack([embeddings, style_features(texts)]) if style else np.asarray(embeddings)


def train_embedding_head(X: np.ndarray, y: np.ndarray, groups: np.ndarray, C: float = 1.0, folds: int = 5,
                         target_fpr: float = 0.01) -> tuple[dict[str, Any], dict[str, Any]]:
    """A scaled logistic regression on frozen embeddings (``embed_features``), Platt-calibrated out of fold.

    Returns the heads (``embed``, ``embed_calibration``) and out-of-fold metrics whose ``threshold`` removes at
    most ``target_fpr`` of the training humans as scored by models that never saw their group.
    """
    if len(np.unique(groups)) < folds:
        raise ValueError(f"only {len(np.unique(groups))} groups; need at least {folds} for {folds}-fold CV")
    dv = _out_of_fold("embed", C, X, y, groups, folds)
    heads = {"embed": _head("embed", C).fit(X, y), "embed_calibration": calibrator(dv, y)}
    p = heads["embed_calibration"].predict_proba(dv.reshape(-1, 1))[:, 1]
    return heads, {"embed": head_metrics(y, p, target_fpr)}


def lora_holdout(groups: np.ndarray) -> np.ndarray:
    """The LoRA head's held-out third: rows whose group hashes to 0 mod 3 (the same rows on every run)."""
    return np.array([int.from_bytes(hashlib.blake2b(str(g).encode(), digest_size=4).digest(), "little") % 3 == 0
                     for g in np.asarray(groups)], dtype=bool)


def train_lora_head(texts: list[str], y: np.ndarray, groups: np.ndarray, settings: Any, seed: int = 0,
                    threads: int = 0, target_fpr: float = 0.01) -> tuple[dict[str, Any], dict[str, Any]]:
    """An encoder fine-tuned through a LoRA adapter (``detectors.classifier.lora``) on two thirds of the groups,
    Platt-calibrated and thresholded on the last third, which it never saw.

    Five folds would mean five fine-tunes (hours on two CPU cores), hence one held-out third. The threshold removes
    at most ``target_fpr`` of that third's distinct human texts (a text repeated in the data counts once). Returns
    the heads (``lora``: the adapter and head weights; ``lora_calibration``) and the held-out third's metrics.
    """
    from detectors.classifier.lora import LoraClassifier

    held = lora_holdout(groups)
    if held.all() or not held.any() or y[held].all() or not y[held].any():
        raise ValueError("the LoRA head needs both classes in two thirds and in the last third of the groups")
    fit, val = np.flatnonzero(~held), np.flatnonzero(held)
    log.info("LoRA head: fine-tuning on %d rows, calibrating on %d held-out rows", fit.size, val.size)
    model = LoraClassifier(settings, seed=seed, threads=threads).fit([texts[i] for i in fit], y[fit])
    dv = model.decision_function([texts[i] for i in val])
    heads = {"lora": model.weights(), "lora_calibration": calibrator(dv, y[val])}
    p = heads["lora_calibration"].predict_proba(dv.reshape(-1, 1))[:, 1]
    distinct = np.array(sorted({(texts[i], bool(y[i])): k for k, i in enumerate(val)}.values()), dtype=int)
    metrics = {"lora": {**head_metrics(y[val][distinct], p[distinct], target_fpr), "fit_rows": int(fit.size),
                        "validation_rows": int(val.size), "validation_distinct": int(distinct.size)}}
    return heads, metrics
