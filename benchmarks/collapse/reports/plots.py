"""Metric-versus-generation plots: one line per arm (median over seeds), a band from the lowest to the highest seed."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

NUMERIC = ("test_ce", "sigma_ratio", "w2", "synthetic_share")
TEXT = ("test_ce", "nll_head", "nll_tail", "human_types_kept", "tail_coverage", "distinct_2", "unigram_kl",
        "self_bleu", "synthetic_share", "filter_tpr", "filter_fpr", "retain_rate")


def plot(records: list[dict[str, Any]], kind: str, path: Path, title: str) -> Path:
    """Write a grid of metric-vs-generation panels to ``path`` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = NUMERIC if kind == "numeric" else TEXT
    arms = list(dict.fromkeys(r["arm"] for r in records))
    cols = 4 if len(metrics) > 4 else len(metrics)
    rows = math.ceil(len(metrics) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    for ax, metric in zip(axes.flat, metrics, strict=False):  # the grid may have spare panels
        for i, arm in enumerate(arms):
            gens, mid, lo, hi = _band(records, arm, metric)
            if not gens.size:
                continue
            color = f"C{i % 10}"
            ax.plot(gens, mid, color=color, label=arm, lw=1.6)
            ax.fill_between(gens, lo, hi, color=color, alpha=0.15, lw=0)
        ax.set_title(metric)
        if metric == "sigma_ratio":
            ax.set_yscale("log")
        ax.set_xlabel("generation")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(metrics):]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 5), fontsize=8, frameon=False)
    fig.suptitle(f"{title} (median over seeds; band: lowest to highest seed)")
    fig.tight_layout(rect=(0, 0.1 if len(labels) > 5 else 0.06, 1, 1))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _band(records: list[dict[str, Any]], arm: str, metric: str) -> tuple[np.ndarray, ...]:
    by_gen: dict[int, list[float]] = {}
    for r in records:
        v = r.get(metric)
        if r["arm"] == arm and isinstance(v, (int, float)) and math.isfinite(v):
            by_gen.setdefault(r["generation"], []).append(float(v))
    gens = np.array(sorted(by_gen))
    vals = [np.array(by_gen[g]) for g in gens]
    return (gens, np.array([np.median(v) for v in vals]), np.array([v.min() for v in vals]),
            np.array([v.max() for v in vals]))
