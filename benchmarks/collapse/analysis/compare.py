"""Replace vs fixed vs accumulate side by side: how far each schedule's no-filter arm drifts from generation 0.

    python -m benchmarks.collapse compare benchmarks/results/collapse_neural_{replace,fixed,accumulate} \
        --out benchmarks/results/collapse_neural.md

Per schedule (one results.json each, same learner): the ratio of held-out human perplexity at each generation to
generation 0, per seed, with its mean and a 95% percentile bootstrap interval over seeds; the rise of the NLL
of held-out human tokens per frequency band (head, torso, tail) from generation 0 to the last; the share of
the human pool's rarest types the samples still contain. A plot of the perplexity ratios sits beside it.
"""
from __future__ import annotations

import argparse
import json
import math
import shlex
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

BANDS = ("head", "torso", "tail")
PROG = "python -m benchmarks.collapse compare"
TITLE = "Replace vs fixed vs accumulate"


def per_seed(records: list[dict], arm: str, metric: str) -> np.ndarray:
    """A (seeds x generations) table of ``metric`` for one arm; NaN where a lineage stopped."""
    rows = [r for r in records if r["arm"] == arm]
    seeds, gens = max(r["seed"] for r in rows) + 1, max(r["generation"] for r in rows) + 1
    table = np.full((seeds, gens), np.nan)
    for r in rows:
        v = r.get(metric)
        table[r["seed"], r["generation"]] = v if isinstance(v, (int, float)) else np.nan
    return table


def interval(values: np.ndarray, boots: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """Mean and a 95% percentile bootstrap interval over the finite values."""
    v = values[np.isfinite(values)]
    if not v.size:
        return math.nan, math.nan, math.nan
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, v.size, size=(boots, v.size))].mean(axis=1)
    return float(v.mean()), float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def summarise(path: Path, arm: str) -> dict:
    """What the comparison reads from one run directory."""
    data = json.loads((path / "results.json").read_text())
    run = json.loads((path / "run.json").read_text())
    records = data["records"]
    ppl = np.exp(per_seed(records, arm, "test_ce"))
    ratio = ppl / ppl[:, :1]
    last = ratio.shape[1] - 1
    out = {"dir": str(path), "schedule": run["config"]["schedule"], "learner": run["config"]["learner"],
           "command": run.get("command"), "seeds": ratio.shape[0], "generations": last,
           "ratio_mean": np.nanmean(ratio, axis=0).tolist(), "ratio_last": interval(ratio[:, last]),
           "ratio_max": interval(np.nanmax(ratio[:, 1:], axis=1))}
    for band in BANDS:
        nll = per_seed(records, arm, f"nll_{band}")
        out[f"rise_{band}"] = interval(nll[:, last] - nll[:, 0])
    tail = per_seed(records, arm, "tail_coverage")
    out["tail_coverage"] = (interval(tail[:, 0]), interval(tail[:, last]))
    return out


def render(runs: list[dict], plot: str | None, command: str = PROG, title: str = TITLE) -> str:
    """The comparison as Markdown; ``command`` is the command line that made it."""
    def ci(t: tuple[float, float, float], digits: int = 3) -> str:
        return f"{t[0]:.{digits}f} [{t[1]:.{digits}f}, {t[2]:.{digits}f}]" if math.isfinite(t[0]) else ""

    lines = [f"# {title}", "", "```"] + [r["command"] or r["dir"] for r in runs] + [
        command, "```", "",
        "No-filter arm. Perplexity ratio = held-out human perplexity at a generation over generation 0's, per seed; "
        "mean and 95% bootstrap interval over seeds. Band rises: NLL (nats per token) of held-out human tokens at "
        "the last generation minus generation 0, by frequency band of the human pool (head: the types that cover "
        "the first 50% of its tokens; torso: the next 40%; tail: the rest). Tail coverage: share of the pool's "
        "rarest 10% of word types present in N samples.", "",
        "| schedule | seeds | G | ppl ratio at G | max ppl ratio | head rise | torso rise | tail rise | tail/head | "
        "tail coverage g0 -> G |", "|---|---:|---:|---|---|---|---|---|---:|---|"]
    for r in runs:
        head, tail = r["rise_head"][0], r["rise_tail"][0]
        share = f"{tail / head:.1f}" if math.isfinite(head) and head > 0 else ""
        c0, c1 = r["tail_coverage"]
        lines.append(f"| {r['schedule']} | {r['seeds']} | {r['generations']} | {ci(r['ratio_last'])} | "
                     f"{ci(r['ratio_max'])} | {ci(r['rise_head'])} | {ci(r['rise_torso'])} | {ci(r['rise_tail'])} | "
                     f"{share} | {c0[0]:.3f} -> {c1[0]:.3f} |")
    lines += ["", "Mean perplexity ratio per generation:", "",
              "| schedule | " + " | ".join(f"g{g}" for g in range(runs[0]["generations"] + 1)) + " |",
              "|---|" + "---:|" * (runs[0]["generations"] + 1)]
    for r in runs:
        lines.append(f"| {r['schedule']} | " + " | ".join(f"{v:.3f}" for v in r["ratio_mean"]) + " |")
    if plot:
        lines += ["", f"![perplexity ratio per generation]({plot})"]
    return "\n".join(lines) + "\n"


@contextmanager
def ratio_plot(path: Path, title: str) -> Iterator[Any]:
    """Axes for perplexity ratios per generation, labelled and saved to ``path`` when the block ends."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    yield ax
    ax.axhline(1.0, color="grey", lw=0.8)
    ax.set_xlabel("generation")
    ax.set_ylabel("held-out human perplexity / generation 0")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def draw(runs: list[dict], path: Path) -> None:
    """Mean perplexity ratio per generation, one line per schedule."""
    with ratio_plot(path, f"{runs[0]['learner']}: no filter, by schedule") as ax:
        for r in runs:
            ax.plot(range(len(r["ratio_mean"])), r["ratio_mean"], marker="o", label=r["schedule"])


def main(argv: Sequence[str] | None = None) -> None:
    """Write the comparison Markdown (and a PNG beside it)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n")[0])
    parser.add_argument("runs", type=Path, nargs="+")
    parser.add_argument("--arm", default="none")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    runs = [summarise(p, args.arm) for p in args.runs]
    title = TITLE
    if len({r["schedule"] for r in runs}) < len(runs):  # runs of one schedule differ elsewhere: name their directories
        title = "Runs of one schedule, differing in another setting"
        for r in runs:
            r["schedule"] = f"{r['schedule']} ({Path(r['dir']).name})"
    png = args.out.with_suffix(".png")
    draw(runs, png)
    text = render(runs, png.name, shlex.join([*shlex.split(PROG), *argv]), title)
    args.out.write_text(text, encoding="utf-8")
    print(text)
