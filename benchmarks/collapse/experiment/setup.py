"""What every seed of a collapse run shares, built once before the loop: the learner family, the schedule, the arms
(unusable ones skipped with a reason), the human data, the probes, the foreign text and the checkpoints."""
from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks.collapse.analysis.metrics import TextReference
from benchmarks.collapse.data import foreign
from benchmarks.collapse.data.human import HumanSplit, load_text_split
from benchmarks.collapse.experiment import adversary, schedules
from benchmarks.collapse.experiment.arms import Arm, ArmSettings, Oracle, PipelineArm, RandomDrop, parse
from benchmarks.collapse.experiment.checkpoint import Checkpoints
from benchmarks.collapse.experiment.config import CollapseConfig
from benchmarks.collapse.experiment.practitioner import ArmUnavailable
from benchmarks.collapse.experiment.probes import Probe
from benchmarks.collapse.experiment.streams import rng_for
from benchmarks.collapse.learners.base import Family, NumericFamily
from benchmarks.collapse.learners.base import build as build_family
from filterkit.testing.shared import shared_data_dir

log = logging.getLogger(__name__)


@dataclass
class Setup:
    """What every seed shares: the learner family, schedule, arms and human data."""

    config: CollapseConfig
    family: Family
    schedule: schedules.Schedule
    arms: list[Arm]
    split: HumanSplit
    workdir: Path
    trusted_path: Path | None
    skipped: dict[str, str]
    reference: TextReference | None
    """Word counts of the whole human training pool: the yardstick for types, tail and unigram KL."""
    checkpoints: Checkpoints | None = None
    foreign: dict[str, np.ndarray] = field(default_factory=dict)
    """Synthetic documents by other models that crawls draw from, per pool source (``shared``, ``unseen``,
    ``smollm2``; ``older`` is drawn from the lineage's history)."""
    probes: list[Probe] = field(default_factory=list)
    human_unigram: adversary.HumanUnigram | None = None
    """The ``humanlike`` replay adversary's model of human text (fitted on the trusted set)."""


def prepare(config: CollapseConfig, out: Path, resume: bool = False) -> Setup:
    """Build the learner family, schedule and arms, load the human data; unusable arms are skipped with a reason.

    Every finished generation is checkpointed under ``out/_state``; with ``resume`` a run continues from there
    (with more generations or seeds, if the config asks for them).
    """
    family = build_family(config.learner, config.learner_params)
    schedule = schedules.build(config.schedule, config.samples, config.alpha, config.budget, config.crawl())
    settings = ArmSettings(config.detector_params, config.calibrate, config.max_fpr, config.weight_column,
                           config.weight_power, config.weight_cap, config.weight_size, config.shipped_model)
    arms = parse(list(config.arms), family.kind, settings, config.random_reference)
    skipped: dict[str, str] = {}
    for arm in arms:
        try:
            arm.check()
        except ArmUnavailable as exc:
            skipped[arm.label] = str(exc)
            log.warning("skipping arm %s: %s", arm.label, exc)
    arms = _fix_random_reference([a for a in arms if a.label not in skipped], skipped)
    workdir = out / "_work"
    split, trusted_path = _human_split(config, family, workdir)
    family.prepare(split.train)
    reference = TextReference.from_docs(split.train) if family.kind == "text" else None
    if config.probes and family.kind != "text":
        raise ValueError("probes score text: use them with a text learner")
    probes = [Probe(name, config.detector_params.get(name, {}), config.probe_rows, config.max_fpr, config.calibrate)
              .fit(split.trusted, rng_for(0, 0, "probe", i)) for i, name in enumerate(config.probes)]
    pool = _foreign_pool(config, schedule, split)
    # Last, so that a run refused for its settings leaves no state behind that a corrected rerun would trip on.
    checkpoints = (Checkpoints(out / "_state", config.to_dict(), resume, CollapseConfig().to_dict())
                   if config.checkpoint else None)
    unigram = (adversary.HumanUnigram().fit(split.trusted)
               if "older" in config.foreign_parts() and config.replay_pick == "humanlike" else None)
    return Setup(config, family, schedule, arms, split, workdir, trusted_path, skipped, reference, checkpoints,
                 pool, probes, unigram)


def _human_split(config: CollapseConfig, family: Family, workdir: Path) -> tuple[HumanSplit, Path | None]:
    """The human data: text split by article (the trusted part also written as Parquet, for calibration), or a
    numeric family's held-out draws."""
    if family.kind != "text":
        assert isinstance(family, NumericFamily)
        test = family.draw_human(config.numeric_test_size, np.random.default_rng([0x7E57]))
        return HumanSplit(np.empty(0), np.empty(0), test), None
    split = text_split(config)
    workdir.mkdir(parents=True, exist_ok=True)
    trusted_path = workdir / "trusted.parquet"
    pq.write_table(pa.table({"text": pa.array(list(split.trusted), pa.string())}), trusted_path)
    return split, trusted_path


def text_split(config: CollapseConfig) -> HumanSplit:
    """The run's human documents split by article, test and validation cut to ``test_docs``."""
    split = load_text_split(shared_data_dir(), config.doc_words, config.test_fraction, config.trusted_fraction,
                            config.trusted_by, config.human_sources, config.validation_fraction)
    if config.test_docs is None:
        return split
    return replace(split, test=split.test[:config.test_docs], validation=split.validation[:config.test_docs])


def _foreign_pool(config: CollapseConfig, schedule: schedules.Schedule, split: HumanSplit) -> dict[str, np.ndarray]:
    """The other models' documents crawls draw from, per pool source (empty: no foreign rows, or only the
    learner's own older ones)."""
    pools = [p for p in config.foreign_parts() if p != "older"] if config.foreign_share > 0 else []
    if pools and config.learner in ("gaussian", "gmm"):
        raise ValueError("foreign synthetic rows are text: use them with a text learner")
    out = {}
    for part in pools:
        if part == "shared":
            out[part] = foreign.shared_pool(shared_data_dir(), config.doc_words, split.test)
        elif part == "unseen":
            out[part] = foreign.unseen_pool(shared_data_dir(), config.doc_words, split.test)
        else:
            need = round(config.foreign_share * schedule.synthetic_per_generation()) * config.generations
            out[part] = foreign.smollm2_pool(split.train, need, config.doc_words,
                                             Path(config.foreign_cache).expanduser())
    return out


def _fix_random_reference(arms: list[Arm], skipped: dict[str, str]) -> list[Arm]:
    """Point the random arm at a filter or oracle arm that runs when its own reference was skipped."""
    rand = next((a for a in arms if isinstance(a, RandomDrop)), None)
    if rand is None or rand.reference in {a.label for a in arms}:
        return arms
    fallback = next((a for a in arms if isinstance(a, (PipelineArm, Oracle))), None)
    if fallback is None:
        skipped[rand.label] = f"its reference arm {rand.reference!r} was skipped and no filter or oracle arm is left"
        return [a for a in arms if a is not rand]
    log.warning("random arm: reference %s was skipped; copying %s's retain rate instead", rand.reference,
                fallback.label)
    rand.reference = fallback.label
    return [fallback] + [a for a in arms if a is not fallback]


def cleanup(setup: Setup) -> None:
    """Remove the Parquet crawls and indexes written along the way, unless asked to keep them."""
    if not setup.config.keep_work:
        shutil.rmtree(setup.workdir, ignore_errors=True)
