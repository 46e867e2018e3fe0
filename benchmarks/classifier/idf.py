"""The text head on raw hashed n-gram counts against sublinear TF-IDF weights, side by side on the same splits.

Run: python -m benchmarks.classifier idf [--out benchmarks/results] [--render classifier_idf.json]
Both shared labelled sets, each split of ``python -m benchmarks.classifier run`` (a domain held out; a generator held
out on the other article half), then train on one set and test on the other (base-model continuations against
chat-model answers, generators and prompts that training never saw). Writes ``classifier_idf.{json,md,png}``;
``--render`` rewrites the .md and .png from a written JSON, still opening with the command that made the numbers.
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


def render(rows: list[dict], command: str, rendered_by: str | None = None) -> str:
    """The comparison as a Markdown table, saying which threshold each TPR column uses."""
    lines = ["# Classifier text head: raw counts vs sublinear TF-IDF", "", f"Command: `{command}`", ""]
    if rendered_by:
        lines += [f"Rendered again from its JSON by `{rendered_by}`.", ""]
    lines += ["Two thresholds. The oracle one is set at 1% FPR on the test humans themselves, which no user can do: "
              "it shows how well the scores rank, not what a user gets. The trained one is the model's own "
              "(`default_rules`): 1% FPR on its training rows' out-of-fold scores; on the test rows it gives the FPR "
              "and TPR a user gets.", "",
              "| set | split | held out | AUROC raw | AUROC TF-IDF | TPR at 1% FPR, threshold set on the test humans "
              "(an oracle threshold no user has): raw | TF-IDF | FPR at trained (out-of-fold) threshold: raw | TF-IDF "
              "| TPR at trained (out-of-fold) threshold: raw | TF-IDF |",
              "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        a, b = r["raw"], r["tfidf"]
        cells = [f"{m[k]:.3f}" for k in ("auroc", "tpr_at_1pct_fpr_tuned_on_test_humans", "fpr_at_trained_threshold",
                                          "tpr_at_trained_threshold") for m in (a, b)]
        lines.append(f"| {r['set']} | {r['split']} | {r['held_out']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot(rows: list[dict], path: Path) -> None:
    """AUROC and TPR at 1% FPR (threshold set on the test humans) per split, the two weightings side by side."""
    from matplotlib.figure import Figure

    labels = [r["set"] if r["split"] == "other_set" else f"{r['set']}: {r['held_out']} held out" for r in rows]
    fig = Figure(figsize=(11, 0.32 * len(rows) + 1.5))
    oracle = "TPR at 1% FPR, threshold set on\nthe test humans (an oracle threshold)"
    for k, (key, title) in enumerate([("auroc", "AUROC"), ("tpr_at_1pct_fpr_tuned_on_test_humans", oracle)]):
        ax = fig.add_subplot(1, 2, k + 1)
        ys = range(len(rows))
        for off, (name, colour) in zip((-0.2, 0.2), (("raw", "tab:grey"), ("tfidf", "tab:blue")), strict=True):
            ax.barh([y + off for y in ys], [r[name][key] for r in rows], height=0.4, color=colour,
                    label={"raw": "raw counts", "tfidf": "sublinear TF-IDF"}[name])
        ax.set_yticks(list(ys), labels if k == 0 else [""] * len(rows), fontsize=8)
        ax.invert_yaxis()
        ax.set_title(title, fontsize=10)
        ax.set_xlim(0.5 if key == "auroc" else 0.0, 1.0)
        ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: Sequence[str]) -> None:
    """Run every split with both weightings; write JSON, Markdown and a plot."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.classifier idf", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="benchmarks/results")
    parser.add_argument("--render", type=Path, help="rewrite the .md and .png from this classifier_idf.json")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.render:
        payload = json.loads(args.render.read_text(encoding="utf-8"))
        rows, command = payload["rows"], payload["command"]
    else:
        rows = run()
        command = "python -m benchmarks.classifier idf" + (f" --out {args.out}" if args.out != "benchmarks/results"
                                                          else "")
        (out / "classifier_idf.json").write_text(json.dumps({"command": command, "rows": rows}, indent=2) + "\n")
    rendered_by = f"python -m benchmarks.classifier idf --render {args.render}" if args.render else None
    (out / "classifier_idf.md").write_text(render(rows, command, rendered_by))
    plot(rows, out / "classifier_idf.png")
