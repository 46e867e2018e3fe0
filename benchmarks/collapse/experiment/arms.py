"""The arms of the experiment: what each does to a crawl before the next model trains on it.

``none`` keeps everything; ``oracle`` drops exactly the synthetic rows (the hidden label); ``random`` drops new rows
at the retain rate of a reference arm, so a gain is not just less data; a detector name, ``filter:a+b`` or
``filter`` (every installed detector) runs the real filterkit pipeline on the crawl written as Parquet;
``weight`` draws new rows without replacement by ``(1 - p_machine)^k``, each at most ``weight_cap`` times
(Drayson et al. 2025); ``replay`` filters with a replay index of everything
earlier generations produced; ``shipped`` and ``shipped_cal`` run the classifier as a user installs it (the default
model in the package, never refitted), at its own threshold or at one calibrated on the run's trusted human text.
Only ``none``, ``oracle`` and ``random`` read the labels, by design.
"""
from __future__ import annotations

import logging
import shutil
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from benchmarks.collapse.data.rows import Rows
from benchmarks.collapse.experiment.practitioner import (
    DEFAULT_CALIBRATION,
    FITTERS,
    ArmUnavailable,
    FitContext,
    is_corpus_wide,
)
from detectors.classifier.detector import packaged_model_params
from filterkit import DetectorSpec, FilterConfig, Rule, WeightSpec, run
from filterkit.contract import registry
from filterkit.engine.calibrate import calibrate

log = logging.getLogger(__name__)
ROW = "collapse_row"
BASE_ARMS = ("none", "oracle", "random", "filter", "weight", "replay", "shipped", "shipped_cal")


@dataclass
class ArmContext:
    """What an arm gets at generation t: the practitioner's means, a generator, and the random arm's target."""

    fit: FitContext
    rng: np.random.Generator
    trusted_path: Path | None
    reference_retain: float | None = None


@dataclass
class ArmSettings:
    """Run-wide settings the detector arms need."""

    detector_params: dict[str, dict[str, Any]] = field(default_factory=dict)
    calibrate: dict[str, str] = field(default_factory=dict)
    """Score column to direction (``>=`` or ``<=``), thresholded on trusted human text at ``max_fpr``."""
    max_fpr: float = 0.01
    weight_column: str = "classifier.p_machine"
    weight_power: float = 1.0
    weight_cap: int = 10
    """Most times the weight arm may draw one document (Drayson et al.'s ``max_repeats``, 10 in their code)."""
    weight_size: float = 1.0
    """Draws of the weight arm as a share of the new rows; 1.0 trains on as many rows as ``none`` does."""
    shipped_model: str = "default"
    """The packaged classifier model the ``shipped`` arms run."""

    def __post_init__(self) -> None:
        if int(self.weight_cap) != self.weight_cap or self.weight_cap < 1:
            raise ValueError(f"weight_cap must be a whole number >= 1, got {self.weight_cap!r}")
        if not (self.weight_size > 0 and np.isfinite(self.weight_size)):
            raise ValueError(f"weight_size must be a finite share > 0, got {self.weight_size!r}")


class Arm(ABC):
    """One arm; ``select`` returns the crawl positions to keep (repeats allowed, for resampling)."""

    label: str
    needs_text: bool = False

    def check(self) -> None:  # noqa: B027 (a hook; most arms need nothing installed)
        """Raise ``ArmUnavailable`` when the arm cannot run with what is installed."""

    @abstractmethod
    def select(self, crawl: Rows, ctx: ArmContext) -> np.ndarray:
        """Positions of the crawl rows the next generation may train on."""


class NoFilter(Arm):
    """Keep every row."""

    label = "none"

    def select(self, crawl: Rows, ctx: ArmContext) -> np.ndarray:
        """Every row."""
        return np.arange(len(crawl))


class Oracle(Arm):
    """Drop exactly the new synthetic rows: perfect detection, the ceiling for any filter."""

    label = "oracle"

    def select(self, crawl: Rows, ctx: ArmContext) -> np.ndarray:
        """Rows that are human or were kept before."""
        return np.flatnonzero(~(crawl.synthetic & crawl.new))


class RandomDrop(Arm):
    """Drop new rows uniformly at random at the reference arm's retain rate for the same seed and generation."""

    label = "random"

    def __init__(self, reference: str) -> None:
        self.reference = reference

    def select(self, crawl: Rows, ctx: ArmContext) -> np.ndarray:
        """Old rows, plus round(rate x new) new rows chosen uniformly."""
        if ctx.reference_retain is None:
            raise ArmUnavailable(f"the random arm has no retain rate: its reference arm {self.reference!r} did not run")
        new = np.flatnonzero(crawl.new)
        keep = ctx.rng.choice(new, size=round(ctx.reference_retain * len(new)), replace=False)
        return np.sort(np.concatenate([np.flatnonzero(~crawl.new), keep]))


