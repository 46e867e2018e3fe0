"""Building the configured detectors once per process and adding their score columns to a batch."""
from __future__ import annotations

import json
import logging
from functools import lru_cache

import pyarrow as pa

from filterkit.config import DetectorSpec, FilterConfig
from filterkit.contract.detector import (
    TEXT,
    ColumnError,
    CorpusDetector,
    Detector,
    RowDetector,
    RowsDone,
    column_problems,
)
from filterkit.contract.normalize import defend_texts
from filterkit.contract.registry import build
from filterkit.io.sources import (
    QUARANTINE_ERROR,
    QUARANTINE_REASON,
    SOURCE_ROW,
    set_columns,
)

log = logging.getLogger(__name__)
DEFENDED = "_defended_text"
"""Working column with the defended text; detectors read it, outputs never carry it."""
_SYSTEMIC_ROWS = 8
"""A batch at least this long that fails on every row with one error fails its task instead."""


@lru_cache(maxsize=4)
def _built(specs_json: str) -> tuple[Detector, ...]:
    # Cached per process so that a worker loads each model once, however many shards it runs.
    return tuple(build(s["name"], s["params"]) for s in json.loads(specs_json))


def load_detectors(specs: tuple[DetectorSpec, ...]) -> tuple[Detector, ...]:
    """Build the configured detectors, in an order where every required column exists before it is read."""
    built = _built(json.dumps([{"name": s.name, "params": s.params} for s in specs], sort_keys=True))
    rows = [d for d in built if isinstance(d, RowDetector)]
    corpus = [d for d in built if isinstance(d, CorpusDetector)]
    ordered: list[Detector] = []
    produced: set[str] = set()
    while rows:
        made_here = {c for d in rows for c in d.columns}
        ready = [d for d in rows if all(c in produced or c not in made_here for c in d.requires)]
        if not ready:
            raise ValueError(f"detectors {[d.name for d in rows]} require each other's columns in a cycle")
        for d in ready:
            ordered.append(d)
            produced.update(d.columns)
            rows.remove(d)
    return tuple(ordered + corpus)


def to_run(dets: tuple[Detector, ...], table: pa.Table, reuse: bool) -> tuple[Detector, ...]:
    """The detectors to run on a batch: with ``reuse``, none whose every column the input already has."""
    if not reuse:
        return dets
    have = set(table.column_names)
    return tuple(d for d in dets if not (isinstance(d, RowDetector) and have.issuperset(d.columns)))


def needs_defence(dets: tuple[Detector, ...]) -> bool:
    """Whether any of ``dets`` reads the defended text (else the per-row defence pass is skipped)."""
    return any(d.reads_defended_text for d in dets if isinstance(d, (RowDetector, CorpusDetector)))


def with_defended_text(table: pa.Table, text_column: str) -> pa.Table:
    """The batch with its text repaired (NFKC, invisible characters, homoglyphs, case) in a working column."""
    if not table.num_rows:
        return table
    return table.append_column(DEFENDED, pa.array(defend_texts(table[text_column]), pa.string()))


def without_defended_text(table: pa.Table) -> pa.Table:
    """The batch as outputs carry it: the working column of defended text dropped."""
    return table.drop_columns([DEFENDED]) if DEFENDED in table.column_names else table


def detector_view(table: pa.Table, det: Detector, text_column: str) -> pa.Table:
    """The batch a detector sees: the text as ``text`` plus the columns it declared it reads."""
    defended = DEFENDED in table.column_names and det.reads_defended_text
    cols = {TEXT: table[DEFENDED] if defended else table[text_column]}
    cols.update({c: table[c] for c in det.requires if c in table.column_names})
    return pa.table(cols)


def defend_and_score(dets: tuple[Detector, ...], good: pa.Table, config: FilterConfig, source: str,
                     run: tuple[Detector, ...] | None = None,
                     on_rows: RowsDone | None = None) -> tuple[pa.Table, pa.Table]:
    """Add the defended text where any of ``dets`` reads it, then the columns of ``run`` (default: ``dets``).

    Returns ``score_rows``'s scored and failed rows; the scored ones still carry the defended working column.
    """
    if config.defend and needs_defence(dets):
        good = with_defended_text(good, config.text_column)
    return score_rows(dets if run is None else run, good, config.text_column, source, on_rows)


