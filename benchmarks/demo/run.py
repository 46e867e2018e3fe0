"""The demo's crawl (human, machine, copied and broken documents), its classifier, and the run that filters it."""
from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from filterkit.config import DetectorSpec, FilterConfig
from filterkit.contract import registry
from filterkit.engine.pipeline import Progress, filter_stage, run
from filterkit.testing.shared import shared_data_dir

ORIGIN = "demo_origin"
MACHINE = "demo_is_machine"
DOC = "demo_doc"
"""Hidden labels of each demo row; they pass through the pipeline untouched and no detector reads them."""
DEMO_DETECTORS = ("exact", "minhash")
"""Detectors that run with default parameters and need nothing trained or downloaded; the classifier is trained."""


@dataclass(frozen=True)
class DemoSizes:
    """How many documents of each kind the demo crawl holds."""

    human: int = 900
    machine: int = 300
    classifier_training_rows: int = 4000
    exact_copies: int = 80
    near_copies: int = 80
    bad_rows: int = 6
    files: int = 4


def build_crawl(out_dir: Path, sizes: DemoSizes = DemoSizes(), seed: int = 0) -> Path:
    """Write a crawl of human, machine, copied and broken documents as several Parquet files."""
    rng = np.random.default_rng(seed)
    data = shared_data_dir()
    out_dir.mkdir(parents=True, exist_ok=True)
    human = pq.read_table(data / "human" / "news_wiki_stories.parquet", columns=["text"])["text"].to_pylist()
    detect = ds.dataset(data / "detect" / "open_models.parquet")
    machine = detect.to_table(columns=["text"], filter=pc.field("label") == "machine")["text"].to_pylist()
    order = rng.permutation(len(human))
    humans = [human[i] for i in order[: sizes.human]]
    # Human texts the crawl does not hold: the trusted set a practitioner calibrates thresholds on.
    trusted = pa.table({"text": [human[i] for i in order[sizes.human:]]})
    pq.write_table(trusted, out_dir.parent / "trusted_human.parquet")
    machines = [machine[i] for i in rng.choice(len(machine), sizes.machine, replace=False)]
    # (text, origin, is machine, the original document it is or copies)
    rows: list[tuple[str | None, str, bool, int]] = [(t, "human", False, i) for i, t in enumerate(humans)]
    rows += [(t, "machine", True, len(rows) + i) for i, t in enumerate(machines)]
    originals = rows[:]
    picked = rng.choice(len(originals), sizes.exact_copies + sizes.near_copies, replace=False)
    for k, i in enumerate(picked):
        text, _, is_machine, doc = originals[i]
        if k < sizes.exact_copies:
            rows.append((_reformat(text), "exact_copy", is_machine, doc))
        else:
            rows.append((_near_copy(text, rng), "near_copy", is_machine, doc))
    half = sizes.bad_rows // 2
    rows += [(None, "broken", False, -1)] * half + [("   ", "broken", False, -1)] * (sizes.bad_rows - half)
    order = rng.permutation(len(rows))
    out_dir.mkdir(parents=True, exist_ok=True)
    for f, part in enumerate(np.array_split(order, sizes.files)):
        table = pa.table({
            "url": [f"https://crawl.example/{f}/{int(i)}" for i in part],
            "text": pa.array([rows[i][0] for i in part], pa.string()),
            ORIGIN: [rows[i][1] for i in part],
            MACHINE: [rows[i][2] for i in part],
            DOC: [rows[i][3] for i in part],
        })
        pq.write_table(table, out_dir / f"crawl-{f:02d}.parquet", row_group_size=100)
    return out_dir


def _reformat(text: str) -> str:
    # What a re-crawl of the same page looks like: other case and whitespace, same words.
    return re.sub(r"\s+", "  ", text.upper()) + "\n"