class PipelineArm(Arm):
    """Run ``filterkit.run`` with the named detectors (fitted as a practitioner could) and keep what it keeps."""

    needs_text = True

    def __init__(self, label: str, names: list[str] | None, settings: ArmSettings, strict: bool = True) -> None:
        self.label, self.names, self.settings, self.strict = label, names, settings, strict
        self._calibrated: dict[str, FilterConfig] = {}
        self._dropped: dict[str, str] = {}
        self._rules: dict[str, None] = {}

    def check(self) -> None:
        """Every named detector must be registered (``filter`` takes whatever is)."""
        missing = [n for n in self.names or () if n not in registry.available()]
        if missing:
            raise ArmUnavailable(f"arm {self.label!r}: detector(s) {missing} not registered "
                                 f"(installed: {sorted(registry.available())})")

    def detector_names(self) -> list[str]:
        """The detectors this arm uses, before any is dropped as unusable."""
        return list(self.names) if self.names is not None else sorted(registry.available())

    def config(self, ctx: ArmContext) -> FilterConfig:
        """Fitted detector specs, with their default rules plus thresholds calibrated on trusted human text."""
        specs, rules = [], []
        for name in self.detector_names():
            if name in self._dropped:
                continue
            try:
                spec, spec_rules = self._one(name, ctx)
            except (ArmUnavailable, ImportError, ValueError) as exc:
                if self.strict and isinstance(exc, ValueError):
                    raise  # bad parameters for a detector the user named: their error to see
                if self.strict:
                    raise ArmUnavailable(str(exc)) from exc
                self._dropped[name] = str(exc)
                log.warning("arm %s: leaving out detector %s: %s", self.label, name, exc)
                continue
            specs.append(spec)
            rules.extend(spec_rules)
        if not specs:
            raise ArmUnavailable(f"arm {self.label!r}: no usable detector ({self._dropped})")
        self._rules.update(dict.fromkeys(f"{r.column} {r.op} {r.threshold:.6g}" for r in rules))
        return FilterConfig(detectors=tuple(specs), rules=tuple(rules), rows_per_shard=1_000_000)

    def _one(self, name: str, ctx: ArmContext) -> tuple[DetectorSpec, list[Rule]]:
        params = dict(self.settings.detector_params.get(name, {}))
        if name in FITTERS:
            params = FITTERS[name](ctx.fit, params)
        spec = DetectorSpec(name, params)
        detector = registry.build(name, params)
        detector.setup()  # a model or index that cannot be had leaves this arm out, before any generation
        rules = detector.default_rules()
        columns = [c for c in self.settings.calibrate if c.split(".")[0] == name]
        if not rules and not columns and name in DEFAULT_CALIBRATION:
            columns = [DEFAULT_CALIBRATION[name][0]]
        if not rules and not columns:
            raise ArmUnavailable(f"detector {name!r} has no default rules; name one of its score columns in "
                                 f"`calibrate` so a threshold can be set on trusted human text")
        if columns:
            rules = [r for r in rules if r.column not in columns] + [self._calibrate(spec, c, ctx) for c in columns]
        return spec, rules

    def _calibrate(self, spec: DetectorSpec, column: str, ctx: ArmContext) -> Rule:
        key = f"{spec.key()}|{column}"
        if key not in self._calibrated:
            if ctx.trusted_path is None:
                raise ArmUnavailable("calibration needs trusted human text, which this learner has none of")
            op = self.settings.calibrate.get(column) or DEFAULT_CALIBRATION.get(spec.name, (column, ">="))[1]
            base = FilterConfig(detectors=(spec,), rules=(), rows_per_shard=1_000_000)
            self._calibrated[key], info = calibrate([str(ctx.trusted_path)], base, column,
                                                    self.settings.max_fpr, op)  # type: ignore[arg-type]
            log.info("arm %s: %s calibrated on trusted human text: %s", self.label, column, info)
        return self._calibrated[key].rules[-1]

    def select(self, crawl: Rows, ctx: ArmContext) -> np.ndarray:
        """Old rows stay; new rows stay when the pipeline keeps them."""
        config = self.config(ctx)
        corpus_wide = any(is_corpus_wide(s.name) for s in config.detectors)
        # Corpus-wide detectors (dedup) must see the rows kept earlier; row detectors need only the new ones.
        shown = np.arange(len(crawl)) if corpus_wide else np.flatnonzero(crawl.new)
        kept = run_pipeline(crawl.items[shown], config, ctx.fit.workdir / "pipeline")[ROW].to_numpy()
        keep = np.zeros(len(crawl), dtype=bool)
        keep[shown[kept]] = True
        return np.flatnonzero(keep | ~crawl.new)

    def notes(self) -> dict[str, str]:
        """Detectors left out of the arm, and why."""
        return dict(self._dropped)

    def rules_used(self) -> list[str]:
        """Every rule this arm has filtered by (``column op threshold``), in first use: a calibrated threshold
        differs by seed, and a packaged model's default may change between runs, so the run records them."""
        return list(self._rules)


