"""What each filter bought, several runs side by side: one table and one figure.

    python -m benchmarks.collapse benefit RUN_DIR... --out OUT.md

Per run (one results.json each) and arm: the area between its held-out cross-entropy curve and no filter's, the
share of the oracle's area it recovers, both with the run's paired bootstrap interval over seeds; where the run has
a random arm, each arm's area less the random arm's, seed by seed, with a paired bootstrap interval (above 0: the
filter beat dropping as many rows at random; with ``common_draws`` the pairs share their training draws); the final
cross-entropy's mean and its lowest and highest seed; the filter's TPR on the previous model's own samples and on
the other synthetic rows; the realised human FPR (mean, and its highest seed-generation); and the synthetic share
of the rows the learner trained on. The figure draws the oracle-benefit shares with their intervals, one panel a run.
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.collapse.analysis.summary import seed_areas
from benchmarks.collapse.analysis.survival import percentile_ci, resample

PROG = "python -m benchmarks.collapse benefit"
HEADER = ("| run | arm | area vs none [95% CI] | oracle benefit [95% CI] | area - random's [95% CI] | "
          "final test_ce, mean [seed range] | TPR own / foreign | human FPR, mean (max) | synthetic share trained on |")
BOOTSTRAP = 2000


def arm_rows(run: Path) -> list[dict[str, Any]]:
    """One summary per arm of a finished run, in the run's arm order."""
    data = json.loads((run / "results.json").read_text())
    records, out = data["records"], []
    last = max(r["generation"] for r in records)
    seeds = 1 + max(r["seed"] for r in records)
    random = seed_areas(records, "random", "test_ce", last, seeds)[0] if "random" in data["summary"] else None
    for arm, s in data["summary"].items():
        later = [r for r in records if r["arm"] == arm and r["generation"] > 0]
        final = np.array([r["test_ce"] for r in later if r["generation"] == last], dtype=float)
        fpr = np.array([r["filter_fpr"] for r in later], dtype=float)
        # results.json writes NaN as null: read it back as NaN.
        out.append({"arm": arm, "area": _num(s["area"]), "area_ci": s["area_ci"], "benefit": _num(s["oracle_benefit"]),
                    "benefit_ci": s["oracle_benefit_ci"], "note": s.get("benefit_note"),
                    "final": final, "fpr_mean": float(np.nanmean(fpr)), "fpr_max": float(np.nanmax(fpr)),
                    "tpr_own": _mean(later, "filter_tpr_own"), "tpr_foreign": _mean(later, "filter_tpr_foreign"),
                    "share": _mean(later, "synthetic_share"),
                    "vs_random": None if random is None or arm == "random" else
                    _paired(seed_areas(records, arm, "test_ce", last, seeds)[0] - random)})
    return out


def _paired(diff: np.ndarray) -> tuple[float, list[float]]:
    """The mean per-seed difference and its bootstrap interval over seeds."""
    diff = diff[np.isfinite(diff)]
    if not diff.size:
        return float("nan"), [float("nan"), float("nan")]
    return float(diff.mean()), percentile_ci(diff[resample(diff.size, BOOTSTRAP)].mean(axis=1))


def _num(value: float | None) -> float:
    return float("nan") if value is None else float(value)


def _mean(records: list[dict[str, Any]], key: str) -> float:
    values = np.array([r.get(key) for r in records], dtype=float)
    return float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")


def _ci(value: float, ci: Sequence[float | None] | None, digits: int) -> str:
    if value != value:
        return "-"
    low, high = ci if ci else (None, None)
    inner = f" [{low:.{digits}f}, {high:.{digits}f}]" if low is not None and high is not None else ""
    return f"{value:.{digits}f}{inner}"


def markdown(runs: dict[str, list[dict[str, Any]]], command: str, plot_name: str | None) -> str:
    """The table, and the figure beside it."""
    lines = ["# What each filter bought, run by run", "", "```", command, "```", "", __doc__.split("\n\n")[2]
             .replace("\n", " "), "", HEADER, "|---|---|---|---|---|---|---|---|---|"]
    for name, rows in runs.items():
        for r in rows:
            benefit = _ci(r["benefit"], r["benefit_ci"], 2) if r["benefit"] == r["benefit"] else (r["note"] or "-")
            f = r["final"]
            vs = _ci(*r["vs_random"], 3) if r["vs_random"] else "-"
            lines.append(f"| {name} | {r['arm']} | {_ci(r['area'], r['area_ci'], 3)} | {benefit} | {vs} | "
                         f"{f.mean():.3f} [{f.min():.3f}, {f.max():.3f}] | "
                         f"{r['tpr_own']:.3f} / {r['tpr_foreign']:.3f} | {r['fpr_mean']:.3f} ({r['fpr_max']:.3f}) | "
                         f"{r['share']:.3f} |")
    if plot_name:
        lines += ["", f"![oracle benefit by arm]({plot_name})"]
    return "\n".join(lines) + "\n"


def plot(runs: dict[str, list[dict[str, Any]]], path: Path) -> Path:
    """One panel a run: each arm's share of the oracle's benefit with its interval; 0 is no filter, 1 the oracle."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(runs), figsize=(4.2 * len(runs), 3.6), sharex=True, squeeze=False)
    for ax, (name, rows) in zip(axes[0], runs.items(), strict=True):
        rows = [r for r in rows if r["benefit"] == r["benefit"]]
        y = np.arange(len(rows))[::-1]
        mid = np.array([r["benefit"] for r in rows])
        # An arm without an interval (too few seeds to resample) is drawn as its point alone.
        low = np.array([_bound(r, 0) for r in rows])
        high = np.array([_bound(r, 1) for r in rows])
        ax.errorbar(mid, y, xerr=[mid - low, high - mid], fmt="o", capsize=3)
        ax.set_yticks(y, [f"{r['arm']} (FPR {r['fpr_mean']:.1%})" for r in rows], fontsize=8)
        ax.axvline(0.0, color="grey", lw=0.8)
        ax.axvline(1.0, color="grey", lw=0.8, ls="--")
        ax.axvline(0.5, color="tab:red", lw=0.8, ls=":")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("share of the oracle's benefit")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _bound(row: dict[str, Any], side: int) -> float:
    ci = row["benefit_ci"]
    return float(ci[side]) if ci and ci[side] is not None else float(row["benefit"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="finished run directories (each with results.json)")
    parser.add_argument("--out", type=Path, required=True, help="markdown file (a .png beside it)")
    parser.add_argument("--no-plot", action="store_true")
    args = parser.parse_args(argv)
    runs = {run.name: arm_rows(run) for run in args.runs}
    command = " ".join([PROG, *map(shlex.quote, sys.argv[1:] if argv is None else argv)])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    png = None if args.no_plot else plot(runs, args.out.with_suffix(".png")).name
    text = markdown(runs, command, png)
    args.out.write_text(text)
    sys.stdout.write(text)
    return 0
