"""Detector quality at the false-positive rates users can afford, thresholds tuned on human rows only."""
from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score

from filterkit.stage.rules import threshold_for_fpr


def auroc(is_machine: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve, NaN scores dropped; NaN when only one class is left."""
    y, s = np.asarray(is_machine, bool), np.asarray(score, float)
    keep = ~np.isnan(s)
    y, s = y[keep], s[keep]
    if y.all() or not y.any():
        return float("nan")
    return float(roc_auc_score(y, s))


def tpr_at_fpr(is_machine: np.ndarray, score: np.ndarray, fpr: float,
               in_sample: bool = True) -> tuple[float, float]:
    """``(TPR, threshold)`` with the threshold set on human scores alone so at most ``fpr`` of them pass it.

    The ROC point at ``fpr`` of these rows (``in_sample``, the usual "TPR at 1% FPR"); ``in_sample=False`` sets
    the threshold for new human text instead (expected rate at most ``fpr``: ``threshold_for_fpr``). Returns NaN
    for both when there are too few human rows to resolve ``fpr`` (fewer than ``1 / fpr``).
    """
    y, s = np.asarray(is_machine, bool), np.asarray(score, float)
    human = s[~y & ~np.isnan(s)]
    machine = s[y]
    if human.size < int(np.ceil(1.0 / fpr)) or machine.size == 0:
        return float("nan"), float("nan")
    t = threshold_for_fpr(human, fpr, ">=", in_sample=in_sample)
    return float(np.mean(np.nan_to_num(machine, nan=-np.inf) >= t)), t