def _near_copy(text: str, rng: np.random.Generator) -> str:
    words = text.split()
    for _ in range(max(1, len(words) // 40)):
        words[int(rng.integers(len(words)))] = rng.choice(["the", "a", "this", "that"])
    return " ".join(words) + " Share this article. Copyright 2024 Example Media."


def train_demo_classifier(out: Path, crawl: Path, rows: int, seed: int = 0) -> Path:
    """Train the text classifier on labelled articles that the crawl does not contain (so nothing is memorised)."""
    from detectors.classifier.train import TrainConfig, opening_groups, train_detector

    labelled = pq.read_table(shared_data_dir() / "detect" / "open_models.parquet", columns=["text", "label"])
    crawl_texts = [t for t in ds.dataset(crawl).to_table(columns=["text"])["text"].to_pylist() if t and t.strip()]
    seen = set(opening_groups(crawl_texts, 12).tolist())
    unseen = np.flatnonzero([g not in seen for g in opening_groups(labelled["text"].to_pylist(), 12)])
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(unseen, min(rows, unseen.size), replace=False))
    model = train_detector(labelled.take(pa.array(pick)), TrainConfig(folds=3))
    return model.save(out / "classifier")


def run_demo(out: Path, sizes: DemoSizes = DemoSizes(), progress: Progress | None = None) -> dict[str, Any]:
    """Build the crawl, filter it with every demo detector that is installed, and measure what was caught."""
    start = time.perf_counter()
    crawl = build_crawl(out / "crawl", sizes)
    names = [n for n in DEMO_DETECTORS if n in registry.available()]
    specs = [DetectorSpec(n) for n in names]
    if sizes.classifier_training_rows:
        if progress:
            progress("train", 0, 1)
        model = train_demo_classifier(out, crawl, sizes.classifier_training_rows)
        if progress:
            progress("train", 1, 1)
        specs.append(DetectorSpec("classifier", {"model_dir": str(model), "head": "text"}))
        names.append("classifier")
    config = FilterConfig(detectors=tuple(specs), rows_per_shard=200)
    calibration = None
    if sizes.classifier_training_rows:
        # The training data's 1%-FPR threshold does not transfer to this crawl's human text; trusted human text does.
        from filterkit.engine.calibrate import calibrate

        classifier_only = config.replace(detectors=(specs[-1],))
        stage = filter_stage(config)
        calibrated, calibration = calibrate([str(out / "trusted_human.parquet")], classifier_only.replace(
            rules=tuple(r for r in stage.rules if r.column == "classifier.p_machine")), "classifier.p_machine", 0.01)
        config = config.replace(rules=tuple(r for r in stage.rules if r.column != "classifier.p_machine")
                                + calibrated.rules)
    result = run([str(crawl)], out / "filtered", config, overwrite=True, progress=progress)
    kept, removed = _labels(out / "filtered" / "kept"), _labels(out / "filtered" / "removed")
    kept_docs = set(kept[DOC].to_pylist())
    everything = removed.to_pylist() + kept.to_pylist()
    machine_kept = sum(kept[MACHINE].to_pylist())
    valid = kept.num_rows + removed.num_rows
    human_docs = {r[DOC] for r in everything if not r[MACHINE]}
    machine_docs = {r[DOC] for r in everything if r[MACHINE]}

    def caught(kind: str) -> str:
        # A planted copy is caught when exactly one of the pair survives, whichever one it is.
        copied = {r[DOC] for r in everything if r[ORIGIN] == kind}
        survivors = [r[DOC] for r in kept.to_pylist() if r[DOC] in copied]
        return f"{sum(survivors.count(d) == 1 for d in copied)}/{len(copied)}"

    return {
        "detectors": names,
        "documents_in": result.report["counts"]["rows_in"],
        "quarantined": result.report["counts"]["quarantined"],
        "removed_by_reason": result.report["filter_reasons"],
        "machine_share_before": round((machine_kept + sum(removed[MACHINE].to_pylist())) / max(1, valid), 4),
        "machine_share_after": round(machine_kept / max(1, kept.num_rows), 4),
        "machine_documents_removed": f"{len(machine_docs - kept_docs)}/{len(machine_docs)}",
        "human_documents_lost": f"{len(human_docs - kept_docs)}/{len(human_docs)}",
        "exact_copies_removed": caught("exact_copy"),
        "near_copies_removed": caught("near_copy"),
        "classifier_threshold": (f"{calibration['threshold']:.3f} (1% FPR on {calibration['human_rows']} trusted "
                                 "human texts)") if calibration else None,
        "seconds": round(time.perf_counter() - start, 1),
        "report": str(result.out / "report" / "report.md"),
        "conservation": result.report["conservation"]["statement"],
    }


def _labels(part: Path) -> pa.Table:
    files = sorted(str(p) for p in part.glob("*.parquet"))
    if not files:
        return pa.table({ORIGIN: pa.array([], pa.string()), MACHINE: pa.array([], pa.bool_()),
                         DOC: pa.array([], pa.int64())})
    return ds.dataset(files).to_table(columns=[ORIGIN, MACHINE, DOC])
