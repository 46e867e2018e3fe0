"""Would a distilled cascade pay? A cheap head learns, on the crawl itself, which rows the LM rule would flag.

    python -m benchmarks.transfer cascade transfer_scored.parquet --out benchmarks/results

A simulation on the scored transfer set (English rows, whitespace-collapsed): the expensive decision is the LM
detector's default rule (``lm.fastdetect >= FASTDETECT_THRESHOLD``; 0.86 in the committed results). A random
sample of ``--labelled`` rows is "scored by the LM"; a cheap head (the classifier's hashed n-gram text head, or a
logistic regression on the seven style statistics) is fitted to predict the LM's decision on that sample; every
other row is ranked by the cheap head and the top ``share`` go to the LM, whose decision stands; the rest
are kept. TPR and FPR are measured on the rows outside the labelled sample, against the LM rule on every row.
No LM runs here (its scores are in the file); docs/s of each stage come from ``lm_speed.md`` and
``classifier.md``.
"""
from __future__ import annotations

import argparse
import itertools
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from benchmarks.transfer.data import input_note
from benchmarks.transfer.run import LM_COLUMNS, load
from detectors.classifier.train import text_vectorizer
from detectors.lm.detector import FASTDETECT_THRESHOLD

SHARES = (0.1, 0.2, 0.3, 0.5)
SEEDS = 5


def main(argv: Sequence[str]) -> None:
    """Write ``cascade.json`` and ``cascade.md``."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.transfer cascade", description=__doc__.split("\n")[0])
    parser.add_argument("scored", type=Path)
    parser.add_argument("--labelled", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args(argv)
    d = load(args.scored)
    d = d.take(d.source != "multilingual")
    fast = d.lm[:, LM_COLUMNS.index("lm.fastdetect")]
    lm_flag = np.nan_to_num(fast, nan=-np.inf) >= FASTDETECT_THRESHOLD
    heads = {"hashed n-grams": (text_vectorizer().transform(d.texts), 4.0),
             "style statistics": (StandardScaler().fit_transform(d.style), 1.0)}
    rows = []
    for (name, (features, C)), seed in itertools.product(heads.items(), range(SEEDS)):
        rng = np.random.default_rng(seed)
        labelled = np.zeros(len(d.y), bool)
        labelled[rng.choice(len(d.y), args.labelled, replace=False)] = True
        head = LogisticRegression(C=C, solver="liblinear", max_iter=2000, class_weight="balanced")
        head.fit(features[labelled], lm_flag[labelled])
        rest = ~labelled
        cheap = head.decision_function(features[rest])
        y, flag = d.y[rest], lm_flag[rest]
        full = {"tpr": float(flag[y].mean()), "fpr": float(flag[~y].mean())}
        for share in SHARES:
            routed = np.zeros(rest.sum(), bool)
            routed[np.argsort(-cheap)[: int(round(share * rest.sum()))]] = True
            cascade = flag & routed
            rows.append({"head": name, "seed": seed, "share": share, "lm_tpr": full["tpr"], "lm_fpr": full["fpr"],
                         "cascade_tpr": float(cascade[y].mean()), "cascade_fpr": float(cascade[~y].mean()),
                         "lm_flags_caught": float(cascade.sum() / max(1, flag.sum()))})
    command = "python -m benchmarks.transfer cascade " + " ".join(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    note = input_note(args.scored)
    (args.out / "cascade.json").write_text(json.dumps({"command": command, "input": note, "rows": rows}, indent=2)
                                           + "\n")
    lines = ["# A distilled cascade, simulated on the transfer set", "", "```", command, "```", "", note, "",
             f"{len(d.y)} English rows; {args.labelled} of them labelled by the LM rule (`lm.fastdetect >= "
             f"{FASTDETECT_THRESHOLD}`) to fit the cheap head, the rest ranked by it; {SEEDS} random samples. "
             "Mean over samples (min-max).", "",
             "| cheap head | share sent to the LM | TPR, LM on every row | TPR, cascade | FPR, LM on every row | "
             "FPR, cascade | LM flags the cascade keeps |", "|---|---:|---:|---:|---:|---:|---:|"]
    for name, share in itertools.product(heads, SHARES):
        part = [r for r in rows if r["share"] == share and r["head"] == name]

        def cell(key: str, part: list[dict] = part) -> str:
            v = np.array([r[key] for r in part])
            return f"{v.mean():.3f} ({v.min():.3f}-{v.max():.3f})"
        lines.append(f"| {name} | {share:.0%} | {cell('lm_tpr')} | {cell('cascade_tpr')} | {cell('lm_fpr')} | "
                     f"{cell('cascade_fpr')} | {cell('lm_flags_caught')} |")
    (args.out / "cascade.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))

