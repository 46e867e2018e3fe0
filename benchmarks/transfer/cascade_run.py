"""The distilled cascade end to end: ``filterkit filter`` with the LM on every row vs routed by a crawl-trained router.

    python -m benchmarks.transfer cascade-run /work/cache/transfer_scored_hidden.parquet \
        --work /work/cache/cascade_run --out benchmarks/results [--held-out writing]

The held-out domain (``--held-out``, default ``writing``) is the crawl: its human rows, a sample of its
chat-model rows and some non-English human text, none of whose articles the detector trained on. The stacked
head (``train-detector --stack lm``) trains on the other domains' open and chat pairs, reading their LM scores
from the scored file. Then, side by side in one run, as a user would type them:

1. ``filterkit filter CRAWL --detectors classifier --param classifier.head=stacked``: the LM on every row;
2. ``filterkit train-router CRAWL --sample S --share 0.2`` (the LM labels S rows of the crawl), then
   ``filterkit filter CRAWL ... --param classifier.head=cascade --param classifier.router_dir=R``.

Each command's wall time is measured around the subprocess, so model loading counts. TPR and FPR are read from
what each run removed. Work directories are resumable by rerunning (finished steps are skipped).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from benchmarks.transfer.data import input_note
from detectors.classifier.detector import LM_SCORED_HEADS
from detectors.classifier.train import LM_FEATURES

TRAIN_COLUMNS = ("text", "label", "article")


def build(scored: Path, work: Path, held_out: str, machine: int, foreign: int, seed: int) -> tuple[Path, Path]:
    """Write the training side (with LM columns) and the crawl (text and labels only)."""
    t = pq.read_table(scored)
    lm = [c for c in LM_FEATURES if c in t.column_names]
    english = pc.not_equal(t["source"], "multilingual")
    train = t.filter(pc.and_(english, pc.not_equal(t["domain"], held_out)))
    held = t.filter(pc.and_(english, pc.equal(t["domain"], held_out)))
    rng = np.random.default_rng(seed)
    humans = np.flatnonzero(np.asarray(held["label"].to_pylist()) == "human")
    chat = np.flatnonzero(np.asarray(held["family"].to_pylist()) == "chat")
    rows = np.concatenate([humans, rng.choice(chat, min(machine, chat.size), replace=False)])
    crawl = held.take(pa.array(np.sort(rows)))
    other = t.filter(pc.equal(t["source"], "multilingual"))
    other = other.take(pa.array(np.sort(rng.choice(other.num_rows, min(foreign, other.num_rows), replace=False))))
    keep = ["tid", "text", "label", "generator", "domain", "language"]
    crawl = pa.concat_tables([crawl.select(keep), other.select(keep)])
    crawl = crawl.take(pa.array(rng.permutation(crawl.num_rows)))  # a crawl is not sorted by label
    work.mkdir(parents=True, exist_ok=True)
    pq.write_table(train.select([*TRAIN_COLUMNS, *lm]), work / "train.parquet")
    (work / "crawl").mkdir(exist_ok=True)
    pq.write_table(crawl, work / "crawl" / "crawl.parquet")
    return work / "train.parquet", work / "crawl"


def timed(step: str, args: list[str], work: Path, done: Path) -> float:
    """Run ``filterkit ARGS`` once (skipped if ``done`` exists from an earlier run) and return its wall seconds;
    the 1-minute load average at its start goes to ``STEP.load`` (the machine is shared)."""
    record = work / f"{step}.seconds"
    if done.exists() and record.exists():
        return float(record.read_text())
    (work / f"{step}.load").write_text(f"{os.getloadavg()[0]:.2f}\n")
    start = time.perf_counter()
    with open(work / f"{step}.log", "w") as log:
        subprocess.run([sys.executable, "-m", "cli", *args], check=True, stdout=log, stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - start
    record.write_text(f"{seconds:.2f}\n")
    return seconds


def outcome(out: Path) -> dict[str, float]:
    """TPR and FPR of what a run removed (English rows), its share removed of non-English human text, routing."""
    parts = []
    for where in ("kept", "removed"):
        if not (out / where).exists():  # a run that removed nothing writes no removed/
            continue
        table = pq.read_table(out / where)
        parts.append(table.append_column("removed", pa.array(np.full(table.num_rows, where == "removed"))))
    t = pa.concat_tables(parts, promote_options="permissive")
    removed = t["removed"].to_numpy()
    machine = np.asarray(t["label"].to_pylist()) == "machine"
    foreign = np.asarray(t["language"].to_pylist()) != "en"
    heads = np.asarray(t["classifier.head"].to_pylist())
    return {"rows": t.num_rows, "tpr": float(removed[machine].mean()),
            "fpr": float(removed[~machine & ~foreign].mean()),
            "foreign_removed": float(removed[foreign].mean()) if foreign.any() else float("nan"),
            # Rows the language gate or the length check left unjudged never reach the LM, in either run.
            "share_to_lm": float(np.isin(heads, LM_SCORED_HEADS).mean()),
            "lm_flags": int(removed.sum())}


def main(argv: Sequence[str]) -> None:
    """Write ``cascade_run.json`` and ``cascade_run.md``."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.transfer cascade-run",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("scored", type=Path)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--held-out", default="writing")
    parser.add_argument("--machine", type=int, default=300)
    parser.add_argument("--foreign", type=int, default=200)
    parser.add_argument("--sample", type=int, default=300)
    parser.add_argument("--share", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    command = "python -m benchmarks.transfer cascade-run " + " ".join(argv)
    train, crawl = build(args.scored, args.work, args.held_out, args.machine, args.foreign, args.seed)
    model, router = args.work / "model", args.work / "router"
    seconds = {"train": timed("train", ["train-detector", "--data", str(train), "-o", str(model), "--stack", "lm",
                                        "--group-column", "article"], args.work, model / "manifest.json")}
    classifier = ["--detectors", "classifier", "--classifier-model", str(model), "--rows-per-shard", "200",
                  "--overwrite"]
    full, cascade = args.work / "full", args.work / "cascade"
    seconds["full"] = timed("full", ["filter", str(crawl), "-o", str(full), *classifier,
                                     "--param", "classifier.head=stacked"], args.work, full / "report.json")
    seconds["router"] = timed("router", ["train-router", str(crawl), "--classifier-model", str(model),
                                         "-o", str(router),
                                         "--sample", str(args.sample), "--share", str(args.share),
                                         "--seed", str(args.seed)], args.work, router / "manifest.json")
    seconds["cascade"] = timed("cascade", ["filter", str(crawl), "-o", str(cascade), *classifier,
                                           "--param", "classifier.head=cascade",
                                           "--param", f"classifier.router_dir={router}"], args.work,
                               cascade / "report.json")
    router_speed = _router_speed(router, crawl)
    results = {"command": command, "input": input_note(args.scored), "machine": f"{platform.machine()}, 2 cores",
               "seconds": seconds,
               "full": outcome(full), "cascade": outcome(cascade), "router_docs_per_s": router_speed,
               "router": json.loads((router / "manifest.json").read_text())["router"],
               "load_before": {step: float((args.work / f"{step}.load").read_text())
                               for step in seconds if (args.work / f"{step}.load").exists()}}
    n = results["full"]["rows"]
    results["docs_per_s"] = {"full": n / seconds["full"], "cascade": n / (seconds["router"] + seconds["cascade"]),
                             "cascade_filter": n / seconds["cascade"]}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"cascade_run_{args.held_out}.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.out / f"cascade_run_{args.held_out}.md").write_text(render(results), encoding="utf-8")
    print(render(results))


def _router_speed(router: Path, crawl: Path) -> float:
    """Docs/s of the router alone (the cheap stage) on the crawl's texts, best of three."""
    from detectors.classifier.model import ClassifierModel
    from detectors.classifier.train import predict_machine

    model = ClassifierModel.load(router)
    texts = pq.read_table(crawl, columns=["text"])["text"].to_pylist()
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        predict_machine(model.heads["text"], model.heads["text_calibration"], texts)
        best = min(best, time.perf_counter() - start)
    return len(texts) / best


def render(r: dict) -> str:
    """The results as Markdown."""
    f, c, s = r["full"], r["cascade"], r["seconds"]
    lines = ["# The distilled cascade, end to end", "", "```", r["command"], "```", "",
             *([r["input"], ""] if "input" in r else []),
             f"Machine: {r['machine']}. Crawl: {f['rows']} rows of a domain the detector never trained on (its human "
             "rows, chat-model rows, non-English human text). Wall seconds per `filterkit` command, measured around "
             "the subprocess side by side in this one run (model loading included); 1-minute load average at "
             "each step's start: " + (", ".join(f"{k} {v:.2f}" for k, v in r.get("load_before", {}).items())
                                      or "not recorded") + ".", "",
             ("| run | seconds | docs/s | share sent to the LM | TPR | FPR (English humans) | "
              "non-English humans removed |"),
             "|---|---:|---:|---:|---:|---:|---:|",
             f"| LM + stacked head on every row the language gate passes | {s['full']:.0f} | "
             f"{r['docs_per_s']['full']:.1f} | "
             f"{f['share_to_lm']:.2f} | {f['tpr']:.3f} | {f['fpr']:.3f} | {f['foreign_removed']:.3f} |",
             f"| cascade: train-router ({r['router']['sample_rows']} rows labelled) + filter | "
             f"{s['router']:.0f} + {s['cascade']:.0f} | {r['docs_per_s']['cascade']:.1f} | {c['share_to_lm']:.2f} | "
             f"{c['tpr']:.3f} | {c['fpr']:.3f} | {c['foreign_removed']:.3f} |", "",
             f"The router alone (the cheap stage) scores {r['router_docs_per_s']:.0f} docs/s; the cascade's filter "
             f"step alone (what each further crawl of the same kind costs, the router trained once) ran at "
             f"{r['docs_per_s']['cascade_filter']:.1f} docs/s. In the router's sample the expensive detector removed "
             f"{r['router']['expensive_removed']} of {r['router']['sample_rows']} rows.",
             "", "Target (issue #15, item 3): at most 20% of rows to the LM, cheap stage at least 1,000 docs/s, "
             f"cascade TPR within 0.03 of the LM on every row: share {c['share_to_lm']:.2f}, cheap stage "
             f"{r['router_docs_per_s']:.0f} docs/s, TPR gap {f['tpr'] - c['tpr']:+.3f}."]
    return "\n".join(lines) + "\n"

