"""The recursive-training loop: generation 0 learns from human data; each later model learns from the filtered
crawl its predecessor contaminated. Every random draw comes from ``streams.rng_for``, so arms of one seed see the
same human data and generation-0 model (common random numbers) and runs repeat."""
from __future__ import annotations

import logging
import math
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.collapse.analysis.metrics import filter_metrics, numeric_metrics, text_metrics
from benchmarks.collapse.data import foreign
from benchmarks.collapse.data.human import SeedData, seed_data
from benchmarks.collapse.data.rows import Rows
from benchmarks.collapse.experiment import adversary
from benchmarks.collapse.experiment.arms import Arm, ArmContext, PipelineArm, RandomDrop
from benchmarks.collapse.experiment.practitioner import ArmUnavailable, FitContext
from benchmarks.collapse.experiment.probes import ProbeStats
from benchmarks.collapse.experiment.records import CrawlOutcome, Record, StartRecord, Verdict
from benchmarks.collapse.experiment.setup import Setup
from benchmarks.collapse.experiment.streams import common_keys, learner_seed, rng_for
from benchmarks.collapse.learners.base import Family, NumericFamily

log = logging.getLogger(__name__)
Progress = Callable[[str, int, int], None]


def run_seeds(setup: Setup, progress: Progress | None = None) -> list[Record]:
    """Every arm over every seed and generation: one record per (arm, seed, generation)."""
    cfg = setup.config
    records: list[Record] = []
    # Progress counts only the generations this invocation trains: checkpointed ones come back in moments, and
    # counting them would make a resumed run's time left far too short.
    saved = {(seed, arm.label): _checkpointed(setup, seed, arm.label)
             for seed in range(cfg.seeds) for arm in setup.arms}
    total, done = cfg.seeds * len(setup.arms) * cfg.generations, 0
    if any(saved.values()):
        log.info("%d of %d generations come from checkpoints", sum(saved.values()), total)
        total -= sum(saved.values())
    if progress:  # starts the clock, so the time left counts the first generation's minutes too
        progress("generations", 0, total)
    for seed in range(cfg.seeds):
        start = _start(setup, seed)
        retain: dict[int, float] = {}
        for arm in list(setup.arms):
            skip = saved[seed, arm.label]
            try:
                for rec in lineage(setup, seed, arm, start, retain):
                    records.append(rec)
                    if progress and rec.generation > skip:
                        progress("generations", done + rec.generation - skip, total)
            except ArmUnavailable as exc:
                log.warning("arm %s cannot run, dropping it from every seed: %s", arm.label, exc)
                setup.skipped[arm.label] = str(exc)
                setup.arms.remove(arm)
                records = [r for r in records if r.arm != arm.label]
            done += cfg.generations - skip  # counted whole even when a lineage collapsed early
            if _notes(arm):
                log.info("arm %s left out: %s", arm.label, _notes(arm))
    if progress:
        progress("generations", total, total)
    return records


def _checkpointed(setup: Setup, seed: int, arm: str) -> int:
    """How many generations of a lineage an earlier invocation finished (0 without checkpoints)."""
    latest = setup.checkpoints.latest(seed, arm) if setup.checkpoints is not None else None
    return min(latest or 0, setup.config.generations)


def _notes(arm: Arm) -> dict[str, str]:
    return arm.notes() if isinstance(arm, PipelineArm) else {}


# --- generation 0, shared by every arm of a seed -----------------------------------------------------------------

@dataclass
class Start:
    """A seed's generation 0: its human data, and the model every arm starts from with its samples and metrics."""

    human: SeedData
    model: Any
    samples: np.ndarray
    metrics: dict[str, Any]
    sigma0: float
    """The model's sigma (NaN for text): the yardstick of every later ``sigma_ratio``."""


