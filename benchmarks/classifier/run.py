"""Classifier benchmark: leave-one-domain-out and leave-one-generator-out AUROC / TPR at 1% FPR per head, speed.

Run: python -m benchmarks.classifier run [--lm-scores PATH] [--out benchmarks/results]
With --lm-scores (a Parquet of open_models.parquet scored by `filterkit score --detectors lm`, every column kept),
the stacked head and the cascade (text head everywhere, stacked head inside its uncertain band) are trained and
evaluated too, next to the LM detector's own ``lm.fastdetect`` on the same rows. Generators are held out on
article halves split by the opening words of each pair's human text (``benchmarks.articles.twin_articles``: re-cut
copies of one source article share them, and a machine row goes with its human twin), so no human text is seen in
training and again in testing.
"""
from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks.articles import twin_articles
from benchmarks.scored import read_scored
from detectors.classifier.detector import ClassifierDetector
from detectors.classifier.metrics import auroc, tpr_at_fpr
from detectors.classifier.train import LM_FEATURES, TrainConfig, train_detector
from filterkit.testing.shared import shared_data_dir

HEADS = ("text", "stacked", "cascade")


def load(lm_scores: str | None) -> pa.Table:
    """The labelled set, with the LM columns when given."""
    if lm_scores:
        return read_scored(lm_scores)
    return pq.read_table(shared_data_dir() / "detect" / "open_models.parquet")


def evaluate(train: pa.Table, test: pa.Table, stack: bool, cfg: TrainConfig | None = None) -> dict:
    """Train on ``train``, score ``test`` with each head, return metrics and the deployed threshold's FPR."""
    model = train_detector(train, cfg or TrainConfig(folds=3, stack="lm" if stack else None))
    out_dir = Path("/tmp/filterkit-bench-classifier")
    model.save(out_dir)
    y = np.array([v == "machine" for v in test["label"].to_pylist()])
    result = {}
    heads = {h: h for h in (HEADS if stack else HEADS[:1])}
    if stack:
        heads["lm.fastdetect alone"] = None
    for name, head in heads.items():
        if head is None:
            p = test["lm.fastdetect"].to_numpy(zero_copy_only=False).astype(float)
            deployed, sent = float("nan"), None
        else:
            det = ClassifierDetector(model_dir=str(out_dir), head=head)
            scored = det.score(test)
            p = scored["classifier.p_machine"].to_numpy()
            deployed = det.default_rules()[0].threshold
            sent = float(np.mean(np.array(scored["classifier.head"].to_pylist()) == "stacked"))
        tpr, _ = tpr_at_fpr(y, p, 0.01)
        result[name] = {"auroc": auroc(y, p), "tpr_at_1pct_fpr_tuned_on_test_humans": tpr,
                        "fpr_at_trained_threshold": float(np.mean(p[~y] >= deployed)),
                        "tpr_at_trained_threshold": float(np.mean(p[y] >= deployed)),
                        "share_scored_by_lm": sent, "train_rows": train.num_rows, "test_rows": test.num_rows}
    return result


def speed(table: pa.Table, stack: bool, model_dir: str, lm_rows: int = 96) -> dict:
    """Documents per second of each head on this machine; the cascade and the LM run their real LM here."""
    from filterkit.contract import registry

    out = {}
    sample = table.slice(0, 2000).select(["text", *[c for c in LM_FEATURES if c in table.column_names]])
    for head in (HEADS[:2] if stack else HEADS[:1]):
        det = ClassifierDetector(model_dir=model_dir, head=head)
        start = time.perf_counter()
        det.score(sample)
        out[f"{head}_docs_per_s (LM columns given)" if head == "stacked" else f"{head}_docs_per_s"] = round(
            sample.num_rows / (time.perf_counter() - start), 1)
    if stack:
        texts = pa.table({"text": table["text"].slice(0, lm_rows)})
        lm = registry.build("lm", {})
        lm.score(texts.slice(0, 8))  # load and warm up outside the clock
        start = time.perf_counter()
        lm.score(texts)
        out["lm_docs_per_s"] = round(lm_rows / (time.perf_counter() - start), 2)
        cascade = ClassifierDetector(model_dir=model_dir, head="cascade")
        cascade.score(texts.slice(0, 8))
        start = time.perf_counter()
        scored = cascade.score(texts)
        out["cascade_docs_per_s"] = round(lm_rows / (time.perf_counter() - start), 2)
        out["cascade_share_sent_to_lm"] = float(np.mean(np.array(scored["classifier.head"].to_pylist()) == "stacked"))
    return out


def splits(table: pa.Table) -> Iterator[tuple[str, str, pa.Table, pa.Table]]:
    """(split, held out, train, test): each domain held out, then each generator on the other article half."""
    domain = np.array(table["domain"].to_pylist())
    for d in sorted(set(domain)):
        yield "leave_one_domain_out", d, table.filter(pa.array(domain != d)), table.filter(pa.array(domain == d))
    article_half = twin_articles(table["text"].to_pylist(), table["label"].to_pylist(),
                                 table["pair_id"].to_pylist()) % 2
    pair_gen = np.array([p.split("/")[1] for p in table["pair_id"].to_pylist()])
    for g in sorted(set(pair_gen)):
        yield ("leave_one_generator_out", g, table.filter(pa.array((article_half == 0) & (pair_gen != g))),
               table.filter(pa.array((article_half == 1) & (pair_gen == g))))


def main(argv: Sequence[str]) -> None:
    """Both splits for each head, then speed; writes ``classifier.{json,md}``."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.classifier run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lm-scores")
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args(argv)
    table = load(args.lm_scores)
    stack = all(c in table.column_names for c in LM_FEATURES[:4])
    results: dict = {"stacked": stack, "leave_one_domain_out": {}, "leave_one_generator_out": {}, "speed": {}}
    for split, held, train, test in splits(table):
        results[split][held] = evaluate(train, test, stack)
        print(held, results[split][held], flush=True)
    results["speed"] = speed(table, stack, "/tmp/filterkit-bench-classifier")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "classifier.json").write_text(json.dumps(results, indent=2) + "\n")
    command = "python -m benchmarks.classifier run" + (f" --lm-scores {args.lm_scores}" if args.lm_scores else "")
    (out / "classifier.md").write_text(render(results, command))


def render(results: dict, command: str) -> str:
    """The results as a Markdown table."""
    lines = ["# Classifier benchmark", "", f"Command: `{command}`", "",
             "| split | held out | head | AUROC | TPR@1% FPR (tuned on test humans) | FPR / TPR at trained threshold |",
             "|---|---|---|---:|---:|---:|"]
    for split in ("leave_one_domain_out", "leave_one_generator_out"):
        for held, heads in results[split].items():
            for head, m in heads.items():
                sent = "" if m.get("share_scored_by_lm") in (None, 0, 1) else f" ({m['share_scored_by_lm']:.0%} to LM)"
                # A bare LM score has no trained threshold: its FPR/TPR there would be a made-up 0.
                at = ("n/a" if m.get("share_scored_by_lm") is None else
                      f"{m['fpr_at_trained_threshold']:.3f} / {m['tpr_at_trained_threshold']:.3f}")
                lines.append(f"| {split} | {held} | {head}{sent} | {m['auroc']:.3f} | "
                             f"{m['tpr_at_1pct_fpr_tuned_on_test_humans']:.3f} | {at} |")
    lines += ["", "Speed on 2 cores: " + ", ".join(f"{k} {v}" for k, v in results["speed"].items()), ""]
    return "\n".join(lines)

