"""The detector contract: a batch of documents in, declared columns out.

A detector is a dataclass. What holds, and what every registered detector is checked for
(``filterkit.testing.check_detector``):

- **Parameters** are the constructor's fields. ``__post_init__`` validates them without I/O and never rewrites
  them: what a detector derives from them (LSH bands from weights, say) is computed from them, or kept in a
  field ending in ``_``. ``get_params()`` returns them; scoring never changes them.
- **Changing a parameter** means a new detector: ``dataclasses.replace(detector, threshold=0.8)`` validates the
  new value and starts without loaded state. There is no ``set_params``.
- **Columns** are declared once, in the class attribute ``scores``: a tuple of ``Column`` specs (name, Arrow type,
  the parameter that turns a column on, the reason column). ``columns`` and ``schema`` are derived from it, for
  the parameters at hand; a subclass may not override them. ``score`` (or ``reduce``) returns exactly those
  columns with those types, one row per input row. Scores are float64, NaN where undefined, with the detector's
  reason column saying why; identifiers and flags are integers and booleans.
- ``setup()`` (which the driver calls once, before any work) checks what lies outside the process (a model that
  resolves, an index whose checksums match) so that a run fails fast; state loaded for scoring ends in ``_``.

These follow scikit-learn's conventions (parameters as constructor arguments, ``get_params``, fitted state ending
in ``_``) with one difference: scikit-learn validates in ``fit``, filterkit at construction, so that a bad
configuration fails in the driver before any task starts. There is no ``fit``: a model is trained by its own
command and read by ``setup()`` or on first use.
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
REMOVED_ANYWAY = "_removed_anyway"
"""A keys column the pipeline adds when the run has rules that read no corpus-wide column: true where those rules
remove the row whatever ``reduce`` finds, so that a dedup can choose its survivors among the other rows."""


@dataclass(frozen=True)
class Column:
    """One output column a detector declares: its name after the ``<detector>.`` prefix, its Arrow type, and when
    it is written.

    ``scores = (Column("fastdetect"), Column("binoculars", when="observer"), Column("reason", pa.string(),
    reason=True))`` declares ``lm.fastdetect`` (float64, always), ``lm.binoculars`` (only while the ``observer``
    parameter is set) and ``lm.reason``. A plain string in ``scores`` is short for a float64 ``Column``.
    """

    name: str
    type: pa.DataType = pa.float64()
    """The Arrow type ``score`` returns. A variable-size list also accepts a fixed-size list of the same values,
    for a width only the loaded model knows (``lm.hidden``: layers times the model's hidden size)."""
    when: str | None = None
    """The parameter that turns the column on: written only while that parameter is set (neither None, empty nor
    False). None: always written."""
    reason: bool = False
    """True for the detector's reason column (a string): why a row's scores are NaN, null where there is nothing
    to say. A detector whose scores can be NaN declares one."""
    doc: str = ""

    def accepts(self, actual: pa.DataType) -> bool:
        """Whether a returned column of type ``actual`` is what this declaration promises."""
        if actual == self.type:
            return True
        return (pa.types.is_list(self.type) and pa.types.is_fixed_size_list(actual)
                and actual.value_type == self.type.value_type)

    def active(self, detector: Detector) -> bool:
        """Whether ``detector``, with its parameters, writes this column."""
        if self.when is None:
            return True
        if self.when not in {f.name for f in fields(detector) if f.init}:
            raise TypeError(f"detector {detector.name}: column {self.name!r} is turned on by {self.when!r}, "
                            "which is not one of its parameters")
        value = getattr(detector, self.when)
        return value is not None and value is not False and not (hasattr(value, "__len__") and len(value) == 0)


_DERIVED = ("columns", "schema", "reason_column")


@dataclass
class Detector(ABC):
    """Base of all detectors: parameters are dataclass fields, set in ``__init__`` and never changed afterwards.

    Subclasses set ``name`` (the column prefix) and ``scores`` (their output columns, declared once as ``Column``
    specs), and may set ``requires`` (columns of other detectors they read, so the pipeline can order them) and
    ``raw_text``.
    """

    name: ClassVar[str]
    scores: ClassVar[tuple[Column, ...]] = ()
    """Every column this detector can write, each with its type and, if a parameter turns it on, that parameter."""
    requires: ClassVar[tuple[str, ...]] = ()
    raw_text: ClassVar[bool] = False
    """True for a detector that must see the text as written, before the shared defence repairs it."""
    defends_itself: ClassVar[bool] = False
    """True for a detector whose own normalisation gives the same scores on the text as written as on the defended
    text: it reads the text as written, and a run whose every detector does so skips the defence pass."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Normalise ``scores`` to ``Column`` specs and refuse a second declaration of the columns."""
        super().__init_subclass__(**kwargs)
        for attr in _DERIVED:
            if attr in cls.__dict__:
                raise TypeError(f"{cls.__name__} defines {attr!r}, which is derived from `scores`: declare every "
                                "column there once (Column(name, type, when=PARAMETER) for one a parameter turns on)")
        if "scores" not in cls.__dict__:
            return
        declared = tuple(c if isinstance(c, Column) else Column(c) for c in cls.__dict__["scores"])
        names = [c.name for c in declared]
        if len(set(names)) < len(names):
            raise TypeError(f"{cls.__name__} declares a column twice: {names}")
        reasons = [c for c in declared if c.reason]
        if len(reasons) > 1 or any(c.type != pa.string() for c in reasons):
            raise TypeError(f"{cls.__name__}: at most one reason column, of type string, got {reasons}")
        cls.scores = declared

    @property
    def reads_defended_text(self) -> bool:
        """Whether this detector reads the shared defence's repaired copy of the text."""
        return not (self.raw_text or self.defends_itself)

    def get_params(self) -> dict[str, Any]:
        """Return the constructor parameters, as scikit-learn estimators do; change one with ``dataclasses.replace``."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.init}

    @property
    def schema(self) -> pa.Schema:
        """The full names and Arrow types of the columns this detector adds, with its parameters."""
        return pa.schema([pa.field(f"{self.name}.{c.name}", c.type) for c in self.scores if c.active(self)])

    @property
    def columns(self) -> list[str]:
        """The full names of the columns this detector adds, with its parameters."""
        return self.schema.names

    @property
    def reason_column(self) -> str | None:
        """The full name of the column saying why a score is NaN, or None for a detector that declares none."""
        return next((f"{self.name}.{c.name}" for c in self.scores if c.reason and c.active(self)), None)

    def default_rules(self) -> list[Rule]:
        """Rules used when a config names this detector but no rules."""
        return []

    def setup(self) -> None:
        """Check, once and before any work, what scoring will need from outside the process (default: nothing).

        Raises ValueError (or a subclass) with a message naming what is wrong. The driver calls it on its own
        instance; workers build theirs from the same parameters and load lazily.
        """
        return  # a detector that needs nothing from outside has nothing to check


class ColumnError(TypeError):
    """A detector returned columns other than those it declares, or of other types: its fault, not the rows'."""


def column_problems(detector: Detector, schema: pa.Schema, ignore: tuple[str, ...] = ()) -> list[str]:
    """What is wrong with ``schema`` as ``detector``'s output: declared columns missing, undeclared ones returned,
    types other than declared (each problem a sentence naming the column). ``ignore``: columns that may be there."""
    declared = {f"{detector.name}.{c.name}": c for c in detector.scores}
    active = {name: c for name, c in declared.items() if c.active(detector)}
    problems = [f"declared column {name!r} is missing" for name in active if name not in schema.names]
    for field in schema:
        column = active.get(field.name)
        if field.name in ignore:
            continue
        if field.name in declared and column is None:
            problems.append(f"column {field.name!r} is returned, but declared only while the parameter "
                            f"{declared[field.name].when!r} is set, which it is not")
        elif column is None:
            problems.append(f"column {field.name!r} is returned but not declared in {type(detector).__name__}.scores")
        elif not column.accepts(field.type):
            problems.append(f"column {field.name!r} has type {field.type}, declared {column.type}")
    return problems


RowsDone = Callable[[int], None]
"""Called as ``progress(rows)`` by a detector that ``reports_progress``: rows of the batch scored so far."""


class RowDetector(Detector):
    """A detector whose scores depend on each document alone (LM, classifier, replay, style).

    A detector slow enough that one batch takes minutes sets ``reports_progress``: its ``score`` then also takes
    ``progress``, which it may call as it goes with how many rows of the batch it has scored, so that a run's
    progress moves within a batch.
    """

    reports_progress: ClassVar[bool] = False
    """True for a detector whose ``score`` accepts ``progress=None`` (a ``RowsDone``), called with how many rows of
    the batch are scored so far: never decreasing, at most the batch's rows. It only reports: the scores are the
    same with it as without it."""

    @abstractmethod
    def score(self, batch: pa.Table) -> pa.Table:
        """Return one row per input row with exactly the declared ``columns``, of the declared types."""


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
        """Return ``_shard``, ``_row`` and the declared ``columns`` for every row whose keys are in ``keys``."""

    def reduce_parallel(self, context: ReduceContext) -> pa.Table:
        """What ``reduce`` returns, computed by tasks that ``context.pmap`` runs (only if ``parallel_reduce``)."""
        raise NotImplementedError(f"{type(self).__name__} has no parallel reduce")
