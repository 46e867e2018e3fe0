"""The ``ngram_lm`` head: TF-IDF n-grams beside the scoring LM's statistics and hidden states, one regression.

The transfer protocol's arm ``ngram_idf_hidden_lm`` (``benchmarks/results/transfer_protocol_lm_full.md``) as a head:
the hashed n-grams of the text head, weighted by sublinear TF-IDF, next to SmolLM2's per-document statistics and its
hidden states of layers 10, 20 and 30 (mean-pooled), all from one forward pass over the first 128 tokens, in one
logistic regression. The dense block is standardised, its NaN (the LM abstains) set to the training mean, and
scaled by 1/sqrt(width) so that it weighs like one unit-norm TF-IDF row. The settings are the protocol's, fixed
before it ran.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
from scipy import sparse
from sklearn.feature_extraction.text import TfidfTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold
from sklearn.preprocessing import StandardScaler

from detectors.classifier.train import calibrator, head_metrics, text_vectorizer

STATS = ("loglik", "logrank", "entropy", "fastdetect", "gltr_top1", "gltr_top10", "gltr_top100", "gltr_top1000",
         "tokens_per_char")
"""The LM's per-document statistics, the first columns of a dense row."""
LM_PARAMS = {"max_tokens": 128, "hidden_layers": [10, 20, 30]}
"""The LM detector's parameters the head was trained with (the rest are the LM detector's defaults)."""


def lm_rows(table: pa.Table, prefix: str = "lm") -> np.ndarray:
    """The dense block of each row of an LM detector's output: its statistics, then its pooled hidden states
    (float32; NaN where the LM abstained)."""
    stats = np.column_stack([table[f"{prefix}.{s}"].to_numpy(zero_copy_only=False) for s in STATS])
    hidden = table[f"{prefix}.hidden"].combine_chunks()
    states = np.asarray(hidden.flatten().to_numpy(zero_copy_only=False), np.float32).reshape(len(table), -1)
    return np.hstack([stats, states]).astype(np.float32)


def lm_abstained(dense: np.ndarray) -> np.ndarray:
    """Rows the LM did not score (too short, or a text it cannot judge): its scores are NaN together, while
    ``tokens_per_char`` is known for any non-empty text."""
    return np.isnan(dense[:, STATS.index("loglik")])


def combine(parts: list[Any], dense: np.ndarray | None) -> Any:
    """Sparse n-gram blocks and a standardised dense block as one matrix: NaN at the mean (0), and beside sparse
    blocks the dense one scaled by 1/sqrt(width), so it weighs like one unit-norm TF-IDF row."""
    if dense is not None:
        x = np.nan_to_num(dense)
        parts = [*parts, sparse.csr_matrix(x / np.sqrt(x.shape[1])) if parts else x]
    return parts[0] if len(parts) == 1 else sparse.hstack(parts).tocsr()


def ngram_counts(texts: list[str]) -> sparse.csr_matrix:
    """The text head's hashed n-gram counts."""
    return sparse.csr_matrix(text_vectorizer().transform(texts))


def fit_ngram_lm(counts: sparse.csr_matrix, dense: np.ndarray, y: np.ndarray, C: float = 4.0,
                 seed: int = 0) -> dict[str, Any]:
    """The head's parts fitted on rows: ``ngram_lm_idf``, ``ngram_lm_scale``, ``ngram_lm`` (the regression)."""
    idf = TfidfTransformer(sublinear_tf=True).fit(counts)
    scale = StandardScaler().fit(dense)
    X = combine([idf.transform(counts)], scale.transform(dense))
    model = LogisticRegression(C=C, solver="liblinear", max_iter=3000, random_state=seed).fit(X, y)
    return {"ngram_lm_idf": idf, "ngram_lm_scale": scale, "ngram_lm": model}


def decision(parts: dict[str, Any], counts: sparse.csr_matrix, dense: np.ndarray) -> np.ndarray:
    """The regression's decision values of rows, from fitted parts."""
    X = combine([parts["ngram_lm_idf"].transform(counts)], parts["ngram_lm_scale"].transform(dense))
    return parts["ngram_lm"].decision_function(X)


def train_ngram_lm_head(counts: sparse.csr_matrix, dense: np.ndarray, y: np.ndarray, groups: np.ndarray,
                        C: float = 4.0, folds: int = 5,
                        target_fpr: float = 0.01) -> tuple[dict[str, Any], dict[str, Any]]:
    """The head fitted on every row and Platt-calibrated on out-of-fold decision values (folds by ``groups``).

    Returns the heads (the parts of ``fit_ngram_lm`` and ``ngram_lm_calibration``) and out-of-fold metrics whose
    ``threshold`` removes at most ``target_fpr`` of the training humans as scored by models that never saw them.
    """
    if len(np.unique(groups)) < folds:
        raise ValueError(f"only {len(np.unique(groups))} groups; need at least {folds} for {folds}-fold CV")
    dv = np.full(len(y), np.nan)
    for fit, held in GroupKFold(n_splits=folds).split(dense, y, groups):
        dv[held] = decision(fit_ngram_lm(counts[fit], dense[fit], y[fit], C), counts[held], dense[held])
    heads = {**fit_ngram_lm(counts, dense, y, C), "ngram_lm_calibration": calibrator(dv, y)}
    p = heads["ngram_lm_calibration"].predict_proba(dv.reshape(-1, 1))[:, 1]
    return heads, {"ngram_lm": head_metrics(y, p, target_fpr)}
