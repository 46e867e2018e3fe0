"""The recursive-training loop: generation 0 learns from human data; each later model learns from the filtered
crawl its predecessor contaminated. Every random draw comes from a generator keyed by (seed, generation, purpose),
so arms of one seed see the same human data and generation-0 model (common random numbers) and runs repeat."""
from __future__ import annotations

import logging
import math
import shutil
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks.collapse import adversary, foreign, learners, schedules
from benchmarks.collapse.arms import (
    Arm,
    ArmContext,
    ArmSettings,
    Oracle,
    PipelineArm,
    RandomDrop,
    parse,
)
from benchmarks.collapse.checkpoint import Checkpoints
from benchmarks.collapse.config import CollapseConfig
from benchmarks.collapse.human import HumanSplit, SeedData, load_text_split, seed_data
from benchmarks.collapse.metrics import (
    TextReference,
    filter_metrics,
    numeric_metrics,
    text_metrics,
)
from benchmarks.collapse.practitioner import ArmUnavailable, FitContext
from benchmarks.collapse.probes import Probe
from benchmarks.collapse.rows import Rows
from filterkit.testing.shared import shared_data_dir

log = logging.getLogger(__name__)
Progress = Callable[[str, int, int], None]
_STREAMS = {"sample": 1, "human": 2, "arm": 3, "subsample": 4, "metric": 5, "practitioner": 6, "init": 7, "foreign": 8, "probe": 9}


def rng_for(seed: int, generation: int, stream: str, salt: int = 0) -> np.random.Generator:
    """The generator for one purpose at one seed and generation."""
    return np.random.default_rng([seed, generation, _STREAMS[stream], salt])


@dataclass
class Setup:
    """What every seed shares: the learner family, schedule, arms and human data."""

    config: CollapseConfig
    family: learners.Family
    schedule: schedules.Schedule
    arms: list[Arm]
    split: HumanSplit
    workdir: Path
    trusted_path: Path | None
    skipped: dict[str, str]
    reference: TextReference | None
    """Word counts of the whole human training pool: the yardstick for types, tail and unigram KL."""
    checkpoints: Checkpoints | None = None
    foreign: np.ndarray | None = None
    """Synthetic documents by other models (``foreign_source`` shared or smollm2) that crawls draw from."""
    probes: list[Probe] = field(default_factory=list)
    human_unigram: adversary.HumanUnigram | None = None
    """The ``humanlike`` replay adversary's model of human text (fitted on the trusted set)."""


def prepare(config: CollapseConfig, out: Path, resume: bool = False) -> Setup:
    """Build the learner family, schedule and arms, load the human data; unusable arms are skipped with a reason.

    Every finished generation is checkpointed under ``out/_state``; with ``resume`` a run continues from there
    (with more generations or seeds, if the config asks for them).
    """
    family = learners.build(config.learner, config.learner_params)
    schedule = schedules.build(config.schedule, config.samples, config.alpha, config.budget, config.crawl())
    settings = ArmSettings(config.detector_params, config.calibrate, config.max_fpr, config.weight_column,
                           config.weight_power, config.weight_cap, config.weight_size)
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
    trusted_path = None
    if family.kind == "text":
        split = load_text_split(shared_data_dir(), config.doc_words, config.test_fraction, config.trusted_fraction,
                                config.trusted_by)
        if config.test_docs is not None:
            split = HumanSplit(split.train, split.trusted, split.test[:config.test_docs])
        workdir.mkdir(parents=True, exist_ok=True)
        trusted_path = workdir / "trusted.parquet"
        pq.write_table(pa.table({"text": pa.array(list(split.trusted), pa.string())}), trusted_path)
    else:
        assert isinstance(family, learners.NumericFamily)
        test = family.draw_human(config.numeric_test_size, np.random.default_rng([0x7E57]))
        split = HumanSplit(np.empty(0), np.empty(0), test)
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
               if config.foreign_source == "older" and config.replay_pick == "humanlike" else None)
    return Setup(config, family, schedule, arms, split, workdir, trusted_path, skipped, reference, checkpoints,
                 pool, probes, unigram)


