"""Worker-side tasks: score one shard (map), reduce one corpus-wide detector, decide one shard.

Each task is a picklable dataclass and a top-level function, so any executor can run it, and each writes
its outputs atomically before its completion marker: a task killed half-way leaves nothing that counts.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

import detectors
from detectors.base import ROW, SHARD, TEXT, CorpusDetector, Detector, RowDetector
from detectors.components import PMap
from detectors.normalize import defend_texts
from filterkit.config import DetectorSpec, FilterConfig
from filterkit.layout import Layout
from filterkit.sources import (
    QUARANTINE_ERROR,
    QUARANTINE_REASON,
    SOURCE_ROW,
    FileFailure,
    Shard,
    read_shard,
    validate,
)
from filterkit.storage import write_json, write_parquet

log = logging.getLogger(__name__)
FILTER_REASON = "filter_reason"
DEFENDED = "_defended_text"
"""Working column with the defended text; detectors read it, outputs never carry it."""
FILTER_DECISION = "filter_decision"
_LOG_EVERY_S = 30.0
_SYSTEMIC_ROWS = 8
"""A batch at least this long that fails on every row with one error fails its task instead."""
WEIGHT = "weight"


@lru_cache(maxsize=4)
def _detectors(specs_json: str) -> tuple[Detector, ...]:
    # Cached per process so that a worker loads each model once, however many shards it runs.
    specs = [DetectorSpec(**s) for s in json.loads(specs_json)]
    return tuple(detectors.build(s.name, s.params) for s in specs)


def load_detectors(specs: tuple[DetectorSpec, ...]) -> tuple[Detector, ...]:
    """Build the configured detectors, in an order where every required column exists before it is read."""
    built = _detectors(json.dumps([{"name": s.name, "params": s.params} for s in specs], sort_keys=True))
    rows = [d for d in built if isinstance(d, RowDetector)]
    corpus = [d for d in built if isinstance(d, CorpusDetector)]
    ordered: list[Detector] = []
    produced: set[str] = set()
    while rows:
        ready = [d for d in rows if all(c in produced or not _made_by_any(c, rows) for c in d.requires)]
        if not ready:
            raise ValueError(f"detectors {[d.name for d in rows]} require each other's columns in a cycle")
        for d in ready:
            ordered.append(d)
            produced.update(d.columns)
            rows.remove(d)
    return tuple(ordered + corpus)


def _made_by_any(column: str, dets: list[Detector]) -> bool:
    return any(column in d.columns for d in dets)


@dataclass(frozen=True)
class ShardTask:
    """One shard of one run."""

    shard: Shard
    out: str
    config: FilterConfig


@dataclass
class _Pieces:
    """Tables of one shard on their way to one output file, written once at the end."""

    tables: list[pa.Table] = field(default_factory=list)

    def add(self, table: pa.Table) -> None:
        if table.num_rows:
            self.tables.append(table)

    def write(self, path: Path) -> int:
        if not self.tables:
            path.unlink(missing_ok=True)
            return 0
        table = pa.concat_tables(self.tables, promote_options="permissive")
        write_parquet(table, path)
        return table.num_rows


def map_shard(task: ShardTask) -> dict[str, Any]:
    """Validate and score one shard; write its scored rows, its quarantine and its corpus-wide keys."""
    start = time.perf_counter()
    cfg, shard, lay = task.config, task.shard, Layout(task.out)
    dets = load_detectors(cfg.detectors)
    scored, quarantine = _Pieces(), _Pieces()
    keys = {d.name: _Pieces() for d in dets if isinstance(d, CorpusDetector)}
    unreadable: list[dict[str, Any]] = []
    logged = start
    for first_row, item in read_shard(shard, cfg.batch_size):
        if time.perf_counter() - logged > _LOG_EVERY_S:
            logged = time.perf_counter()
            log.info("%s (%s): %d of %d rows done", shard.name, shard.source, first_row - shard.row_offset,
                     shard.num_rows)
        if isinstance(item, FileFailure):
            unreadable.append(item.__dict__)
            continue
        checked = validate(item, first_row, shard.source, cfg.text_column, cfg.id_column, cfg.max_text_bytes)
        quarantine.add(checked.bad)
        good = checked.good
        if cfg.defend and good.num_rows:
            good = good.append_column(DEFENDED, pa.array(defend_texts(good[cfg.text_column]), pa.string()))
        good, failed = _score_rows(_to_run(dets, good, cfg.reuse_scores), good, cfg.text_column, shard.source)
        for d in dets:
            if isinstance(d, CorpusDetector) and good.num_rows:
                k = d.map(_docs(good, d, cfg.text_column))
                k = k.append_column(SHARD, pa.array(np.full(good.num_rows, shard.index, np.int32)))
                keys[d.name].add(k.append_column(ROW, good[SOURCE_ROW]))
        if DEFENDED in good.column_names:
            good, failed = good.drop_columns([DEFENDED]), failed.drop_columns([DEFENDED])
        quarantine.add(failed)
        scored.add(good)
    stats = {
        "shard": shard.name,
        "source": shard.source,
        "rows_in": shard.num_rows,
        "valid": scored.write(lay.scored(shard)),
        "quarantined": quarantine.write(lay.quarantine(shard)),
        "quarantine_reasons": _reason_counts(quarantine.tables, QUARANTINE_REASON),
        "unreadable": unreadable,
        "unreadable_rows": sum(u["num_rows"] or 0 for u in unreadable),
    }
    for name, pieces in keys.items():
        pieces.write(lay.keys(name, shard))
    stats["map_seconds"] = time.perf_counter() - start
    write_json(stats, lay.stats("map", shard))
    lay.mark_done(f"map-{shard.name}")
    return stats


def _to_run(dets: tuple[Detector, ...], table: pa.Table, reuse: bool) -> tuple[Detector, ...]:
    """The detectors to run on a batch: with ``reuse``, none whose every column the input already has."""
    if not reuse:
        return dets
    return tuple(d for d in dets if not (isinstance(d, RowDetector) and all(c in table.column_names for c in d.columns)))


def _docs(table: pa.Table, det: Detector, text_column: str) -> pa.Table:
    """The batch a detector sees: the text as ``text`` plus the columns it declared it reads."""
    defended = DEFENDED in table.column_names and not det.raw_text
    cols = {TEXT: table[DEFENDED] if defended else table[text_column]}
    cols.update({c: table[c] for c in det.requires if c in table.column_names})
    return pa.table(cols)


def _score_rows(dets: tuple[Detector, ...], good: pa.Table, text_column: str, source: str) -> tuple[pa.Table, pa.Table]:
    """Add every row detector's columns; rows a detector cannot score go to quarantine instead of failing all."""
    if not good.num_rows:
        return good, good.slice(0, 0)
    try:
        return _apply_row_detectors(dets, good, text_column), good.slice(0, 0)
    except Exception as exc:  # noqa: BLE001 - a detector's failure on one row must not lose the batch
        log.warning("%s: scoring a batch failed (%s); retrying row by row", source, exc)
    ok, bad, errors = [], [], set()
    for i in range(good.num_rows):
        row = good.slice(i, 1)
        try:
            ok.append(_apply_row_detectors(dets, row, text_column))
        except Exception as exc:  # noqa: BLE001 - recorded with the row, nothing is lost
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