class ShippedArm(PipelineArm):
    """The shipped detector as a user runs it: ``DetectorSpec("classifier")`` with no model path (the package's
    default model, or the packaged model ``shipped_model`` names; never refitted), at its out-of-the-box threshold
    or (``calibrated``) at ``max_fpr`` on the run's trusted human text, as ``filterkit calibrate`` sets it."""

    def __init__(self, settings: ArmSettings, calibrated: bool) -> None:
        super().__init__("shipped_cal" if calibrated else "shipped", ["classifier"], settings)
        self.calibrated = calibrated

    def _one(self, name: str, ctx: ArmContext) -> tuple[DetectorSpec, list[Rule]]:
        params = packaged_model_params(self.settings.shipped_model)
        spec = DetectorSpec(name, params)
        if self.calibrated:  # the rule is calibrated once a run, by scoring the trusted text through the pipeline
            return spec, [self._calibrate(spec, DEFAULT_CALIBRATION[name][0], ctx)]
        detector = registry.build(name, params)
        detector.setup()  # the packaged model's threshold is read from its manifest
        return spec, detector.default_rules()


def capped_weighted_draw(weights: np.ndarray, size: int, cap: int, rng: np.random.Generator) -> np.ndarray:
    """Positions of ``size`` weighted draws without replacement from ``cap`` copies of each row (sorted)."""
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 1 or not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError("weights must be a 1-D array of finite values >= 0")
    if cap < 1 or size < 0:
        raise ValueError(f"need cap >= 1 and size >= 0, got cap={cap}, size={size}")
    # Efraimidis-Spirakis: keep the copies with the smallest E / w, E ~ Exp(1) (the same order as the top u^(1/w)
    # keys), compared in logs so that a subnormal weight cannot overflow to the infinite key of a zero weight.
    # Copies of a row are exchangeable, so this is the same law as successive draws without replacement from the
    # rows repeated ``cap`` times (Drayson et al.'s np.random.choice). The rng always advances by len(w) * cap
    # draws, so later draws from it do not depend on the weights.
    exp = rng.standard_exponential((len(w), cap))
    with np.errstate(divide="ignore"):
        keys = np.where(w[:, None] > 0, np.log(exp) - np.log(w)[:, None], np.inf).ravel()
    m = min(size, int(np.count_nonzero(w > 0)) * cap)  # zero-weight rows are never drawn, even if short
    if m == 0:
        return np.array([], dtype=np.intp)
    chosen = np.argpartition(keys, m - 1)[:m] if m < len(keys) else np.arange(len(keys))
    return np.sort(chosen // cap)


class WeightArm(PipelineArm):
    """Drayson et al.'s importance resampling: new rows are drawn without replacement with weight
    ``(1 - clip(p_machine, 0, 1))^k`` (filterkit's weight mode), each at most ``weight_cap`` times, ``weight_size``
    x (new rows) draws in all. Its TPR and FPR count the new rows never drawn."""

    def __init__(self, settings: ArmSettings) -> None:
        super().__init__("weight", [settings.weight_column.split(".")[0]], settings)

    def config(self, ctx: ArmContext) -> FilterConfig:
        """The detector of the weight column, no drop rules, weight mode."""
        spec, _ = self._one(self.names[0], ctx)
        return FilterConfig(detectors=(spec,), rules=(), mode="weight", rows_per_shard=1_000_000,
                            weight=WeightSpec(self.settings.weight_column, self.settings.weight_power))

    def select(self, crawl: Rows, ctx: ArmContext) -> np.ndarray:
        """Old rows, plus the capped weighted draws from the new rows (repeats allowed up to the cap)."""
        config = self.config(ctx)
        corpus_wide = any(is_corpus_wide(s.name) for s in config.detectors)
        shown = np.arange(len(crawl)) if corpus_wide else np.flatnonzero(crawl.new)
        table = run_pipeline(crawl.items[shown], config, ctx.fit.workdir / "pipeline", weight=True)
        # Rows the pipeline did not keep (quarantined) keep weight 0, so they are never drawn.
        weight = np.zeros(len(crawl))
        # A null weight (a row with no score) is never drawn rather than failing the draw.
        weight[shown[table[ROW].to_numpy()]] = np.nan_to_num(table["weight"].to_numpy(zero_copy_only=False), nan=0.0)
        new = np.flatnonzero(crawl.new)
        size = round(self.settings.weight_size * len(new))
        draws = new[capped_weighted_draw(weight[new], size, self.settings.weight_cap, ctx.rng)]
        if len(draws) < size:
            log.info("arm weight: only %d of %d draws possible (%d rows with weight > 0, cap %d)", len(draws), size,
                     int(np.count_nonzero(weight[new] > 0)), self.settings.weight_cap)
        return np.concatenate([np.flatnonzero(~crawl.new), draws])


def run_pipeline(texts: np.ndarray, config: FilterConfig, workdir: Path, weight: bool = False) -> pa.Table:
    """Write the texts as a Parquet crawl, run filterkit on it, and read back which rows it kept."""
    workdir.mkdir(parents=True, exist_ok=True)
    crawl = workdir / "crawl.parquet"
    pq.write_table(pa.table({"text": pa.array(list(texts), pa.string()), ROW: np.arange(len(texts))}), crawl)
    result = run([str(crawl)], workdir / "out", config, overwrite=True)
    kept_files = sorted(str(p) for p in (result.out / "kept").glob("*.parquet"))
    columns = [ROW, "weight"] if weight else [ROW]
    table = ds.dataset(kept_files).to_table(columns=columns) if kept_files else pa.table(
        {c: pa.array([], pa.int64() if c == ROW else pa.float64()) for c in columns})
    shutil.rmtree(workdir / "out", ignore_errors=True)
    return table


def parse(names: list[str], kind: str, settings: ArmSettings, random_reference: str | None = None) -> list[Arm]:
    """Arms from their names, in run order (the random arm's reference first); unknown names are an error."""
    available = registry.available()
    valid = [*BASE_ARMS, *sorted(available), "filter:NAME+NAME"]
    arms: list[Arm] = []
    for name in names:
        if name == "none":
            arms.append(NoFilter())
        elif name == "oracle":
            arms.append(Oracle())
        elif name == "random":
            arms.append(RandomDrop(""))
        elif name == "filter":
            arms.append(PipelineArm("filter", None, settings, strict=False))
        elif name == "weight":
            arms.append(WeightArm(settings))
        elif name == "replay":
            arms.append(PipelineArm("replay", ["replay"], settings))
        elif name in ("shipped", "shipped_cal"):
            arms.append(ShippedArm(settings, calibrated=name == "shipped_cal"))
        elif name.startswith("filter:") and name[7:]:
            parts = name[7:].split("+")
            unknown = [p for p in parts if p not in available]
            if unknown:
                raise ValueError(f"arm {name!r}: unknown detector(s) {unknown}; registered: {sorted(available)}")
            arms.append(PipelineArm(name, parts, settings))
        elif name in available:
            arms.append(PipelineArm(name, [name], settings))
        else:
            raise ValueError(f"unknown arm {name!r}; valid arms: {', '.join(valid)}")
    labels = [a.label for a in arms]
    if len(set(labels)) < len(labels):
        raise ValueError(f"each arm may be named once, got {labels}")
    if kind != "text":
        text_only = [a.label for a in arms if a.needs_text]
        if text_only:
            raise ValueError(f"arms {text_only} run text detectors; with a numeric learner use none, oracle, random")
    return _order(arms, random_reference)


def _order(arms: list[Arm], reference: str | None) -> list[Arm]:
    random_arm = next((a for a in arms if isinstance(a, RandomDrop)), None)
    if random_arm is None:
        return arms
    labels = [a.label for a in arms]
    if reference is None:
        reference = next((a.label for a in arms if isinstance(a, PipelineArm)), "oracle")
    if reference not in labels:
        raise ValueError(f"the random arm copies the retain rate of arm {reference!r}, which is not among {labels}")
    random_arm.reference = reference
    ref = next(a for a in arms if a.label == reference)
    return [ref] + [a for a in arms if a is not ref]
