"""Why the practitioner's classifier removes humans on a realistic crawl: how it folds its cross-validation.

    python -m benchmarks.collapse folds RUN_DIR --seeds 2 -o benchmarks/results/collapse_practitioner_folds.md

On a run's crawls (its ``_state``), the practitioner's classifier is fitted at each generation as
``practitioner.fit_classifier`` fits it, once per ``practitioner_folds`` setting: trusted human text against
samples of the learner (raw or TF-IDF n-grams, whichever has the higher out-of-fold TPR, its threshold at the run's
``max_fpr`` of the out-of-fold trusted scores), cross-validated by opening words (every committed run) or by
trusted article. Each is scored on the new rows of the ``--arm`` lineage's crawl of that
generation: realised human FPR and TPR at its own threshold. The run does not keep the practitioner's own draws,
so the samples are every document the seed's lineages wrote into their crawls (on the SmolLM2 run 915-920, where the
run drew 1,243), less those in the crawl scored: the same models' text, not the same draws.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from benchmarks.collapse.experiment.checkpoint import lineage_name, read_items, read_rows
from benchmarks.collapse.experiment.config import CollapseConfig
from benchmarks.collapse.experiment.practitioner import FitContext, fit_classifier
from benchmarks.collapse.experiment.setup import text_split
from filterkit.contract import registry

FOLDS = ("opening", "article")


def measure(run: Path, seeds: int, arm: str) -> list[dict[str, Any]]:
    """One row per (seed, generation, folds): out-of-fold TPR, threshold, realised FPR and TPR on the crawl."""
    state = run / "_state"
    config = CollapseConfig.from_dict(json.loads((state / "config.json").read_text(encoding="utf-8")))
    split = text_split(config)
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for seed in range(seeds):
            lineage = state / f"seed{seed}" / lineage_name(arm)
            files = sorted((state / f"seed{seed}").glob("*/g[0-9][0-9][0-9]/samples.parquet"))
            written = {str(s) for f in files for s in read_items(f) if str(s).strip()}
            # Generations, seeds and a few output settings are not in the saved config: the lineage says how many.
            for t in sorted(int(g.name[1:]) for g in lineage.glob("g[0-9][0-9][0-9]")):
                crawl = read_rows(lineage / f"g{t:03d}" / "pool.parquet")
                new = np.flatnonzero(crawl.new)
                texts, synthetic = [str(x) for x in crawl.items[new]], crawl.synthetic[new]
                own = np.array(sorted(written - set(texts)), dtype=object)
                for folds in FOLDS:
                    ctx = FitContext(t, Path(work) / f"{seed}-{t}-{folds}", split.trusted, lambda n, own=own: own[:n],
                                     [], config.max_fpr, split.trusted_articles if folds == "article" else None)
                    detector = registry.build("classifier", fit_classifier(ctx, {}))
                    detector.setup()
                    p = detector.score(pa.table({"text": texts}))["classifier.p_machine"].to_numpy(zero_copy_only=False)
                    threshold = detector.default_rules()[0].threshold
                    removed = np.asarray(p, float) >= threshold
                    rows.append({"seed": seed, "generation": t, "folds": folds, "own_samples": len(own),
                                 "oof_tpr": ctx.notes["fit_classifier_oof_tpr"],
                                 "tfidf": bool(ctx.notes["fit_classifier_tfidf"]), "threshold": float(threshold),
                                 "fpr": float(removed[~synthetic].mean()), "tpr": float(removed[synthetic].mean())})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.collapse folds", description=__doc__.split("\n")[0])
    parser.add_argument("run", type=Path, help="a run's output directory, with its _state")
    parser.add_argument("--seeds", type=int, default=3, help="the first seeds of the run")
    parser.add_argument("--arm", default="none", help="whose crawls to score (every arm's crawl is the same kind)")
    parser.add_argument("-o", "--out", type=Path, required=True, help="markdown file (JSON beside it)")
    args = parser.parse_args(argv)
    rows = measure(args.run, args.seeds, args.arm)
    command = ("python -m benchmarks.collapse folds " + " ".join(sys.argv[1:] if argv is None else argv)).strip()
    args.out.with_suffix(".json").write_text(json.dumps({"command": command, "rows": rows}, indent=1) + "\n")
    lines = ["# The practitioner's classifier, folded by opening words or by trusted article", "", "```", command,
             "```", "", __doc__.split("\n\n", 2)[2].strip(), "",
             "| seed | generation | folds | out-of-fold TPR | features | threshold | crawl human FPR | crawl TPR |",
             "|---:|---:|---|---:|---|---:|---:|---:|"]
    lines += [f"| {r['seed']} | {r['generation']} | {r['folds']} | {r['oof_tpr']:.3f} | "
              f"{'TF-IDF' if r['tfidf'] else 'raw'} | {r['threshold']:.3f} | {r['fpr']:.3f} | {r['tpr']:.3f} |"
              for r in rows]
    lines += ["", "| folds | mean out-of-fold TPR | mean crawl human FPR (max) | mean crawl TPR |",
              "|---|---:|---:|---:|"]
    for folds in FOLDS:
        mine = [r for r in rows if r["folds"] == folds]
        lines.append(f"| {folds} | {np.mean([r['oof_tpr'] for r in mine]):.3f} | "
                     f"{np.mean([r['fpr'] for r in mine]):.3f} ({max(r['fpr'] for r in mine):.3f}) | "
                     f"{np.mean([r['tpr'] for r in mine]):.3f} |")
    text = "\n".join(lines) + "\n"
    args.out.write_text(text)
    sys.stdout.write(text)
    return 0
