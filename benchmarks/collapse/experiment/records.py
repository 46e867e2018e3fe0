"""The typed records of a collapse run: one per (arm, seed, generation), and what a seed's generation 0 leaves for
its arms.

``to_dict`` is the JSON that results.json and the checkpoints hold, key for key and in the order the loop has
always written them (the committed results and the state of a run started before the records were typed read
back unchanged); ``from_dict`` reads a record back from it, so ``to_dict(from_dict(d)) == d``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from benchmarks.collapse.analysis.metrics import FILTER_COLUMNS, FilterStats
from benchmarks.collapse.experiment.probes import ProbeStats

_IDS = ("arm", "seed", "generation")
_TRAINING = ("train_size", "synthetic_share")
_VERDICT = ("collapsed", "collapse_reason")
_FOREIGN_ROWS = "crawl_foreign_rows"


@dataclass(frozen=True)
class Verdict:
    """Whether the lineage broke at a generation (every sample empty, a degenerate model, nothing left to train
    on), and why: a breakdown is recorded, never a silent zero."""

    collapsed: bool
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """``collapsed`` as 0 or 1, and ``collapse_reason`` where there is one."""
        return {"collapsed": int(self.collapsed)} | ({} if self.reason is None else {"collapse_reason": self.reason})

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Verdict:
        """Read the verdict columns of a record."""
        return cls(bool(data["collapsed"]), data.get("collapse_reason"))


@dataclass(frozen=True)
class CrawlOutcome:
    """What became of generation t's crawl (t >= 1) before the next model trained on it."""

    filtering: FilterStats
    """What the arm removed and kept."""
    foreign_rows: int | None
    """Synthetic rows written by other models than the previous one (or replayed by the adversary); None only in
    records written before crawls could hold such rows."""
    probes: tuple[ProbeStats, ...] = ()
    """What the probes measured on this crawl (only on the probed arm's crawls)."""
    fit_notes: dict[str, float] = field(default_factory=dict)
    """What the practitioner's fitters chose this generation (``fit_*`` columns)."""

    def to_dict(self) -> dict[str, Any]:
        """The crawl's columns: filter, probes, fitters, foreign rows."""
        out: dict[str, Any] = self.filtering.to_dict()
        for probe in self.probes:
            out |= probe.to_dict()
        return out | self.fit_notes | ({} if self.foreign_rows is None else {_FOREIGN_ROWS: self.foreign_rows})

    @staticmethod
    def columns(data: dict[str, Any]) -> set[str]:
        """The keys of a record that belong to its crawl outcome."""
        filtering = {*FILTER_COLUMNS, "filter_tpr_foreign", "filter_tpr_own", _FOREIGN_ROWS}
        return {k for k in data if k in filtering or k.startswith(("probe_", "fit_"))}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CrawlOutcome:
        """Read the crawl's columns of a record."""
        return cls(FilterStats.from_dict(data), data.get(_FOREIGN_ROWS), ProbeStats.from_dict(data),
                   {k: v for k, v in data.items() if k.startswith("fit_")})


@dataclass(frozen=True)
class Record:
    """One arm's model at one seed and generation: what it trained on, how it measured, and the verdict.

    Generation 0 (shared by every arm of a seed) has no crawl; every later generation has one. ``metrics`` are
    the learner's held-out scores and the sample metrics (names depend on the learner kind; empty when training
    failed)."""

    arm: str
    seed: int
    generation: int
    train_size: int
    synthetic_share: float
    metrics: dict[str, Any]
    verdict: Verdict
    crawl: CrawlOutcome | None = None

    def to_dict(self) -> dict[str, Any]:
        """The record as results.json holds it. Generation 0 lists its metrics before the training columns, later
        generations after them (the order records were always written in)."""
        ids = {"arm": self.arm, "seed": self.seed, "generation": self.generation}
        training = {"train_size": self.train_size, "synthetic_share": self.synthetic_share}
        if self.crawl is None:
            return ids | self.metrics | training | self.verdict.to_dict()
        return ids | self.crawl.to_dict() | training | self.metrics | self.verdict.to_dict()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Record:
        """Read a record back from its JSON form (a checkpoint, or results.json)."""
        crawl = CrawlOutcome.from_dict(data) if data["generation"] > 0 else None
        taken = set(_IDS + _TRAINING + _VERDICT) | (CrawlOutcome.columns(data) if crawl is not None else set())
        return cls(data["arm"], data["seed"], data["generation"], data["train_size"], data["synthetic_share"],
                   {k: v for k, v in data.items() if k not in taken}, Verdict.from_dict(data), crawl)


@dataclass(frozen=True)
class StartRecord:
    """What a seed's generation 0 checkpoints for its arms: the model's metrics, and its sigma (NaN for text), the
    yardstick of every later generation's ``sigma_ratio``."""

    metrics: dict[str, Any]
    sigma0: float

    def to_dict(self) -> dict[str, Any]:
        """The metrics, then ``sigma0``."""
        return self.metrics | {"sigma0": self.sigma0}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StartRecord:
        """Read it back from a checkpoint."""
        return cls({k: v for k, v in data.items() if k not in (*_IDS, "sigma0")}, data["sigma0"])