def _start(setup: Setup, seed: int) -> Start:
    """Generation 0 of ``seed``: trained and measured, or restored from its checkpoint."""
    human = _human(setup, seed)
    state = setup.checkpoints
    if state is not None and state.latest(seed, None) == 0:
        saved = state.load(seed, None, 0)
        assert saved.start is not None
        model = _restore(setup.family, learner_seed(seed, 0), saved.model_dir, human.gen0)
        return Start(human, model, saved.samples, saved.start.metrics, saved.start.sigma0)
    model = setup.family.new(learner_seed(seed, 0))
    model.fit(human.gen0)
    samples = model.sample(_n_samples(setup), rng_for(seed, 0, "sample"))
    sigma0 = float(model.std()) if setup.family.kind == "numeric" else math.nan
    metrics = _measure(setup, model, samples, sigma0, rng_for(seed, 0, "metric"))
    if state is not None:
        state.save(seed, None, 0, StartRecord(metrics, sigma0), samples,
                   Rows.of(human.gen0, synthetic=False, new=False), None, model)
    return Start(human, model, samples, metrics, sigma0)


def _human(setup: Setup, seed: int) -> SeedData:
    """The human rows ``seed`` uses: drawn from the text pool, or from the numeric family's distribution."""
    cfg, family, schedule = setup.config, setup.family, setup.schedule
    if family.kind == "text":
        return seed_data(setup.split.train, seed, cfg.samples, schedule.human_per_generation(), cfg.generations)
    assert isinstance(family, NumericFamily)
    need = cfg.samples + schedule.human_per_generation() * cfg.generations
    pool = family.draw_human(need, rng_for(seed, 0, "human"))
    return seed_data(pool, seed, cfg.samples, schedule.human_per_generation(), cfg.generations)


def _restore(family: Family, seed: int, model_dir: Path | None, train: np.ndarray | None) -> Any:
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


# --- one arm's lineage -------------------------------------------------------------------------------------------

@dataclass
class _Lineage:
    """What one (arm, seed) lineage carries from a generation to the next."""

    model: Any
    samples: np.ndarray
    """The latest model's samples: the synthetic rows of the next crawl."""
    pool: Rows
    """The rows kept so far (the accumulating schedules crawl them again)."""
    history: list[str]
    """Every document the lineage's models generated (text learners): the replay index and the replayed rows."""


def lineage(setup: Setup, seed: int, arm: Arm, start: Start, retain: dict[int, float]) -> Iterator[Record]:
    """Records of one arm and seed, generation by generation, until the last generation or a collapse.

    ``retain`` holds the reference arm's retain rate per generation, which the random arm copies."""
    first = Record(arm.label, seed, 0, len(start.human.gen0), 0.0, start.metrics, _judge(start.samples, start.metrics))
    yield first
    if first.verdict.collapsed:
        return
    reference = any(isinstance(a, RandomDrop) and a.reference == arm.label for a in setup.arms)
    state = _Lineage(start.model, start.samples, Rows.of(start.human.gen0, synthetic=False, new=False),
                     list(start.samples) if setup.family.kind == "text" else [])
    done, saved = _resume(setup, seed, arm, state)
    for rec in saved:
        if reference and rec.crawl is not None:
            retain[rec.generation] = rec.crawl.filtering.retain_rate
        yield rec
    if saved and saved[-1].verdict.collapsed:
        return
    for t in range(done + 1, setup.config.generations + 1):
        rec = _generation(setup, seed, arm, t, start, state, retain, reference)
        yield rec
        if rec.verdict.collapsed:
            return


def _resume(setup: Setup, seed: int, arm: Arm, state: _Lineage) -> tuple[int, list[Record]]:
    """The generations of a lineage checkpointed by an earlier run (a killed one, or one with fewer generations):
    how many, their records, and ``state`` put back where the last of them left it (unless it collapsed)."""
    checkpoints, done = setup.checkpoints, _checkpointed(setup, seed, arm.label)
    if checkpoints is None or not done:
        return 0, []
    saved = checkpoints.load(seed, arm.label, done)
    if saved.records[-1].verdict.collapsed:
        return done, saved.records
    state.pool, state.samples = saved.pool, saved.samples
    if setup.family.kind == "text":
        state.history += [str(x) for part in checkpoints.samples(seed, arm.label, done) for x in part]
    if done < setup.config.generations:
        state.model = _restore(setup.family, learner_seed(seed, done), saved.model_dir, saved.train)
    return done, saved.records


