"""Scoring a list of texts with the row-local detectors: validation, the text defence, scores and the stage's
decision, outside a run. ``RowScorer`` is the engine of ``filterkit.adapters.hf_datasets.score_dataset`` and of
``filterkit.adapters.datatrove_step.FilterkitFilter``.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from filterkit.config import DetectorSpec, FilterConfig
from filterkit.contract.detector import Detector, RowDetector
from filterkit.engine.pipeline import filter_stage
from filterkit.engine.scoring import (
    defend_and_score,
    load_detectors,
    without_defended_text,
)
from filterkit.io.sources import (
    QUARANTINE_ERROR,
    QUARANTINE_REASON,
    SOURCE_ROW,
    set_columns,
    validate,
)
from filterkit.stage.rules import FILTER_DECISION, FILTER_REASON, KEEP, QUARANTINE, REMOVE, FilterStage, Rule

log = logging.getLogger(__name__)

DECISION_COLUMNS = (FILTER_DECISION, FILTER_REASON, QUARANTINE_REASON, QUARANTINE_ERROR)
"""The columns ``score_dataset`` adds besides the detectors' score columns (all strings)."""
_PROBE = "This is a short, ordinary sentence that filterkit scores once to learn the width of a list column."


def resolve_config(config: FilterConfig | None, detectors: str | Sequence[str] | None = None,
                   rules: Sequence[Rule] | None = None) -> FilterConfig:
    """The config a streaming step runs: ``config``, with its detectors and rules replaced by those given."""
    if config is None and detectors is None:
        raise ValueError("give a FilterConfig or the names of row-local detectors (e.g. detectors=['length'])")
    config = config or FilterConfig()
    if detectors is not None:
        names = [detectors] if isinstance(detectors, str) else list(detectors)
        if not names:
            raise ValueError("detectors is empty: name at least one row-local detector")
        config = config.replace(detectors=tuple(DetectorSpec(n) for n in names))
    if rules is not None:
        config = config.replace(rules=tuple(rules))
    return config


def refuse_corpus_wide(dets: Sequence[Detector]) -> None:
    """Raise ValueError naming every detector that is not row-local (a streaming step cannot see the corpus)."""
    corpus = [d.name for d in dets if not isinstance(d, RowDetector)]
    if corpus:
        raise ValueError(
            f"detectors {corpus} are corpus-wide: their result for a document depends on every other document, "
            "which a streaming step (a datatrove filter, a datasets map) never sees; run them with filterkit.run "
            "over the whole corpus, and use only row-local detectors here"
        )


@dataclass(frozen=True)
class ScoredBatch:
    """What ``RowScorer.score`` decided for each input text, in input order (lists of equal length)."""

    decision: list[str]
    """``keep``, ``remove`` or ``quarantine``."""
    reason: list[str | None]
    """The fired rules' labels (``;``-joined) for removed rows, else None."""
    quarantine_reason: list[str | None]
    quarantine_error: list[str | None]
    weight: list[float | None]
    """The filter stage's sampling weight (0 for removed rows, None for quarantined ones)."""
    scores: dict[str, list[Any]]
    """Every detector column, None where a row was not scored; NaN scores stay NaN."""


