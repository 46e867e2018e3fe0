"""What a practitioner can do to set up a detector for generation t, without the crawl's hidden labels.

They have: trusted human text (never in a crawl), their own previous model (to draw fresh samples from), and the
log of everything their models generated so far (a replay index). Detectors listed in ``FITTERS`` are refitted
each generation from these; detectors without default rules get a threshold calibrated on the trusted human
text at ``max_fpr``.
"""
from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from filterkit.contract import registry
from filterkit.contract.detector import CorpusDetector

log = logging.getLogger(__name__)

DEFAULT_CALIBRATION: dict[str, tuple[str, str]] = {
    "lm": ("lm.fastdetect", ">="),
    "classifier": ("classifier.p_machine", ">="),
    "replay": ("replay.max_jaccard", ">="),
}
"""Score column and direction thresholded for a detector that ships no default rules."""


class ArmUnavailable(RuntimeError):
    """An arm cannot run with the detectors installed now; the run skips it and says why."""


@dataclass
class FitContext:
    """What the practitioner holds at generation t (never the crawl's labels)."""

    generation: int
    workdir: Path
    trusted: np.ndarray
    own_samples: Callable[[int], np.ndarray]
    """Draw n fresh documents from the practitioner's own previous model."""
    history: list[str]
    """Every document the practitioner's models generated in earlier generations."""
    max_fpr: float = 0.01
    """The human FPR the run allows; refitted detectors put their default thresholds there."""
    trusted_articles: np.ndarray | None = None
    """The article of each trusted text, to cross-validate by article (None: by opening words)."""
    notes: dict[str, float] = field(default_factory=dict)
    """What the fitters chose this generation, for its record (keys start with ``fit_``)."""


def fit_replay(ctx: FitContext, params: dict[str, Any]) -> dict[str, Any]:
    """Index everything earlier generations produced (the practitioner's generation log) for the replay detector."""
    from detectors.duplicates import index as minhash_index

    fields_ = {f.name for f in fields(registry.detector_class("replay")) if f.init}
    if "index" not in fields_:
        raise ArmUnavailable("the replay detector has no `index` parameter; the replay arm cannot point it at "
                             "the generation log")
    # A new directory per generation: the pipeline caches detectors by their parameters, index path included.
    index_dir = ctx.workdir / f"replay-index-{ctx.generation}"
    shutil.rmtree(ctx.workdir / f"replay-index-{ctx.generation - 1}", ignore_errors=True)
    texts = [t for t in ctx.history if t.strip()]
    if not texts:
        raise ArmUnavailable("the generation log is empty, so there is nothing to index")
    minhash_index.build_from_texts(texts, [f"g{i}" for i in range(len(texts))], index_dir, overwrite=True)
    return params | {"index": str(index_dir)}


def fit_classifier(ctx: FitContext, params: dict[str, Any]) -> dict[str, Any]:
    """Retrain the classifier on trusted human text vs as many fresh samples of the practitioner's own previous
    model, with raw or TF-IDF-weighted n-grams, whichever has the higher out-of-fold TPR at the run's
    ``max_fpr`` (their own data decides, never the crawl); its default rule is the threshold put there."""
    import pyarrow as pa

    from detectors.classifier.train import TrainConfig, train_detector

    human = [str(t) for t in ctx.trusted]
    machine = [str(t) for t in ctx.own_samples(len(human)) if str(t).strip()]
    if not human or not machine:
        raise ArmUnavailable("the classifier needs trusted human text and non-empty samples of the own model")
    table = pa.table({"text": human + machine, "label": ["human"] * len(human) + ["machine"] * len(machine)})
    group = None
    if ctx.trusted_articles is not None:  # each own sample is its own group: no article to share
        group = "fold_group"
        table = table.append_column(group, pa.array([f"human:{a}" for a in ctx.trusted_articles]
                                                    + [f"own:{i}" for i in range(len(machine))]))
    key = f"tpr_at_{ctx.max_fpr:g}_fpr"
    candidates = [train_detector(table, TrainConfig(target_fpr=ctx.max_fpr, idf=idf, group_column=group))
                  for idf in (False, True)]
    tprs = [m.manifest["metrics_out_of_fold"]["text"][key] for m in candidates]
    best = int(np.argmax(tprs))
    log.info("generation %d classifier: out-of-fold %s raw %.3f, TF-IDF %.3f; keeping %s", ctx.generation, key,
             *tprs, ("raw", "TF-IDF")[best])
    model_dir = ctx.workdir / f"classifier-{ctx.generation}"
    shutil.rmtree(ctx.workdir / f"classifier-{ctx.generation - 1}", ignore_errors=True)
    candidates[best].save(model_dir)
    ctx.notes |= {"fit_classifier_tfidf": float(best), "fit_classifier_oof_tpr": float(tprs[best])}
    return params | {"model_dir": str(model_dir)}


FITTERS: dict[str, Callable[[FitContext, dict[str, Any]], dict[str, Any]]] = {
    "replay": fit_replay,
    "classifier": fit_classifier,
}


def is_corpus_wide(name: str) -> bool:
    """Whether the detector's result for a row depends on the other rows (so old rows must be in the crawl)."""
    return issubclass(registry.detector_class(name), CorpusDetector)