def _foreign_pool(config: CollapseConfig, schedule: schedules.Schedule, split: HumanSplit) -> np.ndarray | None:
    if config.foreign_share <= 0 or config.foreign_source == "older":
        return None
    if config.learner in ("gaussian", "gmm"):
        raise ValueError("foreign synthetic rows are text: use them with a text learner")
    need = round(config.foreign_share * schedule.synthetic_per_generation()) * config.generations
    if config.foreign_source == "shared":
        return foreign.shared_pool(shared_data_dir(), config.doc_words, split.test)
    cache = Path(config.foreign_cache).expanduser()
    return foreign.smollm2_pool(split.train, need, config.doc_words, cache)


def _synthetic(setup: Setup, samples: np.ndarray, history: list[str], rng: np.random.Generator
               ) -> tuple[np.ndarray, np.ndarray]:
    """The crawl's synthetic rows at generation t: the previous model's samples, a ``foreign_share`` of them
    replaced by other models' documents (or, for ``older``, by earlier generations' samples the replay adversary
    picks). Returns the rows and the foreign documents among them."""
    n = setup.schedule.synthetic_per_generation()
    own = _nonempty(samples)[:n]
    k = round(setup.config.foreign_share * n)
    if k == 0:
        return own, own[:0]
    if setup.config.foreign_source == "older":
        # The history ends with the previous model's samples; the older generations' come before them.
        others = adversary.pick(history, len(samples), k, setup.config.replay_pick, rng, setup.human_unigram)
    else:
        others = foreign.draw(setup.foreign, k, rng)
    return np.concatenate([own[:n - len(others)], others]), others


def _fix_random_reference(arms: list[Arm], skipped: dict[str, str]) -> list[Arm]:
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


def run_seeds(setup: Setup, progress: Progress | None = None) -> list[dict[str, Any]]:
    """Every arm over every seed and generation: one record per (arm, seed, generation)."""
    cfg = setup.config
    records: list[dict[str, Any]] = []
    total, done = cfg.seeds * len(setup.arms) * cfg.generations, 0
    for seed in range(cfg.seeds):
        start = _start(setup, seed)
        retain: dict[int, float] = {}
        for arm in list(setup.arms):
            last = 0
            try:
                for rec in _lineage(setup, seed, arm, start, retain):
                    records.append(rec)
                    last = rec["generation"]
                    if progress and last:
                        progress("generations", done + last, total)
            except ArmUnavailable as exc:
                log.warning("arm %s cannot run, dropping it from every seed: %s", arm.label, exc)
                setup.skipped[arm.label] = str(exc)
                setup.arms.remove(arm)
                records = [r for r in records if r["arm"] != arm.label]
            done += cfg.generations  # counted whole even when a lineage collapsed early
            if _notes(arm):
                log.info("arm %s left out: %s", arm.label, _notes(arm))
    if progress:
        progress("generations", total, total)
    return records


def _notes(arm: Arm) -> dict[str, str]:
    return arm.notes() if isinstance(arm, PipelineArm) else {}


@dataclass
class _Start:
    human: SeedData
    model: Any
    samples: np.ndarray
    metrics: dict[str, Any]
    ref: TextReference | None
    sigma0: float


def _start(setup: Setup, seed: int) -> _Start:
    cfg, family, schedule = setup.config, setup.family, setup.schedule
    if family.kind == "text":
        human = seed_data(setup.split.train, seed, cfg.samples, schedule.human_per_generation(), cfg.generations)
    else:
        need = cfg.samples + schedule.human_per_generation() * cfg.generations
        pool = family.draw_human(need, rng_for(seed, 0, "human"))  # type: ignore[attr-defined]
        human = seed_data(pool, seed, cfg.samples, schedule.human_per_generation(), cfg.generations)
    ref, state = setup.reference, setup.checkpoints
    if state is not None and state.latest(seed, None) == 0:
        saved = state.load(seed, None, 0)
        model = _restore(family, _learner_seed(seed, 0), saved.model_dir, human.gen0)
        metrics = {k: v for k, v in saved.records[0].items() if k not in ("arm", "seed", "generation", "sigma0")}
        return _Start(human, model, saved.samples, metrics, ref, saved.records[0]["sigma0"])
    model = family.new(_learner_seed(seed, 0))
    model.fit(human.gen0)
    samples = model.sample(_n_samples(setup), rng_for(seed, 0, "sample"))
    sigma0 = float(model.std()) if family.kind == "numeric" else math.nan
    metrics = _measure(setup, model, samples, ref, sigma0, rng_for(seed, 0, "metric"))
    if state is not None:
        state.save(seed, None, 0, metrics | {"sigma0": sigma0}, samples,
                   Rows.of(human.gen0, synthetic=False, new=False), None, model)
    return _Start(human, model, samples, metrics, ref, sigma0)