def _apply_row_detectors(dets: tuple[Detector, ...], table: pa.Table, text_column: str) -> pa.Table:
    for d in dets:
        if isinstance(d, RowDetector):
            scores = d.score(_docs(table, d, text_column))
            if scores.num_rows != table.num_rows:
                raise ValueError(f"detector {d.name} returned {scores.num_rows} rows for {table.num_rows}")
            table = _set_columns(table, scores)
    return table


def _set_columns(table: pa.Table, new: pa.Table) -> pa.Table:
    for name in new.column_names:
        if name in table.column_names:
            table = table.drop_columns([name])
        table = table.append_column(name, new[name])
    return table


def _reason_counts(tables: list[pa.Table], column: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for t in tables:
        for value in t[column].to_pylist():
            counts[value] = counts.get(value, 0) + 1
    return dict(sorted(counts.items()))


@dataclass(frozen=True)
class ReduceTask:
    """The corpus-wide step of one detector over the keys of every shard."""

    detector: str
    out: str
    config: FilterConfig
    shards: tuple[str, ...]
    partitions: int = 1


def reduce_detector(task: ReduceTask, pmap: PMap | None = None) -> dict[str, Any]:
    """Run one corpus-wide detector's reduce and split its per-row results back into shards.

    With ``pmap``, a detector that can (``reduce_parallel``) spreads its reduce over ``task.partitions``
    partitions and the tasks ``pmap`` runs; otherwise it runs here, in one process.
    """
    start = time.perf_counter()
    lay = Layout(task.out)
    (det,) = [d for d in load_detectors(task.config.detectors) if d.name == task.detector]
    assert isinstance(det, CorpusDetector)
    files = [str(p) for name in task.shards if (p := lay.keys_dir(det.name) / f"{name}.parquet").exists()]
    if not files:  # no valid row anywhere: nothing to reduce
        lay.mark_done(f"reduce-{det.name}")
        return {"detector": det.name, "rows": 0, "seconds": time.perf_counter() - start}
    keys = ds.dataset(files, format="parquet")
    if pmap is not None and hasattr(det, "reduce_parallel"):
        result = det.reduce_parallel(files, lay.work / "components" / det.name, pmap, task.partitions)
    else:
        result = det.reduce(keys)
    if result.num_rows != keys.count_rows():
        raise RuntimeError(f"detector {det.name}: reduce returned {result.num_rows} rows for {keys.count_rows()} keys")
    shard_ids = result[SHARD].to_numpy()
    bounds = np.flatnonzero(np.diff(shard_ids)) + 1
    for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, len(shard_ids)], strict=True):
        if hi > lo:
            part = result.slice(lo, hi - lo).drop_columns([SHARD])
            write_parquet(part, lay.reduced(det.name, f"part-{int(shard_ids[lo]):06d}"))
    stats = {"detector": det.name, "rows": result.num_rows, "seconds": time.perf_counter() - start,
             "spread": pmap is not None and hasattr(det, "reduce_parallel")}
    write_json(stats, lay.reduce_stats(det.name))
    lay.mark_done(f"reduce-{det.name}")
    return stats


