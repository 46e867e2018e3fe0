"""Detectors on the chains: scores per depth, and TPR at a threshold set on held-out human text at ``max_fpr``.

The LM detector and the classifier are thresholded on held-out human texts of the same source (other articles,
cut the same way), not on the chain starts: the starts are depth 0, where the realised rate is a check of that
threshold. The replay detector keeps its own default rule (``max_jaccard >= threshold``) against an index of each
temperature's depth-1 outputs, the generator's own first outputs. Scores are cached under ``WORK/scores`` by a
hash of the detector, its parameters and the texts, so a resumed run scores nothing twice.
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks.chains.config import ChainsConfig
from benchmarks.chains.starts import OPENING_WORDS
from benchmarks.chains.state import read_table, write_table
from benchmarks.collapse.experiment.practitioner import DEFAULT_CALIBRATION
from detectors.classifier.metrics import auroc
from filterkit.contract import registry
from filterkit.contract.normalize import defend_texts
from filterkit.stage.rules import threshold_for_fpr
from filterkit.testing.shared import shared_data_dir

log = logging.getLogger(__name__)

COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "lm": (DEFAULT_CALIBRATION["lm"], ("lm.perplexity", "<=")),
    "classifier": (DEFAULT_CALIBRATION["classifier"],),
}
"""Thresholded columns and the direction that means machine (the shipped default first)."""


def score_texts(name: str, params: dict[str, Any], texts: list[str], cache: Path,
                detector: Any = None) -> pa.Table:
    """The detector's score columns for ``texts`` (defended as the pipeline defends them), cached by content."""
    key = hashlib.sha256(json.dumps([name, params, texts], sort_keys=True, default=str).encode()).hexdigest()[:24]
    path = cache / name / f"{key}.parquet"
    saved = read_table(path)
    if saved is not None:
        return saved
    detector = detector or registry.build(name, params)
    batch = pa.table({"text": pa.array(defend_texts(pa.array(texts, pa.string())))})
    table = detector.score(batch)
    keep = [c for c in table.column_names if pa.types.is_floating(table[c].type) or c.endswith("match_id")]
    table = table.select(keep)
    write_table(path, table)
    return table


def _flag(values: np.ndarray, op: str, threshold: float) -> np.ndarray:
    with np.errstate(invalid="ignore"):  # NaN (the detector abstained) never flags
        return values >= threshold if op == ">=" else values <= threshold


def _column(table: pa.Table, column: str) -> np.ndarray:
    return table[column].to_numpy(zero_copy_only=False).astype(float)


def thresholded(name: str, params: dict[str, Any], holdout: list[str], by_depth: dict[float, dict[int, list[str]]],
                max_fpr: float, cache: Path) -> dict[str, Any]:
    """For the LM detector or the classifier: thresholds on ``holdout`` and, per temperature and depth, mean
    score, TPR at the threshold and AUROC against the held-out humans."""
    detector = registry.build(name, params)
    detector.setup()
    human = score_texts(name, params, holdout, cache, detector)
    out: dict[str, Any] = {"params": params, "columns": {}}
    for column, op in COLUMNS[name]:
        h = _column(human, column)
        t = threshold_for_fpr(h, max_fpr, op)
        sign = 1.0 if op == ">=" else -1.0
        col: dict[str, Any] = {"op": op, "threshold": t, "holdout_rows": int(np.isfinite(h).sum()),
                               "holdout_fpr": float(_flag(h, op, t).mean()), "by_temperature": {}}
        for temp, depths in by_depth.items():
            rows = []
            for depth, texts in depths.items():
                s = _column(score_texts(name, params, texts, cache, detector), column)
                y = np.r_[np.ones(s.size, bool), np.zeros(h.size, bool)]
                rows.append({"depth": depth, "mean": _nanmean(s), "tpr": float(_flag(s, op, t).mean()),
                             "auroc": auroc(y, sign * np.r_[s, h]), "nan": int(np.isnan(s).sum())})
            col["by_temperature"][f"{temp:g}"] = rows
        out["columns"][column] = col
    return out