class RowScorer:
    """Row-local detectors and the filter stage of one config, built and set up on first use, never in ``__init__``.

    Pickling drops what was built, so a copy sent to another process builds its own there (``load_detectors`` is
    cached per process).
    """

    def __init__(self, config: FilterConfig, source: str = "batch") -> None:
        self.config = config
        self.source = source
        self._dets: tuple[RowDetector, ...] | None = None
        self._stage: FilterStage | None = None

    def __getstate__(self) -> dict[str, Any]:
        """State without the built detectors, which the receiving process builds (and sets up) itself."""
        return {**self.__dict__, "_dets": None, "_stage": None}

    def prepare(self) -> tuple[tuple[RowDetector, ...], FilterStage]:
        """Build the detectors (refusing corpus-wide ones), call each one's ``setup()`` once, build the stage."""
        if self._dets is None or self._stage is None:
            dets = load_detectors(self.config.detectors)
            refuse_corpus_wide(dets)
            for d in dets:
                d.setup()
            self._stage = filter_stage(self.config, dets)
            self._dets = tuple(d for d in dets if isinstance(d, RowDetector))
        return self._dets, self._stage

    @property
    def score_columns(self) -> list[str]:
        """Every column the detectors declare (with their parameters), in detector order: what a run writes."""
        dets, _ = self.prepare()
        return [c for d in dets for c in d.columns]

    @property
    def extra_columns(self) -> list[str]:
        """Columns the filter stage reads that no detector makes (a rule's ``by``, say): the input must carry them."""
        _, stage = self.prepare()
        made = set(self.score_columns) | {self.config.text_column}
        wanted = [c for r in stage.rules for c in (r.column, r.by) if c]
        if stage.weight is not None:
            wanted.append(stage.weight.column)
        return [c for c in dict.fromkeys(wanted) if c not in made]

    def score_types(self) -> dict[str, pa.DataType]:
        """The Arrow type of every score column, as the detectors declare it.

        A declared variable-size list is the one thing a declaration cannot settle: its width may be known only
        to a loaded model (``lm.hidden``). Only then is one ordinary sentence scored, to learn that width.
        """
        dets, _ = self.prepare()
        types = {f.name: f.type for d in dets for f in d.schema}
        open_width = [c for c, t in types.items() if pa.types.is_list(t)]
        if open_width:
            scored, bad = self._tables([_PROBE], 0, {c: [None] for c in self.extra_columns})
            if not scored.num_rows:
                error = bad[0][QUARANTINE_ERROR][0].as_py() if bad and bad[0].num_rows else "unknown error"
                raise ValueError(f"the detectors cannot score an ordinary sentence: {error}")
            types.update({c: scored.schema.field(c).type for c in open_width})
        return types

    def score(self, texts: Sequence[object], first_row: int = 0,
              extra: dict[str, Sequence[object]] | None = None) -> ScoredBatch:
        """Validate, defend, score and decide ``texts`` (rows ``first_row``, ...); bad rows are quarantined."""
        n = len(texts)
        _, stage = self.prepare()
        scored, bad = self._tables(texts, first_row, extra or {})
        decision: list[str] = [QUARANTINE] * n
        reason: list[str | None] = [None] * n
        q_reason: list[str | None] = [None] * n
        q_error: list[str | None] = [None] * n
        weight: list[float | None] = [None] * n
        for table in bad:
            for pos, code, error in zip(_positions(table, first_row), table[QUARANTINE_REASON].to_pylist(),
                                        table[QUARANTINE_ERROR].to_pylist(), strict=True):
                q_reason[pos], q_error[pos] = code, error
        inverse = np.full(n, -1, dtype=np.int64)
        if scored.num_rows:
            pos = _positions(scored, first_row)
            inverse[pos] = np.arange(len(pos))
            made = stage.decide(scored)
            for p, remove, why, w in zip(pos, made.remove.tolist(), made.reason.to_pylist(), made.weight.tolist(),
                                         strict=True):
                decision[p], reason[p], weight[p] = (REMOVE if remove else KEEP), why, float(w)
        take = pa.array(inverse, mask=inverse < 0)
        scores = {c: (scored[c].take(take).to_pylist() if c in scored.column_names else [None] * n)
                  for c in self.score_columns}
        return ScoredBatch(decision, reason, q_reason, q_error, weight, scores)

    def _tables(self, texts: Sequence[object], first_row: int,
                extra: dict[str, Sequence[object]]) -> tuple[pa.Table, list[pa.Table]]:
        """The scored rows (with ``source_row``) and the tables of rows that went to quarantine."""
        cfg = self.config
        dets, _ = self.prepare()
        strings = [t if t is None or isinstance(t, str) else None for t in texts]
        columns: dict[str, pa.Array] = {cfg.text_column: pa.array(strings, pa.string())}
        for name, values in extra.items():
            try:
                columns[name] = pa.array(list(values))
            except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
                raise ValueError(f"column {name!r}, which a rule reads, has values of mixed types: {exc}") from exc
        rows = np.arange(first_row, first_row + len(strings), dtype=np.int64)
        checked = validate(pa.table(columns), rows, self.source, cfg.text_column, None, cfg.max_text_bytes)
        bad = [_not_strings(checked.bad, texts, first_row, self.source)] if checked.bad.num_rows else []
        scored, failed = defend_and_score(dets, checked.good, cfg, self.source)
        if failed.num_rows:
            log.warning("%s: %d rows quarantined: a detector failed on them", self.source, failed.num_rows)
            bad.append(failed)
        return without_defended_text(scored), bad


def _positions(table: pa.Table, first_row: int) -> np.ndarray:
    """Where each row of ``table`` stands in the batch it came from."""
    return table[SOURCE_ROW].to_numpy() - first_row


def _not_strings(bad: pa.Table, texts: Sequence[object], first_row: int, source: str) -> pa.Table:
    """``bad`` with rows whose text was neither a string nor None marked ``not_text`` (validate saw them as null)."""
    reasons, errors = bad[QUARANTINE_REASON].to_pylist(), bad[QUARANTINE_ERROR].to_pylist()
    changed = False
    for i, pos in enumerate(_positions(bad, first_row).tolist()):
        value = texts[pos]
        if value is not None and not isinstance(value, str):
            reasons[i] = "not_text"
            errors[i] = f"{source} row {first_row + pos}: text has type {type(value).__name__}, not str"
            changed = True
    if not changed:
        return bad
    return set_columns(bad, {QUARANTINE_REASON: pa.array(reasons, pa.string()),
                             QUARANTINE_ERROR: pa.array(errors, pa.string())})


def nan_to_none(value: Any) -> Any:
    """``value``, with a float NaN as None (what JSON writers make of it anyway)."""
    return None if isinstance(value, float) and math.isnan(value) else value


