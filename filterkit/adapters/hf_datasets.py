"""Scoring a Hugging Face ``datasets.Dataset`` with filterkit's row-local detectors, as ``filterkit score`` does.

``score_dataset`` runs the configured detectors through ``Dataset.map(batched=True)`` and returns the dataset with
every score column added plus three decision columns (the ``tag`` mode: no row is dropped):

- ``filter_decision``: ``"keep"``, ``"remove"`` (a rule fired) or ``"quarantine"`` (the row could not be scored);
- ``filter_reason``: the fired rules' labels joined by ``;`` for removed rows, null otherwise;
- ``quarantine_reason`` / ``quarantine_error``: for quarantined rows, the code (``null_text``, ``empty_text``,
  ``too_large``, ``binary_text``, ``not_text``, ``detector_error``) and the message, null otherwise.

A text that is null, empty or whitespace, over ``max_text_bytes``, or that a detector fails on, is quarantined and
never raises mid-map; its score columns are null. A score that abstains stays NaN, as in the Parquet outputs of
``filterkit score``. One exception is deliberate: a detector that fails with the same error on every row of a
batch of eight or more (a model that cannot load) raises, as the pipeline's tasks do, rather than quarantining the
whole dataset. Corpus-wide detectors (``exact``, ``minhash``) are refused: a map sees one batch at a time, never
the whole corpus; run them with ``filterkit.run``.

``datasets`` is imported only inside ``score_dataset``, so this module (and ``import filterkit``) never needs it.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from filterkit.adapters.row_scorer import (
    DECISION_COLUMNS,
    QUARANTINE_ERROR,
    QUARANTINE_REASON,
    RowScorer,
    resolve_config,
)
from filterkit.config import FilterConfig
from filterkit.stage.rules import FILTER_DECISION, FILTER_REASON

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    import datasets


class _MapBatch:
    """The function ``Dataset.map`` calls: texts, the extra columns the rules read, then the indices."""

    def __init__(self, scorer: RowScorer, extra: list[str]) -> None:
        self.scorer = scorer
        self.extra = extra

    def __call__(self, texts: list[object], *rest: list[Any]) -> dict[str, list[Any]]:
        *extra_values, indices = rest
        first_row = int(indices[0]) if len(indices) else 0
        out = self.scorer.score(texts, first_row, dict(zip(self.extra, extra_values, strict=True)))
        return {**out.scores, FILTER_DECISION: out.decision, FILTER_REASON: out.reason,
                QUARANTINE_REASON: out.quarantine_reason, QUARANTINE_ERROR: out.quarantine_error}


def score_dataset(
    ds: datasets.Dataset | datasets.DatasetDict | datasets.IterableDataset,
    config: FilterConfig | None = None,
    *,
    detectors: str | list[str] | None = None,
    text_column: str | None = None,
    batch_size: int = 256,
    num_proc: int | None = None,
) -> datasets.Dataset | datasets.DatasetDict | datasets.IterableDataset:
    """Add filterkit's score columns and a keep/remove/quarantine decision to every row (``filterkit score``).

    ``detectors`` (names of row-local detectors) and ``text_column`` override those of ``config``; ``config`` gives
    the rules (or the detectors' default rules), ``defend`` and ``max_text_bytes``. A ``DatasetDict`` is scored
    split by split; an ``IterableDataset`` lazily (without ``num_proc``). Columns of the input with the names of
    the output columns (an earlier run's) are replaced.
    """
    import datasets

    if isinstance(ds, (datasets.DatasetDict, datasets.IterableDatasetDict)):
        kind = type(ds)
        return kind({split: score_dataset(part, config, detectors=detectors, text_column=text_column,
                                          batch_size=batch_size, num_proc=num_proc) for split, part in ds.items()})
    if not isinstance(ds, (datasets.Dataset, datasets.IterableDataset)):
        raise TypeError(f"score_dataset needs a datasets.Dataset, DatasetDict or IterableDataset, got {type(ds)}")
    if batch_size <= 0:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    config = resolve_config(config, detectors)
    if text_column is not None:
        config = config.replace(text_column=text_column)
    column = config.text_column
    scorer = RowScorer(config, source="dataset")
    scorer.prepare()  # fail fast, here, on a corpus-wide detector or a missing model
    extra = scorer.extra_columns
    names = ds.column_names  # None for an IterableDataset whose features are unknown
    if names is not None:
        missing = [c for c in (column, *extra) if c not in names]
        if missing:
            raise ValueError(f"columns {missing} are not in the dataset (its columns: {names})")
    if ds.features is not None and column in ds.features:
        kind = ds.features[column]
        if not (isinstance(kind, datasets.Value) and kind.dtype in ("string", "large_string")):
            raise ValueError(f"text column {column!r} has type {kind}, not string")
    new = datasets.Features.from_arrow_schema(pa.schema(
        [pa.field(c, t) for c, t in scorer.score_types().items()] + [pa.field(c, pa.string()) for c in DECISION_COLUMNS]
    ))
    stale = [c for c in new if names is not None and c in names]
    if stale:
        log.info("replacing the columns %s that the dataset already has", stale)
        ds = ds.remove_columns(stale)
    features = datasets.Features({**ds.features, **new}) if ds.features is not None else None
    fn = _MapBatch(scorer, extra)
    common: dict[str, Any] = {"with_indices": True, "input_columns": [column, *extra], "batched": True,
                                  "batch_size": batch_size, "features": features}
    if isinstance(ds, datasets.IterableDataset):
        if num_proc is not None:
            raise ValueError("num_proc does not apply to an IterableDataset, which is scored as it is iterated")
        return ds.map(fn, **common)
    return ds.map(fn, num_proc=num_proc, desc="filterkit score", **common)


def score_texts(texts: Sequence[str | None], config: FilterConfig | None = None, *,
                detectors: str | list[str] | None = None, batch_size: int = 256) -> pa.Table:
    """``score_dataset`` over a dataset of ``texts`` (in the config's text column), as the Arrow table it makes."""
    import datasets

    column = resolve_config(config, detectors).text_column
    scored = score_dataset(datasets.Dataset.from_dict({column: list(texts)}), config, detectors=detectors,
                           batch_size=batch_size)
    return scored.with_format("arrow")[:]
