"""A router for the classifier's cascade, distilled on the crawl itself.

The expensive detector (the LM and the stacked head) scores a random sample of the crawl; a hashed n-gram text
head learns to predict where that detector's rule fires. In the cascade the router scores every row, and only
the rows it ranks in the top ``share`` go on to the expensive detector, so the LM runs on that share alone.
The router learns the crawl's own domains and generators, which no labelled training set holds.
"""
from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np
import pyarrow as pa

from detectors.classifier.detector import ClassifierDetector
from detectors.classifier.model import ROUTER_KEY, ClassifierModel, routing_cut
from detectors.classifier.train import TrainConfig, train_detector
from filterkit.contract.detector import TEXT
from filterkit.contract.normalize import defend_texts
from filterkit.io.readers import Rows, plan_shards, read_shard
from filterkit.io.sources import discover

log = logging.getLogger(__name__)
__all__ = ["ROUTER_KEY", "routing_cut", "sample_texts", "train_router"]


def sample_texts(inputs: list[str], size: int, seed: int = 0, text_column: str = TEXT) -> list[str]:
    """A uniform random sample of ``size`` non-empty texts of the inputs, in one streaming pass (reservoir)."""
    rng = np.random.default_rng(seed)
    reservoir: list[str] = []
    seen = 0
    shards, failures = plan_shards(discover(inputs), rows_per_shard=1 << 20)
    for failure in failures:
        log.warning("router sample skips %s: %s", failure.source, failure.error)
    for shard in shards:
        for item in read_shard(shard, batch_size=8192, text_column=text_column):
            if not isinstance(item, Rows) or text_column not in item.batch.column_names:
                continue
            for text in item.batch[text_column].to_pylist():
                if not isinstance(text, str) or not text.strip():
                    continue
                seen += 1
                if len(reservoir) < size:
                    reservoir.append(text)
                elif (j := int(rng.integers(seen))) < size:
                    reservoir[j] = text
    return reservoir


def train_router(sample: pa.Table, expensive: ClassifierDetector, share: float = 0.2, C: float = 4.0,
                 folds: int = 5, progress: Callable[[int, int], None] | None = None) -> ClassifierModel:
    """Score ``sample`` (a ``text`` column, and LM columns if already scored) with ``expensive``'s stacked head,
    then fit a text head to where its rule fires."""
    if not 0.0 < share <= 1.0:
        raise ValueError(f"router: share must be in (0, 1], got {share}")
    if expensive.resolved_head != "stacked":
        raise ValueError("router: the expensive detector must score with its stacked head (train it with --stack lm)")
    texts = defend_texts(sample[TEXT])
    sample = sample.set_column(sample.column_names.index(TEXT), TEXT, pa.array(texts, pa.string()))
    rule = expensive.default_rules()[0]
    parts = []
    for start in range(0, len(texts), 256):
        parts.append(expensive.score(sample.slice(start, 256)))
        if progress:
            progress(min(start + 256, len(texts)), len(texts))
    scored = pa.concat_tables(parts)
    flag = rule.fires(scored)
    if min(flag.sum(), (~flag).sum()) < folds:
        raise ValueError(f"router: the expensive detector removes {int(flag.sum())} of {len(texts)} sample rows; "
                         f"a router needs at least {folds} removed and {folds} kept: take a larger sample")
    table = pa.table({TEXT: texts, "label": np.where(flag, "machine", "human").tolist()})
    model = train_detector(table, TrainConfig(C=C, folds=folds))
    model.manifest[ROUTER_KEY] = {
        "share": share, "sample_rows": len(texts), "expensive_removed": int(flag.sum()),
        "expensive_model": str(expensive.model_dir), "expensive_rule": f"{rule.column} {rule.op} {rule.threshold}"}
    log.info("router: the expensive detector removes %d of %d sample rows; out-of-fold AUROC of the router %.3f",
             int(flag.sum()), len(texts), model.manifest["metrics_out_of_fold"]["text"]["auroc"])
    return model