def score_rows(dets: tuple[Detector, ...], good: pa.Table, text_column: str, source: str,
               on_rows: RowsDone | None = None) -> tuple[pa.Table, pa.Table]:
    """Add every row detector's columns; rows a detector cannot score go to quarantine instead of failing all.

    A detector that returns other columns than it declares raises ``ColumnError``: no row is to blame for that.
    ``on_rows``, if given, hears how many rows of the batch are scored while detectors that ``reports_progress``
    run (``_within_batch``); the row-by-row retry after a failed batch reports nothing.
    """
    if not good.num_rows:
        return good, good.slice(0, 0)
    try:
        return _apply(dets, good, text_column, on_rows), good.slice(0, 0)
    except ColumnError:
        raise
    except Exception as exc:
        log.warning("%s: scoring a batch failed (%s); retrying row by row", source, exc)
    ok, bad, errors = [], [], set()
    for i in range(good.num_rows):
        row = good.slice(i, 1)
        try:
            ok.append(_apply(dets, row, text_column))
        except ColumnError:
            raise
        except Exception as exc:
            errors.add(repr(exc))
            bad.append(
                row.append_column(QUARANTINE_REASON, pa.array(["detector_error"]))
                .append_column(QUARANTINE_ERROR, pa.array([f"{source} row {row[SOURCE_ROW][0]}: {exc!r}"]))
            )
    if not ok and good.num_rows >= _SYSTEMIC_ROWS and len(errors) == 1:
        # The same error on every row is the detector's fault (a model that cannot load), not the rows':
        # fail the task, so it is retried and then reported, instead of quarantining the whole corpus.
        raise RuntimeError(f"{source}: a detector failed on all {good.num_rows} rows of a batch: {errors.pop()}")
    scored = pa.concat_tables(ok, promote_options="permissive") if ok else good.slice(0, 0)
    failed = pa.concat_tables(bad, promote_options="permissive") if bad else good.slice(0, 0)
    return scored, failed


def _within_batch(dets: tuple[Detector, ...], rows: int, on_rows: RowsDone | None) -> dict[int, RowsDone]:
    """A progress callable for each row detector in ``dets`` that ``reports_progress`` (none without ``on_rows``).

    The rows reported are the mean over those detectors of the rows each has scored (they run one after
    another): one slow detector moves the count by its own rows; two move it half as fast each, so that it
    never runs ahead of the batch.
    """
    slow = [i for i, d in enumerate(dets) if isinstance(d, RowDetector) and d.reports_progress]
    if on_rows is None or not slow:
        return {}
    report, done, reported = on_rows, dict.fromkeys(slow, 0), 0

    def make(i: int) -> RowsDone:
        def progress(n: int) -> None:
            nonlocal reported
            done[i] = max(done[i], min(int(n), rows))
            mean = sum(done.values()) // len(done)
            if mean > reported:
                reported = mean
                report(mean)
        return progress

    return {i: make(i) for i in slow}


def _apply(dets: tuple[Detector, ...], table: pa.Table, text_column: str,
           on_rows: RowsDone | None = None) -> pa.Table:
    reporters = _within_batch(dets, table.num_rows, on_rows)
    for i, d in enumerate(dets):
        if isinstance(d, RowDetector):
            view = detector_view(table, d, text_column)
            if i in reporters:
                scores = d.score(view, progress=reporters[i])  # type: ignore[call-arg]
                reporters[i](table.num_rows)  # done, whatever it said
            else:
                scores = d.score(view)
            if scores.num_rows != table.num_rows:
                raise ValueError(f"detector {d.name} returned {scores.num_rows} rows for {table.num_rows}")
            # What a run writes must be what the detector declares: the adapters and the rules check build on it.
            problems = column_problems(d, scores.schema)
            if problems:
                raise ColumnError(f"detector {d.name}: {'; '.join(problems)}")
            table = set_columns(table, scores)
    return table
