"""Case swaps at several strengths against the shared-set filter: where the case repair and the trace rule stop.

The case repair acts on rows where more than 2% of the words change case inside; the ``obfuscation`` rule fires
above 6% of distinct words. A weaker attack than the benchmark's (5% of letters) can pass under the rule: this
measures what it then costs the scores. Run after ``python -m benchmarks.detect shared``, whose classifier, labelled
file and thresholds it reuses:

    python -m benchmarks.detect case-rate --work /work/cache/bench-detect \
        --metrics benchmarks/results/bench_detect_shared/metrics.json
"""
from __future__ import annotations

import argparse
import json
import logging
import random
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks.detect.bench import ROW, BenchConfig, score_table
from benchmarks.detect.shared import filter_config
from benchmarks.perturb.attacks import upper_lower
from detectors.classifier.train import opening_groups
from filterkit.stage.rules import FILTER_DECISION

log = logging.getLogger("detect.case_rate")
SCORES = ("classifier.p_machine", "lm.fastdetect")


def main(argv: Sequence[str]) -> None:
    """Attack one sample of held-out machine rows at each rate; write a table of what the filter removes."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.detect case-rate", description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--metrics", type=Path, required=True)
    parser.add_argument("--rates", default="0,0.005,0.01,0.02,0.05")
    parser.add_argument("--sample", type=int, default=100)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/bench_detect_case_rate.md"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    bench = BenchConfig()
    metrics = json.loads(args.metrics.read_text())
    thresholds = {c: metrics["scores"][c]["thresholds"]["0.01"] for c in SCORES}
    table = pq.read_table(args.work / "labelled.parquet")
    test = (opening_groups(table["text"].to_pylist(), 12) % 1000) >= bench.calibration_share * 1000
    machine = np.array([v == bench.positive for v in table[bench.label_column].to_pylist()])
    rng = np.random.default_rng(bench.seed)
    idx = np.sort(rng.choice(np.flatnonzero(test & machine), args.sample, replace=False))
    sample = table.take(pa.array(idx)).select(["id", "text", "label"])
    sample = sample.append_column(ROW, pa.array(np.arange(sample.num_rows)))
    config = filter_config(args.work / "classifier")
    texts = sample["text"].to_pylist()
    rows = []
    for rate in (float(r) for r in args.rates.split(",")):
        attacked = [upper_lower(t, random.Random(f"{bench.seed}:{i}"), rate) for i, t in enumerate(texts)]
        s = score_table(sample.set_column(1, "text", pa.array(attacked, pa.string())), config, args.work,
                        f"case-{rate:g}")
        removed = [d == "remove" for d in s[FILTER_DECISION].to_pylist()]
        reasons = Counter(r for r, gone in zip(s["filter_reason"].to_pylist(), removed, strict=True) if gone)
        tpr = {c: float(np.mean(np.nan_to_num(s[c].to_numpy(zero_copy_only=False), nan=-np.inf) >= thresholds[c]))
               for c in SCORES}
        rows.append((rate, float(np.median(s["obfuscation.mixed_case"].to_numpy())), float(np.mean(removed)), tpr,
                     dict(reasons)))
        log.info("rate %g done", rate)
    command = (f"python -m benchmarks.detect case-rate --work {args.work} --metrics {args.metrics} "
               f"--rates {args.rates} --sample {args.sample}")
    about = (f"{args.sample} machine rows of the test half of `bench_detect_shared`'s article split; the same rows "
             "at every rate. Defence on; the filter is that run's (classifier, `lm.fastdetect` and `obfuscation` "
             "default rules); score TPRs at that run's clean 1%-FPR thresholds.")
    header = ("| letters swapped | distinct mixed-case words (median) | filter removes | `classifier.p_machine` TPR | "
              "`lm.fastdetect` TPR | removed by rule |")
    lines = ["# Case swaps at several strengths", "", "```", command, "```", "", about, "", header,
             "|---:|---:|---:|---:|---:|---|"]
    for rate, mixed, removed, tpr, reasons in rows:
        lines.append(f"| {rate:.1%} | {mixed:.3f} | {removed:.2f} | {tpr[SCORES[0]]:.2f} | {tpr[SCORES[1]]:.2f} | "
                     + ", ".join(f"{k} {v}" for k, v in sorted(reasons.items())) + " |")
    args.out.write_text("\n".join(lines) + "\n")

