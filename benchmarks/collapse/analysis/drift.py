"""Two runs of one experiment that differ in one setting (a torch learner's ``dtype``, say), paired by seed: how
far the second's held-out metric drifts from the first's, against the seed-to-seed spread of the first.

    python -m benchmarks.collapse drift benchmarks/results/collapse_neural_replace \
        benchmarks/results/collapse_neural_replace_bf16 --out benchmarks/results/collapse_neural_bf16.md

Seeds share their human data and sampling streams across the two runs, so the per-seed difference isolates the
setting; a difference well inside the first run's spread over seeds is one nobody would notice. Any further
runs given are controls of the same kind (the first run with another thread count, for example: float32
reductions in another order).
"""
from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from benchmarks.collapse.analysis.compare import interval, per_seed

METRICS = ("test_ce", "nll_per_word", "nll_tail")
PROG = "python -m benchmarks.collapse drift"


def label(path: Path) -> str:
    """What a run changed, read from its command (the directory name when there is none)."""
    run = json.loads((path / "run.json").read_text())
    params = run["config"].get("learner_params", {})
    precision = f" {params.get('precision', 'autocast')}" if params.get("dtype", "float32") != "float32" else ""
    return f"{path.name} (dtype {params.get('dtype', 'float32')}{precision}, threads {params.get('threads', 0)})"


def paired(base: Path, other: Path, arm: str, metric: str) -> list[dict]:
    """Per generation both runs reached: the mean paired difference (other - base) over common seeds with its
    bootstrap interval, and the standard deviation of the base run over all its seeds."""
    a = per_seed(json.loads((base / "results.json").read_text())["records"], arm, metric)
    b = per_seed(json.loads((other / "results.json").read_text())["records"], arm, metric)
    seeds, gens = min(a.shape[0], b.shape[0]), min(a.shape[1], b.shape[1])
    out = []
    for g in range(gens):
        diff = b[:seeds, g] - a[:seeds, g]
        out.append({"generation": g, "seeds": int(np.isfinite(diff).sum()), "diff": interval(diff),
                    "base_sd": float(np.nanstd(a[:, g], ddof=1)) if np.isfinite(a[:, g]).sum() > 1 else math.nan,
                    "base_seeds": int(np.isfinite(a[:, g]).sum())})
    return out


def draw(base: Path, others: list[Path], arm: str, path: Path) -> None:
    """Paired ``test_ce`` difference from the base run per generation (with its interval) for every other run,
    against the base run's seed-to-seed spread (shaded): the picture of the tables."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4))
    spread = [r["base_sd"] for r in paired(base, base, arm, "test_ce")]
    ax.fill_between(range(len(spread)), -np.array(spread), spread, color="grey", alpha=0.25,
                    label="base run: +/- 1 sd over seeds")
    for other in others:
        rows = paired(base, other, arm, "test_ce")
        g = [r["generation"] for r in rows]
        m = np.array([r["diff"][0] for r in rows])
        err = np.array([[m[i] - r["diff"][1], r["diff"][2] - m[i]] for i, r in enumerate(rows)]).T
        ax.errorbar(g, m, yerr=err, marker="o", capsize=3, label=label(other))
    ax.axhline(0.0, color="black", lw=0.8)
    ax.set_xlabel("generation")
    ax.set_ylabel("held-out cross-entropy, run - base (nats/token)")
    ax.set_title(f"paired by seed against {base.name}", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def render(base: Path, others: list[Path], arm: str, plot: str | None = None, command: str = PROG) -> str:
    """The comparison as Markdown; ``command`` is the command line that made it."""
    lines = ["# Paired drift between runs", "", "```", command, "```", "",
             (f"Base: {label(base)}. Arm `{arm}`. Difference = other - base per seed (common seeds), "
             "mean [95% bootstrap interval]; spread = standard deviation of the base run over its seeds at that "
             "generation; |mean difference| / spread below 1 means the setting moves the metric by less than "
             "the choice of seed does."), ""]
    for other in others:
        lines += [f"## {label(other)}", ""]
        for metric in METRICS:
            rows = paired(base, other, arm, metric)
            if not any(math.isfinite(r["diff"][0]) for r in rows):
                continue
            lines += [f"`{metric}`:", "", "| generation | seeds | difference | base spread (seeds) | |diff|/spread |",
                      "|---:|---:|---|---|---:|"]
            for r in rows:
                m, lo, hi = r["diff"]
                ratio = abs(m) / r["base_sd"] if r["base_sd"] > 0 else math.nan
                lines.append(f"| {r['generation']} | {r['seeds']} | {m:+.4f} [{lo:+.4f}, {hi:+.4f}] | "
                             f"{r['base_sd']:.4f} ({r['base_seeds']}) | {ratio:.2f} |")
            lines.append("")
    if plot:
        lines += [f"![held-out cross-entropy per generation]({plot})", ""]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    """Write the comparison Markdown (and a PNG beside it)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n")[0])
    parser.add_argument("base", type=Path)
    parser.add_argument("others", type=Path, nargs="+")
    parser.add_argument("--arm", default="none")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    png = args.out.with_suffix(".png")
    draw(args.base, args.others, args.arm, png)
    text = render(args.base, args.others, args.arm, png.name, shlex.join([*shlex.split(PROG), *argv]))
    args.out.write_text(text, encoding="utf-8")
    print(text)
