"""Per-depth curves of a chains run, one line per temperature (matplotlib, Agg backend)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

MEASURES = (("sim_start_w1", "Jaccard to start (word sets)"), ("sim_start_w5", "Jaccard to start (word 5-grams)"),
            ("words_mean", "words"), ("distinct_2", "distinct-2 across chains"), ("self_bleu", "self-BLEU"),
            ("converged_share", "share of chains converged"))


def plot(results: dict[str, Any], path: Path) -> Path:
    """Write the measure and detector panels to ``path`` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels: list[tuple[str, dict[str, tuple[list[int], list[float]]]]] = []
    for key, title in MEASURES:
        panels.append((title, {t: ([d["depth"] for d in r["by_depth"]], [d[key] for d in r["by_depth"]])
                               for t, r in results["temperatures"].items()}))
    det = results["detectors"]
    for name in ("lm", "classifier"):
        for column, c in det.get(name, {}).get("columns", {}).items():
            panels.append((f"TPR of {column} (1% FPR on humans)",
                           {t: ([r["depth"] for r in rows], [r["tpr"] for r in rows])
                            for t, rows in c["by_temperature"].items()}))
    if "replay" in det:
        panels.append(("replay: share matching depth-1 index", {
            t: ([x["depth"] for x in r["by_depth"]], [x["match_share"] for x in r["by_depth"]])
            for t, r in det["replay"]["by_temperature"].items()}))
    cols = 3
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.4 * cols, 3.1 * rows), squeeze=False)
    for ax, (title, lines) in zip(axes.flat, panels, strict=False):
        for t, (x, y) in lines.items():
            ax.plot(x, y, marker="o", markersize=3, label=f"T={t}")
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("depth (rephrasings)", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
