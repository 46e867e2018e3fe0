"""The text head on raw hashed n-gram counts against sublinear TF-IDF weights, side by side on the same splits.

Run: python -m benchmarks.classifier idf [--out benchmarks/results]
Both shared labelled sets, each split of ``python -m benchmarks.classifier run`` (a domain held out; a generator held
out on the other article half), then train on one set and test on the other (base-model continuations against
chat-model answers, generators and prompts that training never saw). Writes ``classifier_idf.{json,md,png}``.
"""
from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks.classifier.run import evaluate, splits
from detectors.classifier.train import TrainConfig
from filterkit.testing.shared import shared_data_dir

SETS = ("open_models", "chat_models")
WEIGHTS = {"raw": False, "tfidf": True}


def compare(train: pa.Table, test: pa.Table) -> dict[str, dict]:
    """The text head's test metrics with each weighting, trained on the same rows."""
    return {name: evaluate(train, test, False, TrainConfig(folds=3, idf=idf))["text"] for name, idf in WEIGHTS.items()}


def run() -> list[dict]:
    """One row per (set, split, held out), with both weightings' metrics."""
    tables = {name: pq.read_table(shared_data_dir() / "detect" / f"{name}.parquet") for name in SETS}
    jobs = [(name, split, held, train, test) for name, table in tables.items()
            for split, held, train, test in splits(table)]
    jobs += [("open_models -> chat_models", "other_set", "chat_models", tables["open_models"], tables["chat_models"]),
             ("chat_models -> open_models", "other_set", "open_models", tables["chat_models"], tables["open_models"])]
    rows = []
    for i, (name, split, held, train, test) in enumerate(jobs, 1):
        rows.append({"set": name, "split": split, "held_out": held, **compare(train, test)})
        print(f"[{i}/{len(jobs)}] {name} {split} {held}: AUROC raw {rows[-1]['raw']['auroc']:.3f}, "
              f"TF-IDF {rows[-1]['tfidf']['auroc']:.3f}", flush=True)
    return rows


def render(rows: list[dict], command: str) -> str:
    """The comparison as a Markdown table."""
    lines = ["# Classifier text head: raw counts vs sublinear TF-IDF", "", f"Command: `{command}`", "",
             ("| set | split | held out | AUROC raw | AUROC TF-IDF | TPR@1% raw | TPR@1% TF-IDF | "
              "FPR at trained threshold raw | TF-IDF |"), "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        a, b = r["raw"], r["tfidf"]
        lines.append(f"| {r['set']} | {r['split']} | {r['held_out']} | {a['auroc']:.3f} | {b['auroc']:.3f} | "
                     f"{a['tpr_at_1pct_fpr_tuned_on_test_humans']:.3f} | "
                     f"{b['tpr_at_1pct_fpr_tuned_on_test_humans']:.3f} | {a['fpr_at_trained_threshold']:.3f} | "
                     f"{b['fpr_at_trained_threshold']:.3f} |")
    return "\n".join(lines) + "\n"


def plot(rows: list[dict], path: Path) -> None:
    """AUROC and TPR at 1% FPR per split, the two weightings side by side."""
    from matplotlib.figure import Figure

    labels = [r["set"] if r["split"] == "other_set" else f"{r['set']}: {r['held_out']} held out" for r in rows]
    fig = Figure(figsize=(11, 0.32 * len(rows) + 1.5))
    for k, (key, title) in enumerate([("auroc", "AUROC"), ("tpr_at_1pct_fpr_tuned_on_test_humans", "TPR at 1% FPR")]):
        ax = fig.add_subplot(1, 2, k + 1)
        ys = range(len(rows))
        for off, (name, colour) in zip((-0.2, 0.2), (("raw", "tab:grey"), ("tfidf", "tab:blue")), strict=True):
            ax.barh([y + off for y in ys], [r[name][key] for r in rows], height=0.4, color=colour,
                    label={"raw": "raw counts", "tfidf": "sublinear TF-IDF"}[name])
        ax.set_yticks(list(ys), labels if k == 0 else [""] * len(rows), fontsize=8)
        ax.invert_yaxis()
        ax.set_title(title)
        ax.set_xlim(0.5 if key == "auroc" else 0.0, 1.0)
        ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: Sequence[str]) -> None:
    """Run every split with both weightings; write JSON, Markdown and a plot."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.classifier idf", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="benchmarks/results")
    args = parser.parse_args(argv)
    rows = run()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    command = "python -m benchmarks.classifier idf" + (f" --out {args.out}" if args.out != "benchmarks/results" else "")
    (out / "classifier_idf.json").write_text(json.dumps({"command": command, "rows": rows}, indent=2) + "\n")
    (out / "classifier_idf.md").write_text(render(rows, command))
    plot(rows, out / "classifier_idf.png")