def replay(holdout: list[str], by_depth: dict[float, dict[int, list[str]]], depth1: dict[float, list[str]],
           cache: Path, work: Path) -> dict[str, Any]:
    """Per temperature, an index of the depth-1 outputs; per depth, the share of texts its default rule flags, the
    share matched to the chain's own depth-1 output, and the mean ``max_jaccard``; the rate on held-out humans."""
    from detectors.duplicates import index as minhash_index

    out: dict[str, Any] = {"by_temperature": {}}
    for temp, depths in by_depth.items():
        keep = [c for c, t in enumerate(depth1[temp]) if t.strip()]
        index = work / "replay" / f"t{temp:g}"
        shutil.rmtree(index, ignore_errors=True)  # cheap to rebuild, and the cache key holds its texts
        minhash_index.build_from_texts([depth1[temp][c] for c in keep], [f"c{c}" for c in keep], index)
        # The index's path alone would not change when its texts do: key the cache by them too.
        params = {"index": str(index), "indexed": hashlib.sha256("\x00".join(depth1[temp]).encode()).hexdigest()}
        detector = registry.build("replay", {"index": str(index)})
        detector.setup()
        threshold = detector.threshold
        h = _column(score_texts("replay", params, holdout, cache, detector), "replay.max_jaccard")
        rows = []
        for depth, texts in depths.items():
            table = score_texts("replay", params, texts, cache, detector)
            s = _column(table, "replay.max_jaccard")
            own = np.array([m == f"c{c}" for c, m in enumerate(table["replay.match_id"].to_pylist())])
            hit = _flag(s, ">=", threshold)
            rows.append({"depth": depth, "mean": _nanmean(s), "match_share": float(hit.mean()),
                         "own_match_share": float((hit & own).mean())})
        out["by_temperature"][f"{temp:g}"] = {"threshold": threshold, "indexed": len(keep),
                                              "holdout_fpr": float(_flag(h, ">=", threshold).mean()),
                                              "by_depth": rows}
    return out


def _nanmean(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else math.nan


def train_classifier(work: Path, exclude: list[str], rows: int, seed: int) -> Path:
    """Train the text classifier on labelled shared data whose articles are neither chain starts nor held-out
    humans (as ``benchmarks.demo.train_demo_classifier`` does for its crawl); kept under ``work``, reused."""
    from detectors.classifier.model import MANIFEST
    from detectors.classifier.train import TrainConfig, opening_groups, train_detector

    target = work / "classifier"
    if (target / MANIFEST).is_file():
        return target
    labelled = pq.read_table(shared_data_dir() / "detect" / "open_models.parquet", columns=["text", "label"])
    seen = set(opening_groups(exclude, OPENING_WORDS).tolist())
    unseen = np.flatnonzero([g not in seen for g in opening_groups(labelled["text"].to_pylist(), OPENING_WORDS)])
    pick = np.sort(np.random.default_rng(seed).choice(unseen, min(rows, unseen.size), replace=False))
    log.info("training the classifier on %d labelled rows (%d excluded by article)", pick.size,
             labelled.num_rows - unseen.size)
    model = train_detector(labelled.take(pa.array(pick)), TrainConfig(folds=3))
    tmp = work / ".classifier.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save(tmp)
    tmp.rename(target)
    return target


def run_detectors(cfg: ChainsConfig, histories: dict[float, list[list[str]]], starts: list[str],
                  holdout: list[str], work: Path) -> dict[str, Any]:
    """Every configured detector on the scored depths of every temperature."""
    by_depth = {t: {d: h[d] for d in cfg.depths()} for t, h in histories.items()}
    cache = work / "scores"
    out: dict[str, Any] = {}
    if "lm" in cfg.detectors:
        out["lm"] = thresholded("lm", {"model": cfg.model, **cfg.lm_params}, holdout, by_depth, cfg.max_fpr, cache)
    if "classifier" in cfg.detectors:
        model = train_classifier(work, starts + holdout, cfg.classifier_rows, cfg.seed)
        params = {"model_dir": str(model), "head": "text"}
        out["classifier"] = thresholded("classifier", params, holdout, by_depth, cfg.max_fpr, cache)
        out["classifier"]["training"] = json.loads((model / "manifest.json").read_text())["training_data"]
    if "replay" in cfg.detectors:
        out["replay"] = replay(holdout, by_depth, {t: h[1] for t, h in histories.items()}, cache, work)
    return out
