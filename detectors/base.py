"""The detector protocol: a batch of documents in, named score columns out."""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, fields
from typing import Any, ClassVar

import pyarrow as pa
import pyarrow.dataset as ds

from filterkit.rules import Rule

TEXT = "text"
"""Name of the text column in every batch a detector receives, whatever the corpus calls it."""

SHARD = "_shard"
ROW = "_row"
"""Position columns that corpus-wide detectors carry from ``map`` to ``reduce``: they say which row a key is."""


@dataclass
class Detector(ABC):
    """Base of all detectors: parameters are dataclass fields, set in ``__init__`` and never changed by scoring.

    Subclasses set ``name`` (the column prefix) and ``scores`` (the score names they emit), and may
    set ``requires`` (columns of other detectors they read, so the pipeline can order them) and ``raw_text``.
    """

    name: ClassVar[str]
    scores: ClassVar[tuple[str, ...]]
    requires: ClassVar[tuple[str, ...]] = ()
    raw_text: ClassVar[bool] = False
    """True for a detector that must see the text as written, before the shared defence repairs it."""

    def get_params(self) -> dict[str, Any]:
        """Return the constructor parameters, as scikit-learn estimators do."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.init}

    @property
    def columns(self) -> list[str]:
        """The full names of the columns this detector adds."""
        return [f"{self.name}.{s}" for s in self.scores]

    def default_rules(self) -> list[Rule]:
        """Rules used when a config names this detector but no rules."""
        return []


class RowDetector(Detector):
    """A detector whose scores depend on each document alone (LM, classifier, replay, style)."""

    @abstractmethod
    def score(self, batch: pa.Table) -> pa.Table:
        """Return one row of score columns per input row, named ``<name>.<score>``."""


class CorpusDetector(Detector):
    """A detector whose result for a row depends on other rows anywhere in the corpus (dedup).

    ``map`` runs per batch and emits compact keys; ``reduce`` sees the keys of the whole corpus and returns
    per-row results, which the pipeline joins back to the rows by (``_shard``, ``_row``).
    """

    @abstractmethod
    def map(self, batch: pa.Table) -> pa.Table:
        """Return compact keys, one row per input row (the pipeline adds the position columns)."""

    @abstractmethod
    def reduce(self, keys: ds.Dataset) -> pa.Table:
        """Return ``_shard``, ``_row`` and the score columns for every row whose keys are in ``keys``."""
