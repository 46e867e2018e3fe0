"""Statistics of a causal LM's next-token distributions: per position, summed per document, then per-document scores.

Everything is a sum over scored tokens, so windows of one long document add up exactly, and the per-document
scores (means, the Fast-DetectGPT z-score, the Binoculars ratio) are taken once all windows are in.
"""
from __future__ import annotations

import numpy as np
import torch

GLTR_BUCKETS = (1, 10, 100, 1000)
SUMS = ("n", "loglik", "logrank", "entropy", "mean_ll", "var_ll", "xent") + tuple(f"top{k}" for k in GLTR_BUCKETS)
"""Per-document sums: token count, log p(x_t), log rank, entropy, E[log p], Var[log p], observer cross-entropy,
and counts of tokens whose rank is within each GLTR bucket."""
_FLOOR = -1e4  # log p below this is p == 0 in float32; flooring keeps 0 * -inf from turning into NaN


def position_stats(logits: torch.Tensor, targets: torch.Tensor,
                   observer_logits: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Per-position statistics of ``logits`` ``[N, V]`` at the observed next tokens ``targets`` ``[N]``.

    ``mean_ll`` and ``var_ll`` are the mean and variance of ``log p(x)`` for ``x`` drawn from the model itself
    (Fast-DetectGPT's analytic sampling discrepancy with one model); ``xent`` is the cross-entropy of the
    model's distribution under the observer's (the Binoculars denominator), present only with an observer.
    """
    logp = torch.log_softmax(logits.float(), dim=-1).clamp_min_(_FLOOR)
    target = logp.gather(-1, targets[:, None]).squeeze(-1)
    rank = (logp > target[:, None]).sum(-1) + 1
    weighted = logp.exp().mul_(logp)  # p * log p, in the buffer of p
    mean = weighted.sum(-1)
    second = weighted.mul_(logp).sum(-1)  # p * (log p)^2
    out = {
        "loglik": target,
        "rank": rank,
        "entropy": -mean,
        "mean_ll": mean,
        "var_ll": (second - mean * mean).clamp_min_(0.0),
    }
    if observer_logits is not None:
        q = torch.softmax(observer_logits.float(), dim=-1)
        out["xent"] = -(q.mul_(logp)).sum(-1)
    return out


def add_to_sums(sums: dict[str, torch.Tensor], doc: torch.Tensor, stats: dict[str, torch.Tensor]) -> None:
    """Add per-position ``stats`` into the float64 per-document ``sums`` at document indices ``doc``."""
    rank = stats["rank"]
    parts = {
        "n": torch.ones_like(stats["loglik"]),
        "loglik": stats["loglik"],
        "logrank": torch.log(rank.to(torch.float64)),
        "entropy": stats["entropy"],
        "mean_ll": stats["mean_ll"],
        "var_ll": stats["var_ll"],
        **{f"top{k}": (rank <= k) for k in GLTR_BUCKETS},
    }
    if "xent" in stats:
        parts["xent"] = stats["xent"]
    for key, value in parts.items():
        sums[key].index_add_(0, doc, value.to(torch.float64))


def new_sums(n_docs: int) -> dict[str, torch.Tensor]:
    """Zeroed per-document sums."""
    return {key: torch.zeros(n_docs, dtype=torch.float64) for key in SUMS}


def scores_from_sums(sums: dict[str, np.ndarray], observer: bool) -> dict[str, np.ndarray]:
    """Per-document scores from the sums; NaN where a document has no scored token."""
    n = sums["n"]
    with np.errstate(divide="ignore", invalid="ignore"):
        valid = n > 0
        mean = {k: np.where(valid, sums[k] / np.where(valid, n, 1.0), np.nan) for k in SUMS if k != "n"}
        loglik = mean["loglik"]
        var = sums["var_ll"]
        out = {
            "loglik": loglik,
            "perplexity": np.exp(-loglik),
            "logrank": mean["logrank"],
            "entropy": mean["entropy"],
            "fastdetect": np.where(valid & (var > 0), (sums["loglik"] - sums["mean_ll"]) / np.sqrt(var), np.nan),
            "ntokens": n.astype(np.float64),
            **{f"gltr_top{k}": mean[f"top{k}"] for k in GLTR_BUCKETS},
        }
        if observer:
            out["binoculars"] = np.where(mean["xent"] > 0, -loglik / mean["xent"], np.nan)
    return out