def _generation(setup: Setup, seed: int, arm: Arm, t: int, start: Start, state: _Lineage,
                retain: dict[int, float], reference: bool) -> Record:
    """Generation t of a lineage: crawl, filter, train, sample, measure, checkpoint. Updates ``state``; the random
    arm reads its target rate from ``retain``, which its ``reference`` arm writes."""
    schedule, salt = setup.schedule, zlib.crc32(arm.label.encode())
    crawl, others, foreign_rows = _crawl(setup, seed, t, start.human, state)
    fit = _fit_context(setup, seed, t, salt, state)
    rate = retain.get(t, retain[max(retain)] if retain else None)  # the reference's, or its last one
    keep = arm.select(crawl, ArmContext(fit, rng_for(seed, t, "arm", salt), setup.trusted_path, rate))
    mask = np.zeros(len(crawl), dtype=bool)
    mask[keep] = True
    filtering = filter_metrics(crawl.synthetic, crawl.new, mask, foreign_rows)
    if reference:
        retain[t] = filtering.retain_rate
    kept = crawl.take(keep)
    state.pool = kept.as_old() if schedule.carries_pool() else kept
    keys = common_keys(seed, t, len(crawl), keep) if setup.config.common_draws else None
    train = schedule.training(state.pool, rng_for(seed, t, "subsample", salt), keys)
    outcome = CrawlOutcome(filtering, len(others), _probe(setup, seed, t, arm, crawl, foreign_rows), dict(fit.notes))
    share = float(train.synthetic.mean()) if len(train) else math.nan
    failed = _train(setup, seed, t, train, state)
    checkpoints = setup.checkpoints
    if failed is not None:
        rec = Record(arm.label, seed, t, len(train), share, {}, Verdict(True, failed), outcome)
        if checkpoints is not None:
            checkpoints.save(seed, arm.label, t, rec, state.samples[:0], state.pool, None, None)
        return rec
    state.samples = state.model.sample(_n_samples(setup), rng_for(seed, t, "sample"))
    if setup.family.kind == "text":
        state.history.extend(state.samples)
    metrics = _measure(setup, state.model, state.samples, start.sigma0, rng_for(seed, t, "metric"))
    rec = Record(arm.label, seed, t, len(train), share, metrics, _judge(state.samples, metrics), outcome)
    if checkpoints is not None:
        checkpoints.save(seed, arm.label, t, rec, state.samples, state.pool, train.items, state.model)
    return rec


def _crawl(setup: Setup, seed: int, t: int, human: SeedData, state: _Lineage
           ) -> tuple[Rows, np.ndarray, np.ndarray | None]:
    """Generation t's crawl, the foreign documents in it, and which of its rows they are (None: no foreign rows)."""
    synthetic, others = _synthetic(setup, state.samples, state.history, rng_for(seed, t, "foreign"))
    crawl = setup.schedule.crawl(state.pool, synthetic, human.fresh_for(t))
    # Marked by content: a replayed document that the previous model happened to write again counts as replayed.
    foreign_rows = crawl.new & crawl.synthetic & np.isin(crawl.items, others) if len(others) else None
    return crawl, others, foreign_rows


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
    parts = setup.config.foreign_parts()
    picked = []
    for i, part in enumerate(parts):
        k_part = k // len(parts) + (i < k % len(parts))  # equal shares; the first parts take the remainder
        if part == "older":
            # The history ends with the previous model's samples; the older generations' come before them.
            picked.append(adversary.pick(history, len(samples), k_part, setup.config.replay_pick, rng,
                                         setup.human_unigram))
        else:
            picked.append(foreign.draw(setup.foreign[part], k_part, rng))
    others = np.concatenate(picked) if picked else own[:0]
    return np.concatenate([own[:n - len(others)], others]), others


