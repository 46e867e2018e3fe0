"""The typed configuration of a collapse run, loadable from YAML or TOML."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.collapse.analysis.rules import CollapseRule
from benchmarks.collapse.data.human import TEXT_SOURCES
from benchmarks.collapse.experiment import schedules
from benchmarks.collapse.learners.base import names as learner_names
from filterkit.config import check_keys, load_mapping, with_changes

REPLAY_PICKS = ("random", "oldest", "humanlike")
FOREIGN_SOURCES = ("shared", "unseen", "smollm2", "older")

DEFAULT_RULES = {
    "numeric": (CollapseRule("sigma_ratio", "<", 0.5, relative=False),),
    "text": (CollapseRule("test_ce", ">=", 1.10), CollapseRule("human_types_kept", "<", 0.5)),
}
"""Sigma below half its start; +10% test cross-entropy or half the human types gone."""


@dataclass(frozen=True)
class CollapseConfig:
    """Everything that decides a collapse run; equal configs give equal results."""

    learner: str = "ngram"
    schedule: str = "fixed"
    arms: tuple[str, ...] = ("none", "oracle", "random")
    """Cheap defaults that suit every learner; ``filter`` (every registered detector, the LM one included) is
    slow on a CPU."""
    generations: int = 10
    seeds: int = 3
    samples: int = 500
    """N: items generation 0 trains on; metrics read N samples of every model."""
    crawl_rows: int | None = None
    """C: new rows per crawl. Default: N / alpha under the fixed schedule, so that the crawl holds as much human
    data as generation 0 trained on (else the oracle starves on alpha x N rows and data quantity confounds the
    comparison); N under the others."""
    alpha: float = 0.1
    """Human share of each crawl under the fixed schedule."""
    budget: int | None = None
    """Training size: under the subsample schedule (default: samples); under the fixed schedule, when set, each
    model trains on this many of the rows its filter kept (drawn uniformly), so that a filter that keeps fewer rows
    does not also train on less data (None: on every kept row)."""
    common_draws: bool = False
    """With a budget, every arm of a seed draws its training rows by the smallest of one set of uniform keys over
    the crawl's rows (common random numbers): arms that keep nearly the same rows train on nearly the same draw, so
    their difference is their filters', not the draw's. False: each arm draws on its own (the runs before it)."""
    learner_params: dict[str, Any] = field(default_factory=dict)
    detector_params: dict[str, dict[str, Any]] = field(default_factory=dict)
    calibrate: dict[str, str] = field(default_factory=dict)
    max_fpr: float = 0.01
    weight_column: str = "classifier.p_machine"
    weight_power: float = 1.0
    weight_cap: int = 10
    """The ``weight`` arm draws one document at most this many times (Drayson et al.'s ``max_repeats``; their
    code's default is 10). With 1 the arm can only drop rows, never up-weight likely human ones."""
    weight_size: float = 1.0
    """Draws of the ``weight`` arm, as a share of the crawl's new rows. 1.0 trains on as many rows as ``none``,
    so a gain is not more data (Drayson et al.'s code draws 1.5x); with ``weight_cap: 1``, 1.0 keeps every row
    of weight > 0, so lower it there."""
    shipped_model: str = "default"
    """The packaged classifier model the ``shipped`` arms run (``detectors.classifier.detector.PACKAGED_MODELS``)."""
    random_reference: str | None = None
    collapse_rules: tuple[CollapseRule, ...] | None = None
    """None: the learner kind's defaults (``DEFAULT_RULES``)."""
    benefit_metric: str = "test_ce"
    """Lower is better; the oracle-normalised benefit is measured on it."""
    doc_words: int = 150
    test_fraction: float = 0.1
    trusted_fraction: float = 0.1
    trusted_by: str = "row"
    """How trusted human text is drawn: ``row`` (documents of the training articles, as the crawl's human rows
    are, so thresholds set on it hold on the crawl) or ``article`` (whole articles nobody trains on)."""
    practitioner_folds: str = "opening"
    """How the practitioner's classifier groups its cross-validation folds, which set its threshold: ``opening``
    (texts by their opening words, as every run before 2026-12-07: windows of one trusted article land in
    different folds, so the out-of-fold threshold never meets an article it did not train on, while the crawl's
    humans come from other articles) or ``article`` (folds by trusted article, as the brief's "split by article"
    asks; the practitioner knows where their trusted text came from)."""
    foreign_share: float = 0.0
    """Share of each crawl's synthetic rows written by models other than the learner's previous one."""
    foreign_source: str = "shared"
    """Who writes them: ``shared`` (the shared sets' open and chat models), ``unseen`` (the shared ImBD and base-model
    texts of the articles the shipped classifier never trained on: six chat and instruction models, five base
    models), ``smollm2`` (the bundled model, continuing human prefixes) or ``older`` (the learner's own earlier
    generations); several joined by ``+`` (``older+unseen``) share the foreign rows equally."""
    human_sources: tuple[str, ...] = TEXT_SOURCES
    """The shared human corpora the loop's human data come from (paths under the shared data directory)."""
    validation_fraction: float = 0.0
    """Share of the human articles set aside for choosing settings off the test set (0: none, the old split)."""
    replay_pick: str = "random"
    """With ``older``, which earlier outputs the replay adversary re-injects (Racca et al.): ``random`` (uniform
    over every earlier generation's samples), ``oldest`` (generation 0's model's, the least degenerate) or
    ``humanlike`` (those a word-unigram model of the trusted human text scores highest per word: a public
    stand-in for the filter the adversary wants to pass)."""
    replay_window: int = 0
    """Generations of the learner's outputs the ``replay`` arm's index holds, the latest first (0: all of them;
    1: the previous model's only, as a vendor that logs only its current model)."""
    probes: tuple[str, ...] = ()
    """Detectors (``lm``, ``classifier``, ``replay``) that score ``probe_rows`` random new rows of each crawl of
    the ``none`` arm (else the first arm) without deciding anything: their realised TPR, FPR and AUROC per
    generation, at a threshold set on trusted human text at ``max_fpr``."""
    probe_rows: int = 200
    foreign_cache: str = "~/.cache/filterkit/collapse"
    """Where generated ``smollm2`` documents are kept between runs."""
    test_docs: int | None = None
    """Evaluate on at most this many held-out human documents (None: all of them)."""
    numeric_test_size: int = 10_000
    bleu_docs: int = 50
    bootstrap: int = 2000
    keep_work: bool = False
    checkpoint: bool = True
    """Checkpoint every generation under ``OUT/_state`` (so ``--resume`` works); off for runs of cheap learners
    over thousands of seeds, where writing the state costs more than recomputing it."""
    plots: bool = True
    """Write results.png (matplotlib)."""

    def __post_init__(self) -> None:
        learners_known = learner_names()
        if self.learner not in learners_known:
            raise ValueError(f"unknown learner {self.learner!r}; valid learners: {', '.join(learners_known)}")
        if self.schedule not in schedules.SCHEDULES:
            raise ValueError(f"unknown schedule {self.schedule!r}; valid schedules: {', '.join(schedules.SCHEDULES)}")
        if self.schedule == "fixed" and not 0.0 < self.alpha < 1.0:
            raise ValueError(f"the fixed schedule needs 0 < alpha < 1, got {self.alpha}")
        if not self.arms:
            raise ValueError("name at least one arm")
        if self.generations < 1 or self.seeds < 1 or self.samples < 2 or (self.crawl_rows or 2) < 2:
            raise ValueError("need generations >= 1, seeds >= 1, samples >= 2 and crawl_rows >= 2")
        if self.trusted_by not in ("row", "article"):
            raise ValueError(f"trusted_by must be 'row' or 'article', got {self.trusted_by!r}")
        if self.practitioner_folds not in ("opening", "article"):
            raise ValueError(f"practitioner_folds must be 'opening' or 'article', got {self.practitioner_folds!r}")
        if not 0.0 <= self.foreign_share <= 1.0:
            raise ValueError(f"foreign_share must be in [0, 1], got {self.foreign_share}")
        if not set(self.foreign_parts()) <= set(FOREIGN_SOURCES):
            raise ValueError(f"foreign_source must be one of {FOREIGN_SOURCES} or several joined by '+', "
                             f"got {self.foreign_source!r}")
        if not 0.0 <= self.validation_fraction < 1.0 - self.test_fraction - self.trusted_fraction:
            raise ValueError(f"validation_fraction must leave training articles, got {self.validation_fraction}")
        if self.replay_pick not in REPLAY_PICKS or self.replay_window < 0:
            raise ValueError(f"replay_pick must be one of {REPLAY_PICKS} (got {self.replay_pick!r}) and "
                             f"replay_window >= 0 (got {self.replay_window})")
        if not (0.0 < self.test_fraction and 0.0 <= self.trusted_fraction
                and self.test_fraction + self.trusted_fraction < 1.0):
            raise ValueError("need test_fraction > 0, trusted_fraction >= 0 and their sum < 1")

    def crawl(self) -> int:
        """C, with the schedule's default filled in."""
        if self.crawl_rows is not None:
            return self.crawl_rows
        return round(self.samples / self.alpha) if self.schedule == "fixed" else self.samples

    def foreign_parts(self) -> tuple[str, ...]:
        """The foreign sources, in order."""
        return tuple(p.strip() for p in self.foreign_source.split("+"))

    def rules(self, kind: str) -> tuple[CollapseRule, ...]:
        """The collapse rules in force for a learner of ``kind``."""
        return self.collapse_rules if self.collapse_rules is not None else DEFAULT_RULES[kind]

    def to_dict(self) -> dict[str, Any]:
        """Plain data, for run.json."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CollapseConfig:
        """Build from plain data; unknown keys are an error so a typo never passes silently."""
        check_keys(cls, data, "collapse config keys")
        data = dict(data)
        if isinstance(data.get("arms"), str):
            data["arms"] = tuple(a.strip() for a in data["arms"].split(",") if a.strip())
        elif data.get("arms") is not None:
            data["arms"] = tuple(data["arms"])
        for key in ("probes", "human_sources"):
            if data.get(key) is not None:
                data[key] = tuple(data[key])
        if data.get("collapse_rules") is not None:
            data["collapse_rules"] = tuple(r if isinstance(r, CollapseRule) else CollapseRule(**r)
                                           for r in data["collapse_rules"])
        return cls(**data)

    def replace(self, **changes: Any) -> CollapseConfig:
        """A copy with the non-None ``changes`` applied."""
        return CollapseConfig.from_dict(with_changes(self, changes))


def load(path: str | Path) -> CollapseConfig:
    """A config from a ``.yaml``/``.yml`` or ``.toml`` file."""
    return load_mapping(path, CollapseConfig.from_dict)
