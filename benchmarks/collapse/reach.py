"""What the shipped classifier can catch at the document lengths of the collapse crawls.

    python -m benchmarks.collapse reach -o benchmarks/results/collapse_shipped_reach.md

Machine text: the ``unseen`` pool of the realistic crawls (base-model and ImBD text of the articles the shipped
classifier never trained on). Human text: WikiText-2 documents of the realistic configs' test articles (never in a
crawl, never in its training). Each is cut to its first 40, 60, 100 and 200 words and scored by
``DetectorSpec("classifier")`` with no model path (the default model, or another packaged model of ``--models``)
through ``RowScorer``, as ``filterkit filter`` scores a crawl; TPR and human FPR at its out-of-the-box threshold, and
AUROC, per length; and calibrated, as ``filterkit calibrate`` would: the threshold at 1% FPR on the trusted human
texts of the realistic configs (WikiText-2 documents of other articles than the test ones, cut alike), TPR and FPR
on the test texts. Texts shorter than a cut are left out of that cut's row, so every row compares texts of one
length; every model scores the same texts.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

from benchmarks.collapse.data.foreign import unseen_pool
from benchmarks.collapse.data.human import load_text_split
from detectors.classifier.detector import packaged_model_params
from filterkit import DetectorSpec, FilterConfig
from filterkit.adapters.row_scorer import RowScorer
from filterkit.stage.rules import threshold_for_fpr
from filterkit.testing.shared import shared_data_dir

CUTS = (40, 60, 100, 200)
FPR = 0.01


def _cut(texts: list[str], words: int) -> list[str]:
    return [" ".join(t.split()[:words]) for t in texts if len(t.split()) >= words]


def measure(machine_n: int, cuts: tuple[int, ...], model: str = "default") -> dict[str, Any]:
    """Per cut: rows, TPR and FPR at the packaged ``model``'s default threshold and calibrated on the trusted
    humans, AUROC."""
    data = shared_data_dir()
    split = load_text_split(data, max(cuts), 0.1, 0.1, "article", ("human/wikitext2.parquet",))
    humans, trusted = [str(t) for t in split.test], [str(t) for t in split.trusted]
    machine = [str(t) for t in unseen_pool(data, 10_000, np.array([], dtype=object))[:machine_n]]
    scorer = RowScorer(FilterConfig(detectors=(DetectorSpec("classifier", packaged_model_params(model)),)))
    out: dict[str, Any] = {}
    for words in cuts:
        h, m, c = _cut(humans, words), _cut(machine, words), _cut(trusted, words)
        batch = scorer.score(h + m + c)
        scores = np.array([np.nan if v is None else v for v in batch.scores["classifier.p_machine"]], dtype=float)
        p, cal = scores[:len(h) + len(m)], scores[len(h) + len(m):]
        removed = np.array([d == "remove" for d in batch.decision])[:len(p)]
        y = np.r_[np.zeros(len(h), bool), np.ones(len(m), bool)]
        judged = ~np.isnan(p)
        t = threshold_for_fpr(cal[~np.isnan(cal)], FPR, ">=")
        flagged = p >= t  # NaN (not judged) is never flagged, as a rule keeps it
        out[str(words)] = {"human": len(h), "machine": len(m), "tpr": float(removed[y].mean()),
                           "fpr": float(removed[~y].mean()), "unjudged": float(1 - judged.mean()),
                           "auroc": float(roc_auc_score(y[judged], p[judged])),
                           "calibrated": {"trusted": int((~np.isnan(cal)).sum()), "threshold": float(t),
                                          "tpr": float(flagged[y].mean()), "fpr": float(flagged[~y].mean())}}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.collapse reach", description=__doc__.split("\n")[0])
    parser.add_argument("--machine", type=int, default=2000, help="machine texts (the first of the pool)")
    parser.add_argument("-o", "--out", type=Path, required=True, help="markdown file (JSON beside it)")
    parser.add_argument("--models", default="default", help="packaged classifier models, comma-separated")
    args = parser.parse_args(argv)
    load = [round(x, 2) for x in os.getloadavg()]
    result = {m: measure(args.machine, CUTS, m) for m in args.models.split(",")}
    command = ("python -m benchmarks.collapse reach " + " ".join(sys.argv[1:] if argv is None else argv)).strip()
    args.out.with_suffix(".json").write_text(json.dumps({"command": command, "models": result}, indent=1) + "\n")
    lines = ["# The shipped classifier by document length", "", "```", command, "```", "",
             __doc__.split("\n\n", 2)[2].strip(), "",
             f"Load average (1, 5, 15 min) before {load}, after {[round(x, 2) for x in os.getloadavg()]}.", "",
             "| model | words | human / machine texts | TPR at the default threshold | human FPR | AUROC "
             "| not judged | calibrated on trusted texts: TPR / human FPR |",
             "|---|---:|---|---|---|---|---|---|"]
    for model, cuts in result.items():
        lines += [f"| {model} | {words} | {r['human']} / {r['machine']} | {r['tpr']:.3f} | {r['fpr']:.3f} | "
                  f"{r['auroc']:.3f} | {r['unjudged']:.3f} | {r['calibrated']['tpr']:.3f} / "
                  f"{r['calibrated']['fpr']:.3f} ({r['calibrated']['trusted']} trusted) |" for words, r in cuts.items()]
    text = "\n".join(lines) + "\n"
    args.out.write_text(text)
    sys.stdout.write(text)
    return 0

