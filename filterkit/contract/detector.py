"""The detector contract: a batch of documents in, named score columns out.

Detectors follow scikit-learn's conventions: parameters are constructor fields, validated there without I/O;
``setup()`` (which the driver calls once, before any work) checks what lies outside the process (a model that
resolves, an index whose checksums match) so that a run fails fast; state loaded for scoring ends in ``_``.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa
import pyarrow.dataset as ds

from filterkit.stage.rules import Rule

TEXT = "text"
"""Name of the text column in every batch a detector receives, whatever the corpus calls it."""

PMap = Callable[[Callable[[Any], Any], list[Any]], list[Any]]
"""Runs a function over a list of tasks, in any order and anywhere, and returns the results (or raises): what an
executor lends a corpus-wide reduce."""

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
    defends_itself: ClassVar[bool] = False
    """True for a detector whose own normalisation gives the same scores on the text as written as on the defended
    text: it reads the text as written, and a run whose every detector does so skips the defence pass."""

    @property
    def reads_defended_text(self) -> bool:
        """Whether this detector reads the shared defence's repaired copy of the text."""
        return not (self.raw_text or self.defends_itself)

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

    def setup(self) -> None:
        """Check, once and before any work, what scoring will need from outside the process (default: nothing).

        Raises ValueError (or a subclass) with a message naming what is wrong. The driver calls it on its own
        instance; workers build theirs from the same parameters and load lazily.
        """


class RowDetector(Detector):
    """A detector whose scores depend on each document alone (LM, classifier, replay, style)."""

    @abstractmethod
    def score(self, batch: pa.Table) -> pa.Table:
        """Return one row of score columns per input row, named ``<name>.<score>``."""


@dataclass(frozen=True)
class ReduceContext:
    """What a corpus-wide reduce spread over executor tasks gets: the keys, scratch space and a task runner."""

    keys: tuple[str, ...]
    """Key files of every shard, in shard order (each holds ``_shard``, ``_row`` and the detector's keys)."""
    scratch: Path
    """An empty directory the reduce's tasks may share; the pipeline removes it when the run ends."""
    partitions: int
    pmap: PMap


class CorpusDetector(Detector):
    """A detector whose result for a row depends on other rows anywhere in the corpus (dedup).

    ``map`` runs per batch and emits compact keys; ``reduce`` sees the keys of the whole corpus and returns
    per-row results, which the pipeline joins back to the rows by (``_shard``, ``_row``). A detector that
    can spread its reduce over many tasks sets ``parallel_reduce`` and implements ``reduce_parallel``;
    distributed executors then use it.
    """

    parallel_reduce: ClassVar[bool] = False

    @abstractmethod
    def map(self, batch: pa.Table) -> pa.Table:
        """Return compact keys, one row per input row (the pipeline adds the position columns)."""

    @abstractmethod
    def reduce(self, keys: ds.Dataset) -> pa.Table:
        """Return ``_shard``, ``_row`` and the score columns for every row whose keys are in ``keys``."""

    def reduce_parallel(self, context: ReduceContext) -> pa.Table:
        """What ``reduce`` returns, computed by tasks that ``context.pmap`` runs (only if ``parallel_reduce``)."""
        raise NotImplementedError(f"{type(self).__name__} has no parallel reduce")
