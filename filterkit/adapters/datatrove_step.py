"""filterkit's row-local detectors as a datatrove filter: ``FilterkitFilter`` scores, tags and drops Documents.

Put it in a datatrove pipeline like any ``BaseFilter``::

    FilterkitFilter(detectors=["length", "obfuscation"], exclusion_writer=JsonlWriter("out/removed"))

What it does to each Document:

- every detector column (``length.words``, ``obfuscation.mixed_case``, ...) goes into ``doc.metadata`` as a Python
  value; a score that abstains (NaN) is stored as None, which is what JSON writers make of NaN anyway, so the
  metadata read back from the output equals the metadata written;
- a document a rule removes gets ``doc.metadata["filter_reason"]`` (the fired rules' labels, ``;``-joined), goes
  to the ``exclusion_writer`` if one is given, and is not yielded; a kept one is yielded;
- a document that cannot be scored (null, empty or oversized text, or a detector that fails on it) is never lost
  silently: it is excluded like a removed one, with ``filter_reason`` ``"quarantined: <error>"`` (the error names
  the task rank and the document's position in the task), ``quarantine_reason`` (``empty_text``, ``null_text``,
  ``too_large``, ``binary_text``, ``not_text``, ``detector_error``) and every score key set to None (so every
  document leaving the step carries the same score keys; a ``ParquetWriter``, which infers its schema from the
  first document it writes, still needs an explicit ``schema=`` where the first one has None scores). One
  failure is not quarantined: a detector that fails with one error on every row of a batch of eight or more (a
  model that cannot load) raises, and the task fails, as filterkit's own tasks do.

The config's ``mode`` is honoured: ``drop`` (the default) as above; ``tag`` yields every scored document with
``filter_decision`` (``keep``/``remove``) and ``filter_reason`` in its metadata; ``weight`` yields every scored
document with its sampling ``weight``. Quarantined documents are excluded in every mode. Stats (datatrove's
``stat_update``): ``total``, ``forwarded``, ``dropped``, ``dropped_<rule label>`` for each rule that fired,
``dropped_quarantined`` and ``quarantined_<code>`` (``empty_text``, ``detector_error``, ...), ``flagged_<label>`` in
tag mode, and ``batches``.

Detectors are built on first use, in the process that runs the task, never in ``__init__`` (datatrove copies and
pickles steps before running them); corpus-wide detectors (``exact``, ``minhash``) are refused with a ValueError
then, since a streaming step never sees the whole corpus. ``prepare()`` runs that check (and each detector's
``setup()``) at once, to fail before a pipeline starts.
"""
from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from typing import Any

from datatrove.data import Document, DocumentsPipeline
from datatrove.pipeline.filters.base_filter import BaseFilter, get_filter_result
from datatrove.pipeline.writers.disk_base import DiskWriter
from datatrove.utils.batching import batched
from datatrove.utils.typeshelper import StatHints

from filterkit.adapters.row_scorer import RowScorer, nan_to_none, resolve_config
from filterkit.config import FilterConfig
from filterkit.io.sources import QUARANTINE_REASON
from filterkit.stage.rules import FILTER_DECISION, FILTER_REASON, QUARANTINE, REMOVE, WEIGHT, Rule

log = logging.getLogger(__name__)
QUARANTINED = "quarantined"
"""Prefix of the ``filter_reason`` of a document that could not be scored."""