def _fit_context(setup: Setup, seed: int, t: int, salt: int, state: _Lineage) -> FitContext:
    """What the practitioner holds at generation t: trusted human text, their previous model to sample from, and
    the log of what their models generated (the last ``replay_window`` generations of it, 0: all)."""
    previous, window = state.model, setup.config.replay_window * len(state.samples)
    articles = setup.split.trusted_articles if setup.config.practitioner_folds == "article" else None
    return FitContext(t, setup.workdir / f"seed{seed}" / f"arm{salt:08x}", setup.split.trusted,
                      lambda n: previous.sample(n, rng_for(seed, t, "practitioner")),
                      state.history[-window:] if window else state.history, setup.config.max_fpr, articles)


def _probe(setup: Setup, seed: int, t: int, arm: Arm, crawl: Rows, foreign_rows: np.ndarray | None
           ) -> tuple[ProbeStats, ...]:
    """The probes' measurements on the new rows of this crawl, if it is the probed arm's: ``none`` (the
    contamination as it comes), else the first arm."""
    probed = next((a for a in setup.arms if a.label == "none"), setup.arms[0])
    if not setup.probes or arm is not probed:
        return ()
    new = np.flatnonzero(crawl.new)
    return tuple(probe.measure(crawl.items[new], crawl.synthetic[new], rng_for(seed, t, "probe", i),
                               None if foreign_rows is None else foreign_rows[new])
                 for i, probe in enumerate(setup.probes))


def _train(setup: Setup, seed: int, t: int, train: Rows, state: _Lineage) -> str | None:
    """Train generation t's model on ``train`` into ``state`` (a warm-started learner continues from its
    predecessor's weights); the reason when there is nothing to train on or training fails."""
    if len(train) == 0:
        return "no training data left after filtering"
    model = setup.family.new(learner_seed(seed, t))
    if hasattr(model, "init_from"):
        model.init_from(state.model)
    try:
        model.fit(train.items)
    except ValueError as exc:
        return f"training failed: {exc}"
    state.model = model
    return None


# --- measuring a model --------------------------------------------------------------------------------------------

def _n_samples(setup: Setup) -> int:
    """Enough samples for the crawl and for the metrics, which read the first N."""
    return max(setup.config.samples, setup.schedule.synthetic_per_generation())


def _measure(setup: Setup, model: Any, samples: np.ndarray, sigma0: float, rng: np.random.Generator
             ) -> dict[str, Any]:
    """The model's held-out scores, and the metrics of its first N samples."""
    samples = samples[:setup.config.samples]
    out: dict[str, Any] = dict(model.evaluate(setup.split.test))
    if setup.family.kind == "numeric":
        return out | numeric_metrics(model, setup.split.test, sigma0, rng)
    out["perplexity"] = math.exp(out["test_ce"]) if out["test_ce"] < 700 else math.inf
    kept = _nonempty(samples)
    out["empty_share"] = 1.0 - len(kept) / max(len(samples), 1)
    assert setup.reference is not None
    return out | text_metrics(kept, setup.reference, rng, setup.config.bleu_docs)


def _judge(samples: np.ndarray, metrics: dict[str, Any]) -> Verdict:
    """A generation whose samples are all empty, or whose model is degenerate, is a collapse."""
    if len(_nonempty(samples)) == 0:
        return Verdict(True, "every sample was empty")
    if not math.isfinite(metrics["test_ce"]):
        return Verdict(True, "degenerate model (non-finite test cross-entropy)")
    return Verdict(False)


def _nonempty(samples: np.ndarray) -> np.ndarray:
    """The samples that are not blank documents (numeric samples are all kept)."""
    if samples.dtype != object:
        return samples
    return samples[np.array([bool(str(s).strip()) for s in samples], dtype=bool)] if len(samples) else samples