def _restore(family: learners.Family, seed: int, model_dir: Path | None, train: np.ndarray | None) -> Any:
    """A checkpointed model: loaded where the learner saved itself, else refitted on its (saved) training rows,
    which every learner does deterministically from its seed."""
    model = family.new(seed)
    if model_dir is not None and hasattr(model, "load_state"):
        model.load_state(model_dir)
    elif train is not None:
        model.fit(train)
    else:
        raise RuntimeError("a checkpoint holds neither the model nor its training rows")
    return model


def _n_samples(setup: Setup) -> int:
    """Enough samples for the crawl and for the metrics, which read the first N."""
    return max(setup.config.samples, setup.schedule.synthetic_per_generation())


def _learner_seed(seed: int, generation: int) -> int:
    return int(np.random.SeedSequence([seed, generation, _STREAMS["init"]]).generate_state(1)[0])


def _measure(setup: Setup, model: Any, samples: np.ndarray, ref: TextReference | None, sigma0: float,
             rng: np.random.Generator) -> dict[str, Any]:
    samples = samples[:setup.config.samples]
    out: dict[str, Any] = dict(model.evaluate(setup.split.test))
    if setup.family.kind == "numeric":
        return out | numeric_metrics(model, setup.split.test, sigma0, rng)
    out["perplexity"] = math.exp(out["test_ce"]) if out["test_ce"] < 700 else math.inf
    kept = _nonempty(samples)
    out["empty_share"] = 1.0 - len(kept) / max(len(samples), 1)
    assert ref is not None
    return out | text_metrics(kept, ref, rng, setup.config.bleu_docs)


def _nonempty(samples: np.ndarray) -> np.ndarray:
    if samples.dtype != object:
        return samples
    return samples[np.array([bool(str(s).strip()) for s in samples], dtype=bool)] if len(samples) else samples