class FilterkitFilter(BaseFilter):
    """Score Documents with filterkit's row-local detectors, in batches, and drop what the rules remove."""

    name = "🧹 filterkit"

    def __init__(
        self,
        config: FilterConfig | None = None,
        *,
        detectors: str | Sequence[str] | None = None,
        rules: Sequence[Rule] | None = None,
        exclusion_writer: DiskWriter | None = None,
        batch_size: int = 256,
    ) -> None:
        """``detectors`` and ``rules``, when given, replace those of ``config``; nothing is built or loaded here."""
        if batch_size <= 0:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        super().__init__(exclusion_writer=exclusion_writer, batch_size=batch_size)
        self.config = resolve_config(config, detectors, rules)
        self.scorer = RowScorer(self.config, source="rank 0")
        self._seen = 0

    def prepare(self) -> None:
        """Build the detectors and the filter stage now, calling each ``setup()``: raises what first use would."""
        self.scorer.prepare()

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        """Score one document (``filter_batch`` of one)."""
        return self.filter_batch([doc])[0]

    def filter_batch(self, batch: list[Document]) -> list[bool | tuple[bool, str]]:
        """Score ``batch``, write the scores into each document's metadata, return keep or (False, reason)."""
        scorer = self.scorer
        extra = {c: [doc.metadata.get(c) for doc in batch] for c in scorer.extra_columns}
        out = scorer.score([doc.text for doc in batch], self._seen, extra)
        self._seen += len(batch)
        mode = self.config.mode
        results: list[bool | tuple[bool, str]] = []
        for i, doc in enumerate(batch):
            for stale in (FILTER_REASON, FILTER_DECISION, WEIGHT, QUARANTINE_REASON):  # an earlier run's decision
                doc.metadata.pop(stale, None)
            doc.metadata.update({c: nan_to_none(values[i]) for c, values in out.scores.items()})
            decision = out.decision[i]
            if decision == QUARANTINE:
                reason = f"{QUARANTINED}: {out.quarantine_error[i]}"
                doc.metadata[FILTER_REASON] = reason
                doc.metadata[QUARANTINE_REASON] = out.quarantine_reason[i]
                results.append((False, reason))
                continue
            if mode == "tag":
                doc.metadata[FILTER_DECISION] = decision
                doc.metadata[FILTER_REASON] = out.reason[i]
                results.append(True)
            elif mode == "weight":
                doc.metadata[WEIGHT] = out.weight[i]
                results.append(True)
            elif decision == REMOVE:
                doc.metadata[FILTER_REASON] = out.reason[i]
                results.append((False, out.reason[i] or REMOVE))
            else:
                results.append(True)
        return results

    def run(self, data: DocumentsPipeline, rank: int = 0, world_size: int = 1) -> DocumentsPipeline:
        """BaseFilter's loop (batches, exclusion writer, stats), with one stat per fired rule, not per combination."""
        self.scorer.source = f"rank {rank}"
        self._seen = 0
        tag = self.config.mode == "tag"
        with self.exclusion_writer if self.exclusion_writer else contextlib.nullcontext() as writer:
            for batch in batched(data or (), self.batch_size):
                self.stat_update("batches")
                with self.track_time("batch"):
                    results = self.filter_batch(batch)
                for doc, result in zip(batch, results, strict=True):
                    self.stat_update(StatHints.total)
                    keep, reason = get_filter_result(result)
                    if keep:
                        self.stat_update(StatHints.forwarded)
                        self.update_doc_stats(doc)
                        if tag and doc.metadata.get(FILTER_DECISION) == REMOVE:
                            self.stat_update(*(f"flagged_{r}" for r in (doc.metadata[FILTER_REASON] or "").split(";")))
                        yield doc
                        continue
                    self.stat_update(StatHints.dropped)
                    if reason and reason.startswith(f"{QUARANTINED}: "):
                        self.stat_update(f"dropped_{QUARANTINED}", f"{QUARANTINED}_{doc.metadata[QUARANTINE_REASON]}")
                    elif reason:
                        self.stat_update(*(f"dropped_{r}" for r in reason.split(";")))
                    if writer is not None:
                        writer.write(doc, rank)
        log.info("filterkit step, rank %d: %d documents scored", rank, self._seen)


def score_documents(texts: Sequence[str], config: FilterConfig | None = None, *,
                    detectors: str | Sequence[str] | None = None, rules: Sequence[Rule] | None = None,
                    batch_size: int = 256) -> list[dict[str, Any]]:
    """Run ``FilterkitFilter`` over ``texts`` as Documents (ids: their positions); return each one's metadata."""
    docs = [Document(text=t, id=str(i)) for i, t in enumerate(texts)]
    list(FilterkitFilter(config, detectors=detectors, rules=rules, batch_size=batch_size).run(iter(docs)))
    return [doc.metadata for doc in docs]