def decide_shard(task: ShardTask) -> dict[str, Any]:
    """Join corpus-wide results to a shard's scored rows, apply the filter stage, write kept/removed."""
    start = time.perf_counter()
    cfg, shard, lay = task.config, task.shard, Layout(task.out)
    dets = load_detectors(cfg.detectors)
    stage = cfg.stage([r for d in dets for r in d.default_rules()])
    kept, removed = _Pieces(), _Pieces()
    reasons: dict[str, int] = {}
    flagged = 0
    path = lay.scored(shard)
    if path.exists():
        table = pq.read_table(path)
        for d in dets:
            if isinstance(d, CorpusDetector):
                table = _join_reduced(table, pq.read_table(lay.reduced(d.name, shard.name)), d.name)
        # Input that an earlier run wrote carries that run's decision columns: this run's replace them.
        table = table.drop_columns([c for c in (FILTER_REASON, FILTER_DECISION, WEIGHT) if c in table.column_names])
        decision = stage.decide(table)
        flagged = int(decision.remove.sum())
        for r in decision.reason.drop_null().to_pylist():
            for label in r.split(";"):
                reasons[label] = reasons.get(label, 0) + 1
        table = table.append_column(FILTER_REASON, decision.reason)
        if cfg.mode == "drop":
            kept.add(table.filter(pa.array(~decision.remove)).drop_columns([FILTER_REASON]))
            removed.add(table.filter(pa.array(decision.remove)))
        elif cfg.mode == "tag":
            labels = np.where(decision.remove, "remove", "keep")
            kept.add(table.append_column(FILTER_DECISION, pa.array(labels, pa.string())))
        else:
            kept.add(table.append_column(WEIGHT, pa.array(decision.weight, pa.float64())))
    stats = {
        "shard": shard.name,
        "kept": kept.write(lay.kept(shard)),
        "removed": removed.write(lay.removed(shard)),
        "flagged": flagged,
        "filter_reasons": dict(sorted(reasons.items())),
        "decide_seconds": time.perf_counter() - start,
    }
    write_json(stats, lay.stats("decide", shard))
    lay.mark_done(f"decide-{shard.name}")
    return stats


def _join_reduced(table: pa.Table, reduced: pa.Table, name: str) -> pa.Table:
    # Keys were written in row order and reduce sorts by row, so the two line up one to one.
    if not np.array_equal(reduced[ROW].to_numpy(), table[SOURCE_ROW].to_numpy()):
        raise RuntimeError(f"detector {name}: reduced rows do not match the shard's scored rows")
    return _set_columns(table, reduced.drop_columns([ROW]))
