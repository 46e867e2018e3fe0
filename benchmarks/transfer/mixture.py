"""Planted mixes: does ``filterkit.stage.mixture`` recover the machine share of a crawl built from the transfer set?

    python -m benchmarks.transfer mixture transfer_scored.parquet --out benchmarks/results

Each crawl is the English human rows of one half of the articles plus machine rows of that half drawn to make 0%,
5%, 20% and 50% of it (chat and base models alike), 20 draws per share. The other half is split again by article:
the scores are fitted on one part (single LM columns take their direction from its labelled rows; the stacked head
is trained on it) and the reference is the English human rows of the other part, so the reference, like the crawl's
humans, is text the scoring model never saw.
"""
from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from benchmarks.transfer.data import input_note
from benchmarks.transfer.run import LM_COLUMNS, Data, load, stacked, zero_shot
from filterkit.stage.mixture import machine_share

SHARES = (0.0, 0.05, 0.2, 0.5)
DRAWS = 20


def crawl_mixes(d: Data, score: np.ndarray, rng: np.random.Generator) -> list[dict]:
    """For every planted share, ``DRAWS`` crawls of the test half's scores: all its humans, machine rows drawn."""
    human, machine = score[~d.y], score[d.y]
    out = []
    for share in SHARES:
        k = min(int(round(share * human.size / (1 - share))), machine.size)
        crawls = [np.concatenate([human, rng.choice(machine, k, replace=False)]) for _ in range(DRAWS)]
        out.append({"share": share, "planted": k / (human.size + k), "crawls": crawls})
    return out


def main(argv: Sequence[str]) -> None:
    """Write ``mixture.json`` and ``mixture.md``."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.transfer mixture", description=__doc__.split("\n")[0])
    parser.add_argument("scored", type=Path)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args(argv)
    d = load(args.scored)
    english = d.source != "multilingual"
    half = (d.article >> np.uint64(20)) % np.uint64(2) == 0
    part = (d.article >> np.uint64(21)) % np.uint64(2) == 0  # the fitting and the reference articles
    fit, ref, test = d.take(english & half & part), d.take(english & half & ~part), d.take(english & ~half)
    rng = np.random.default_rng(0)
    scorers = {c: zero_shot(i) for i, c in enumerate(LM_COLUMNS) if c in ("lm.loglik", "lm.fastdetect", "lm.logrank")}
    scorers["stacked lm+style, C=0.01"] = stacked(lambda x: np.hstack([x.lm, x.style]), 0.01)
    results = {}
    for name, arm in scorers.items():
        scorer = arm(fit)
        reference, scores = scorer(ref)[~ref.y], scorer(test)
        rows = []
        for mix in crawl_mixes(test, scores, rng):
            est = [machine_share(c, reference, name, bootstrap=200) for c in mix["crawls"]]
            err = [e.share - mix["planted"] for e in est]
            covered = [e.low <= mix["planted"] <= e.high for e in est]
            rows.append({"planted": mix["planted"], "crawl_rows": int(mix["crawls"][0].size),
                         "mean_estimate": float(np.mean([e.share for e in est])), "mean_error": float(np.mean(err)),
                         "max_abs_error": float(np.max(np.abs(err))), "interval_covers": float(np.mean(covered))})
        results[name] = rows
    command = "python -m benchmarks.transfer mixture " + " ".join(argv)
    note = input_note(args.scored)
    (args.out / "mixture.json").write_text(json.dumps({"command": command, "input": note, "results": results},
                                                      indent=2) + "\n")
    lines = ["# How much of a crawl is machine-written: planted mixes", "", "```", command, "```", "", note, "",
             f"Reference: {int((~ref.y).sum())} English human rows of a quarter of the articles, scored out of "
             f"sample: each score is fitted on another quarter ({fit.y.size} rows, labelled). Crawls: the "
             f"{int((~test.y).sum())} human rows of the other half plus its machine rows (chat and base models) "
             f"drawn to the planted share, {DRAWS} draws per share. Estimate: "
             "`filterkit.stage.mixture.machine_share`.", "",
             "| score | planted | mean estimate | mean error | max abs error | 95% interval covers |",
             "|---|---:|---:|---:|---:|---:|"]
    for name, rows in results.items():
        lines += [f"| {name} | {r['planted']:.2f} | {r['mean_estimate']:.3f} | {r['mean_error']:+.3f} | "
                  f"{r['max_abs_error']:.3f} | {r['interval_covers']:.2f} |" for r in rows]
    (args.out / "mixture.md").write_text("\n".join(lines) + "\n", encoding="utf-8")