def _lineage(setup: Setup, seed: int, arm: Arm, start: _Start, retain: dict[int, float]):
    """Records of one arm and seed, generation by generation, until the last generation or a collapse."""
    cfg, schedule, family = setup.config, setup.schedule, setup.family
    base = {"arm": arm.label, "seed": seed}
    first = _verdict(base | {"generation": 0, **start.metrics, "train_size": len(start.human.gen0),
                             "synthetic_share": 0.0}, start.samples)
    yield first
    if first["collapsed"]:
        return
    model, samples = start.model, start.samples
    pool = Rows.of(start.human.gen0, synthetic=False, new=False)
    history: list[str] = list(samples) if family.kind == "text" else []
    salt = zlib.crc32(arm.label.encode())
    is_reference = any(isinstance(a, RandomDrop) and a.reference == arm.label for a in setup.arms)
    state, begin = setup.checkpoints, 1
    done = min(state.latest(seed, arm.label) or 0, cfg.generations) if state is not None else 0
    if done:
        saved = state.load(seed, arm.label, done)
        for rec in saved.records:
            if is_reference and "retain_rate" in rec:
                retain[rec["generation"]] = rec["retain_rate"]
            yield rec
        if saved.records[-1].get("collapsed"):
            return
        pool, samples, begin = saved.pool, saved.samples, done + 1
        if family.kind == "text":
            history += [str(x) for part in state.samples(seed, arm.label, done) for x in part]
        if begin <= cfg.generations:
            model = _restore(family, _learner_seed(seed, done), saved.model_dir, saved.train)
    for t in range(begin, cfg.generations + 1):
        synthetic, others = _synthetic(setup, samples, history, rng_for(seed, t, "foreign"))
        crawl = schedule.crawl(pool, synthetic, start.human.fresh_for(t))
        # Marked by content: a replayed document that the previous model happened to write again counts as replayed.
        foreign_rows = crawl.new & crawl.synthetic & np.isin(crawl.items, others) if len(others) else None
        previous = model
        window = cfg.replay_window * len(samples)
        fit_ctx = FitContext(t, setup.workdir / f"seed{seed}" / f"arm{salt:08x}", setup.split.trusted,
                             lambda n, m=previous, g=t: m.sample(n, rng_for(seed, g, "practitioner")),
                             history[-window:] if window else history, cfg.max_fpr)
        ref_rate = retain.get(t, retain[max(retain)] if retain else None)
        ctx = ArmContext(fit_ctx, rng_for(seed, t, "arm", salt), setup.trusted_path, ref_rate)
        keep = arm.select(crawl, ctx)
        mask = np.zeros(len(crawl), dtype=bool)
        mask[keep] = True
        diag = filter_metrics(crawl.synthetic, crawl.new, mask, foreign_rows)
        if is_reference:
            retain[t] = diag["retain_rate"]
        kept = crawl.take(keep)
        pool = kept.as_old() if schedule.carries_pool() else kept
        train = schedule.training(pool, rng_for(seed, t, "subsample", salt))
        if setup.probes and arm is _probed(setup):
            new = np.flatnonzero(crawl.new)
            for i, probe in enumerate(setup.probes):
                diag |= probe.measure(crawl.items[new], crawl.synthetic[new], rng_for(seed, t, "probe", i),
                                      None if foreign_rows is None else foreign_rows[new])
        rec = base | {"generation": t, **diag, **fit_ctx.notes, "crawl_foreign_rows": len(others),
                      "train_size": len(train),
                      "synthetic_share": float(train.synthetic.mean()) if len(train) else math.nan}
        failed = "no training data left after filtering" if len(train) == 0 else None
        if failed is None:
            model = family.new(_learner_seed(seed, t))
            if hasattr(model, "init_from"):
                model.init_from(previous)  # a warm-started learner continues from its predecessor's weights
            try:
                model.fit(train.items)
            except ValueError as exc:
                failed = f"training failed: {exc}"
        if failed is not None:
            rec |= {"collapsed": 1, "collapse_reason": failed}
            if state is not None:
                state.save(seed, arm.label, t, rec, samples[:0], pool, None, None)
            yield rec
            return
        samples = model.sample(_n_samples(setup), rng_for(seed, t, "sample"))
        if family.kind == "text":
            history.extend(samples)
        rec = _verdict(rec | _measure(setup, model, samples, start.ref, start.sigma0, rng_for(seed, t, "metric")),
                       samples)
        if state is not None:
            state.save(seed, arm.label, t, rec, samples, pool, train.items, model)
        yield rec
        if rec["collapsed"]:
            return


def _probed(setup: Setup) -> Arm:
    """The arm whose crawls the probes score: ``none`` (the contamination as it comes), else the first arm."""
    return next((a for a in setup.arms if a.label == "none"), setup.arms[0])


def _verdict(rec: dict[str, Any], samples: np.ndarray) -> dict[str, Any]:
    """Mark a generation whose samples are all empty, or whose model is degenerate, as a collapse."""
    if len(_nonempty(samples)) == 0:
        return rec | {"collapsed": 1, "collapse_reason": "every sample was empty"}
    if not math.isfinite(rec["test_ce"]):
        return rec | {"collapsed": 1, "collapse_reason": "degenerate model (non-finite test cross-entropy)"}
    return rec | {"collapsed": 0}


def cleanup(setup: Setup) -> None:
    """Remove the Parquet crawls and indexes written along the way, unless asked to keep them."""
    if not setup.config.keep_work:
        shutil.rmtree(setup.workdir, ignore_errors=True)
