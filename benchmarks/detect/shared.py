"""The detector benchmark on the shared labelled set with every detector: the results entry of the detector suite.

The LM scores come from earlier ``filterkit score --detectors lm`` runs (reused, not recomputed; attacked copies
are scored afresh): over all 13,000 rows, or over the share of articles that ``python -m benchmarks.lm subset`` gathers.
The classifier (text and stacked heads) is trained on the calibration half of the benchmark's own article split
only, so every reported number comes from articles that neither the classifier nor any threshold has seen. The
combined filter is the default rules of the two machine-text detectors (``lm.fastdetect``,
``classifier.p_machine``) and of ``obfuscation`` (attack traces); exact and MinHash duplicates are scored and
reported, not filtered on, since the labelled set repeats its human articles on purpose.

    filterkit score ../shared/data/detect/open_models.parquet --detectors lm -o LM_SCORES
    python -m benchmarks.detect shared --lm-scores LM_SCORES [--attack-sample 150] [--out DIR]
    python -m benchmarks.detect shared --lm-scores om40_lm.parquet ...   # a file of scored rows works too
"""
from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks.detect.bench import BenchConfig, bench_detect
from benchmarks.perturb.attacks import ALL_ATTACKS
from benchmarks.scored import read_scored
from detectors.classifier.train import TrainConfig, opening_groups, train_detector
from filterkit.config import DetectorSpec, FilterConfig
from filterkit.contract import registry

log = logging.getLogger("detect.shared")


def filter_config(model_dir: Path) -> FilterConfig:
    """The combined filter: the machine-text detectors and ``obfuscation``, with their default rules."""
    specs = (DetectorSpec("lm"), DetectorSpec("classifier", {"model_dir": str(model_dir)}), DetectorSpec("obfuscation"))
    rules = tuple(r for s in specs for r in registry.build(s.name, s.params).default_rules())
    return FilterConfig(detectors=specs, rules=rules)


def main(argv: Sequence[str]) -> None:
    """Train on the calibration half, then run the detector benchmark with attacks."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.detect shared", description=__doc__.split("\n")[0])
    parser.add_argument("--lm-scores", type=Path, required=True)
    parser.add_argument("--attack-sample", type=int, default=150)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/bench_detect_shared"))
    parser.add_argument("--work", type=Path, default=Path("/tmp/filterkit-bench-detect"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    bench = BenchConfig(attacks=ALL_ATTACKS, attack_sample=args.attack_sample)
    table = read_scored(args.lm_scores)
    calib = (opening_groups(table["text"].to_pylist(), 12) % 1000) < bench.calibration_share * 1000
    train = table.filter(pa.array(np.asarray(calib, dtype=bool)))
    log.info("training the classifier on %d calibration rows", train.num_rows)
    model_dir = args.work / "classifier"
    train_detector(train, TrainConfig(stack="lm")).save(model_dir)
    config = filter_config(model_dir)
    scored_only = (DetectorSpec("length"), DetectorSpec("exact"), DetectorSpec("minhash"))
    config = config.replace(detectors=config.detectors + scored_only, reuse_scores=True)
    args.work.mkdir(parents=True, exist_ok=True)
    data = args.work / "labelled.parquet"
    pq.write_table(table, data)
    bench_detect([str(data)], config, bench, args.out)
    commands = [f"python -m benchmarks.detect shared --lm-scores {args.lm_scores} --attack-sample "
                f"{args.attack_sample} --out {args.out}"]
    md = args.out / "metrics.md"
    md.write_text("```\n" + "\n".join(commands) + "\n```\n\n" + md.read_text())

