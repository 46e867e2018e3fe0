"""Classifier benchmark: leave-one-domain-out and leave-one-generator-out AUROC / TPR at 1% FPR per head, speed.

Run: python -m benchmarks.classifier.run [--lm-scores PATH] [--out benchmarks/results]
With --lm-scores (a Parquet of open_models.parquet scored by `filterkit score --detectors lm`, every column kept),
the stacked head is trained and evaluated too.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from detectors.classifier import ClassifierDetector
from filterkit.metrics import auroc, tpr_at_fpr
from filterkit.shared import shared_data_dir
from filterkit.train import LM_FEATURES, TrainConfig, train_detector


def load(lm_scores: str | None) -> pa.Table:
    """The labelled set, with its article key, and the LM columns when given."""
    if lm_scores:
        files = sorted(str(p) for p in Path(lm_scores).rglob("*.parquet")) if Path(lm_scores).is_dir() else [lm_scores]
        table = ds.dataset(files).to_table()
    else:
        table = pq.read_table(shared_data_dir() / "detect" / "open_models.parquet")
    parts = pc.split_pattern(table["pair_id"], "/")
    article = pc.binary_join_element_wise(pc.list_element(parts, 0), pc.list_element(parts, 2), "/")
    return table.append_column("article", article)


def evaluate(train: pa.Table, test: pa.Table, stack: bool) -> dict:
    """Train on ``train``, score ``test`` with each head, return metrics and the deployed threshold's FPR."""
    model = train_detector(train, TrainConfig(folds=3, stack="lm" if stack else None))
    out_dir = Path("/tmp/filterkit-bench-classifier")
    model.save(out_dir)
    y = np.array([v == "machine" for v in test["label"].to_pylist()])
    result = {}
    for head in (["text", "stacked"] if stack else ["text"]):
        det = ClassifierDetector(model_dir=str(out_dir), head=head)
        p = det.score(test)["classifier.p_machine"].to_numpy()
        tpr, _ = tpr_at_fpr(y, p, 0.01)
        deployed = det.default_rules()[0].threshold
        result[head] = {"auroc": auroc(y, p), "tpr_at_1pct_fpr_tuned_on_test_humans": tpr,
                        "fpr_at_trained_threshold": float(np.mean(p[~y] >= deployed)),
                        "tpr_at_trained_threshold": float(np.mean(p[y] >= deployed)),
                        "train_rows": train.num_rows, "test_rows": test.num_rows}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lm-scores")
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args()
    table = load(args.lm_scores)
    stack = all(c in table.column_names for c in LM_FEATURES[:4])
    results: dict = {"stacked": stack, "leave_one_domain_out": {}, "leave_one_generator_out": {}, "speed": {}}
    domain = np.array(table["domain"].to_pylist())
    for d in sorted(set(domain)):
        results["leave_one_domain_out"][d] = evaluate(table.filter(pa.array(domain != d)),
                                                      table.filter(pa.array(domain == d)), stack)
        print(d, results["leave_one_domain_out"][d], flush=True)
    # Generators: articles split in halves, so no human text is seen in training and again in testing.
    article_half = np.array([hashlib.blake2b(a.encode(), digest_size=1).digest()[0] % 2
                             for a in table["article"].to_pylist()])
    pair_gen = np.array([p.split("/")[1] for p in table["pair_id"].to_pylist()])
    for g in sorted(set(pair_gen)):
        train = table.filter(pa.array((article_half == 0) & (pair_gen != g)))
        test = table.filter(pa.array((article_half == 1) & (pair_gen == g)))
        results["leave_one_generator_out"][g] = evaluate(train, test, stack)
        print(g, results["leave_one_generator_out"][g], flush=True)
    sample = table.slice(0, 2000)
    for head in (["text", "stacked"] if stack else ["text"]):
        det = ClassifierDetector(model_dir="/tmp/filterkit-bench-classifier", head=head)
        start = time.perf_counter()
        det.score(sample)
        results["speed"][f"{head}_docs_per_s"] = round(sample.num_rows / (time.perf_counter() - start), 1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "classifier.json").write_text(json.dumps(results, indent=2) + "\n")
    lines = ["# Classifier benchmark", "", "Command: `python -m benchmarks.classifier.run"
             + (f" --lm-scores {args.lm_scores}" if args.lm_scores else "") + "`", "",
             "| split | held out | head | AUROC | TPR@1% FPR (tuned on test humans) | FPR / TPR at trained threshold |",
             "|---|---|---|---:|---:|---:|"]
    for split in ("leave_one_domain_out", "leave_one_generator_out"):
        for held, heads in results[split].items():
            for head, m in heads.items():
                lines.append(f"| {split} | {held} | {head} | {m['auroc']:.3f} | "
                             f"{m['tpr_at_1pct_fpr_tuned_on_test_humans']:.3f} | "
                             f"{m['fpr_at_trained_threshold']:.3f} / {m['tpr_at_trained_threshold']:.3f} |")
    lines += ["", "Speed on 2 shared cores (stacked excludes the LM's own time): "
              + ", ".join(f"{k} {v}" for k, v in results["speed"].items()), ""]
    (out / "classifier.md").write_text("\n".join(lines))


if __name__ == "__main__":
    main()
