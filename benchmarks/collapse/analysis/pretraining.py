"""Runs that differ only in the pretraining seed: how much of the spread one pretraining hides.

    python -m benchmarks.collapse pretraining benchmarks/results/collapse_neuralpt_pretrain{0,1,2} \
        --out benchmarks/results/collapse_pretraining.md

Every seed of a run starts from the same pretrained weights, so a run's interval over seeds is conditional on that
one pretraining. Per run (one ``pretrain_seed`` each; run seed k draws the same human rows in every run): the
no-filter arm's generation-0 held-out cross-entropy, its cross-entropy at the last generation and the perplexity
ratio between them, as a mean and 95% bootstrap interval over seeds. Pooled: a two-level bootstrap that resamples
pretrainings, then seeds within each, so its interval includes the pretraining's spread; beside it the one-way
variance components (the standard deviation between pretrainings and within one pretraining's seeds).
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

from benchmarks.collapse.analysis.compare import interval, per_seed, ratio_plot
from benchmarks.collapse.analysis.survival import percentile_ci

PROG = "python -m benchmarks.collapse pretraining"
METRICS = {"g0_ce": "generation-0 test CE (nats)", "last_ce": "last-generation test CE (nats)",
           "ratio": "perplexity ratio last / g0"}


def read_run(path: Path, arm: str) -> dict:
    """One run's pretraining seed, command and per-seed values of every metric."""
    run = json.loads((path / "run.json").read_text())
    ce = per_seed(json.loads((path / "results.json").read_text())["records"], arm, "test_ce")
    return {"dir": str(path), "command": run.get("command"), "schedule": run["config"]["schedule"],
            "pretrain_seed": int(run["config"]["learner_params"].get("pretrain_seed", 0)),
            "generations": ce.shape[1] - 1, "curve": np.exp(ce - ce[:, :1]),
            "values": {"g0_ce": ce[:, 0], "last_ce": ce[:, -1], "ratio": np.exp(ce[:, -1] - ce[:, 0])}}


def nested_interval(groups: list[np.ndarray], boots: int = 4000, seed: int = 0) -> tuple[float, float, float]:
    """Mean and a 95% interval from resampling groups, then values within each resampled group."""
    groups = [g[np.isfinite(g)] for g in groups if np.isfinite(g).any()]
    if not groups:
        return math.nan, math.nan, math.nan
    rng = np.random.default_rng(seed)
    means = np.empty(boots)
    for b in range(boots):
        picked = [groups[i] for i in rng.integers(0, len(groups), len(groups))]
        means[b] = np.mean([g[rng.integers(0, g.size, g.size)].mean() for g in picked])
    return float(np.mean([g.mean() for g in groups])), *percentile_ci(means)


def components(groups: list[np.ndarray]) -> tuple[float, float]:
    """Standard deviations between groups and within them (one-way random effects, method of moments)."""
    groups = [g[np.isfinite(g)] for g in groups]
    n = float(np.mean([g.size for g in groups]))
    within = float(np.mean([g.var(ddof=1) for g in groups]))
    between = max(0.0, (n * float(np.var([g.mean() for g in groups], ddof=1)) - within) / n)
    return math.sqrt(between), math.sqrt(within)


def summarise(runs: list[dict]) -> dict:
    """Per run and pooled intervals and the variance components of every metric."""
    out: dict = {"runs": [], "pooled": {}}
    for r in runs:
        out["runs"].append({"dir": r["dir"], "pretrain_seed": r["pretrain_seed"], "seeds": len(r["values"]["ratio"]),
                            **{m: interval(r["values"][m]) for m in METRICS}})
    for m in METRICS:
        groups = [r["values"][m] for r in runs]
        between, within = components(groups)
        conditional = np.mean([r[m][2] - r[m][1] for r in out["runs"]])
        pooled = nested_interval(groups)
        out["pooled"][m] = {"interval": pooled, "sd_between": between, "sd_within": within,
                            "width_pooled_over_conditional": (pooled[2] - pooled[1]) / conditional}
    return out


def render(runs: list[dict], summary: dict, plot: str, command: str) -> str:
    """The study as Markdown; ``command`` is the command line that made it."""
    def ci(t: Sequence[float]) -> str:
        return f"{t[0]:.3f} [{t[1]:.3f}, {t[2]:.3f}]"

    lines = ["# The pretraining seed", "", "```"] + [r["command"] or r["dir"] for r in runs] + [command, "```", "",
             f"Schedule `{runs[0]['schedule']}`, {runs[0]['generations']} generations, no-filter arm; the runs differ "
             "only in `pretrain_seed` (run seed k draws the same human rows in every run). Per run: mean and 95% "
             "bootstrap interval over its seeds, conditional on its one pretraining. Pooled: resampling "
             "pretrainings, then seeds within each. SD between / within: one-way variance components. A percentile "
             "bootstrap over a handful of units undercovers, so the SDs are the steadier read.", "",
             "| pretraining seed | seeds | " + " | ".join(METRICS.values()) + " |", "|---:|---:|---|---|---|"]
    for r in summary["runs"]:
        lines.append(f"| {r['pretrain_seed']} | {r['seeds']} | " + " | ".join(ci(r[m]) for m in METRICS) + " |")
    lines += ["", "| metric | pooled (pretrainings and seeds) | SD between pretrainings | SD within (seeds) | "
              "pooled interval width / mean conditional width |", "|---|---|---:|---:|---:|"]
    for m, label in METRICS.items():
        p = summary["pooled"][m]
        lines.append(f"| {label} | {ci(p['interval'])} | {p['sd_between']:.3f} | {p['sd_within']:.3f} | "
                     f"{p['width_pooled_over_conditional']:.2f} |")
    return "\n".join(lines + ["", f"![perplexity ratio per generation, per pretraining]({plot})"]) + "\n"


def draw(runs: list[dict], path: Path) -> None:
    """Perplexity ratio per generation: a thin line per seed, coloured by pretraining."""
    with ratio_plot(path, f"{runs[0]['schedule']}: one line per run seed") as ax:
        for i, r in enumerate(runs):
            for k, row in enumerate(r["curve"]):
                ax.plot(range(row.size), row, color=f"C{i}", lw=0.8, alpha=0.7,
                        label=f"pretraining seed {r['pretrain_seed']}" if k == 0 else None)


def main(argv: Sequence[str] | None = None) -> None:
    """Write the study's Markdown, JSON and PNG."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n")[0])
    parser.add_argument("runs", type=Path, nargs="+", help="Run directories differing only in pretrain_seed.")
    parser.add_argument("--arm", default="none")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    runs = [read_run(p, args.arm) for p in args.runs]
    if len(runs) < 2 or len({r["pretrain_seed"] for r in runs}) != len(runs):
        parser.error("give at least two runs with different pretrain_seed values")
    summary = summarise(runs)
    png = args.out.with_suffix(".png")
    draw(runs, png)
    text = render(runs, summary, png.name, shlex.join([*shlex.split(PROG), *argv]))
    args.out.with_suffix(".json").write_text(json.dumps(summary, indent=1), encoding="utf-8")
    args.out.write_text(text, encoding="utf-8")
    print(text)
