"""Worker-side tasks: score one shard (map), reduce one corpus-wide detector, decide one shard.

Each task is a picklable dataclass and a top-level function, so any executor can run it, and each writes
its outputs atomically before its completion marker: a task killed half-way leaves nothing that counts.
"""
from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from filterkit.config import FilterConfig
from filterkit.contract.detector import (
    REMOVED_ANYWAY,
    ROW,
    SHARD,
    CorpusDetector,
    Detector,
    ReduceContext,
    RowsDone,
)
from filterkit.engine.executors import Executor
from filterkit.engine.report import write_samples
from filterkit.engine.scoring import (
    defend_and_score,
    detector_view,
    load_detectors,
    to_run,
    without_defended_text,
)
from filterkit.engine.stats import DecideStats, MapStats, ReduceStats, count_labels
from filterkit.io.layout import Layout
from filterkit.io.readers import Quarantined, read_shard
from filterkit.io.sources import (
    QUARANTINE_REASON,
    SOURCE_ROW,
    FileFailure,
    Shard,
    set_columns,
    validate,
)
from filterkit.io.storage import delete, write_parquet, write_table
from filterkit.stage.rules import FILTER_DECISION, FILTER_REASON, WEIGHT, FilterStage, Rule

log = logging.getLogger(__name__)
_LOG_EVERY_S = 30.0
ShardRows = Callable[[str, int], None]
"""Called as ``on_rows(shard name, rows of the shard done)`` by a map task that runs in the driver's process."""


@dataclass(frozen=True)
class ShardTask:
    """One shard of one run, with the filter stage the driver built (decide applies it; map applies the rules that
    read no corpus-wide column, so that a dedup keeps a row those rules do not remove)."""

    shard: Shard
    out: str
    config: FilterConfig
    stage: FilterStage
    joins: tuple[str, ...] = ()
    """Corpus-wide detectors whose per-row results decide joins to the shard."""
    work: str | None = None
    """The run's local working directory (None: the layout's default)."""
    json_schema: pa.Schema | None = None
    """The types the run fixed for JSON Lines fields (``filterkit.io.readers.json_schema``)."""

    @property
    def layout(self) -> Layout:
        """Where this task's run keeps its files."""
        return Layout(self.out, self.work, self.config.output_format)


@dataclass
class _Pieces:
    """Tables of one shard on their way to one output file, written once at the end."""

    tables: list[pa.Table] = field(default_factory=list)

    def add(self, table: pa.Table) -> None:
        if table.num_rows:
            self.tables.append(table)

    def write(self, path: Path | str, output_format: str = "parquet", text_column: str | None = None) -> int:
        if not self.tables:
            delete(path)
            return 0
        table = pa.concat_tables(self.tables, promote_options="permissive")
        if text_column:
            table = table.drop_columns(list(_working(table, text_column)))
        write_table(table, path, output_format)
        return table.num_rows


@dataclass
class _MapOutputs:
    """Everything one map task writes: scored rows, quarantined rows, corpus-wide keys, unreadable ranges."""

    scored: _Pieces = field(default_factory=_Pieces)
    quarantine: _Pieces = field(default_factory=_Pieces)
    keys: dict[str, _Pieces] = field(default_factory=dict)
    unreadable: list[FileFailure] = field(default_factory=list)

    def write(self, lay: Layout, shard: Shard, seconds: float, text_column: str) -> MapStats:
        for name, pieces in self.keys.items():
            pieces.write(lay.keys(name, shard))
        return MapStats(
            shard=shard.name, source=shard.source, rows_in=shard.num_rows,
            valid=self.scored.write(lay.scored(shard)),
            quarantined=self.quarantine.write(lay.quarantine(shard), lay.output_format, text_column),
            quarantine_reasons=count_labels(v for t in self.quarantine.tables
                                            for v in t[QUARANTINE_REASON].to_pylist()),
            unreadable=[u.__dict__ for u in self.unreadable],
            unreadable_rows=sum(u.num_rows or 0 for u in self.unreadable),
            map_seconds=seconds,
        )


def map_shard(task: ShardTask, on_rows: ShardRows | None = None) -> MapStats:
    """Validate and score one shard; write its scored rows, its quarantine and its corpus-wide keys.

    ``on_rows`` (only for a task run in the driver's process: a callback does not cross to a worker) hears the
    shard's rows done after each batch, and within a batch while a detector that ``reports_progress`` scores it.
    """
    start = time.perf_counter()
    cfg, shard, lay = task.config, task.shard, task.layout
    dets = load_detectors(cfg.detectors)
    out = _MapOutputs(keys={d.name: _Pieces() for d in dets if isinstance(d, CorpusDetector)})
    local = _local_rules(task.stage, dets)
    for rows, batch in _batches(shard, cfg.batch_size, cfg.text_column, out, task.json_schema):
        checked = validate(batch, rows, shard.source, cfg.text_column, cfg.id_column, cfg.max_text_bytes,
                           lines=shard.format == "jsonl")
        out.quarantine.add(checked.bad)
        good, failed = defend_and_score(dets, checked.good, cfg, shard.source,
                                        to_run(dets, checked.good, cfg.reuse_scores), _within(on_rows, shard, rows))
        _emit_keys(dets, good, cfg.text_column, shard, out.keys, local)
        out.quarantine.add(without_defended_text(failed))
        out.scored.add(without_defended_text(good))
        if on_rows is not None and len(rows):
            on_rows(shard.name, min(shard.num_rows, max(0, int(rows[-1]) + 1 - shard.row_offset)))
    stats = out.write(lay, shard, time.perf_counter() - start, cfg.text_column)
    stats.write(lay.stats("map", shard))
    lay.mark_done(f"map-{shard.name}")
    return stats


def _within(on_rows: ShardRows | None, shard: Shard, rows: np.ndarray) -> RowsDone | None:
    """What hears a batch's rows scored so far and tells ``on_rows`` the shard's (None: nobody listens)."""
    if on_rows is None or not len(rows):
        return None
    before = max(0, int(rows[0]) - shard.row_offset)  # the shard's rows ahead of this batch
    return lambda n: on_rows(shard.name, min(shard.num_rows, before + n))


def _batches(shard: Shard, batch_size: int, text_column: str, out: _MapOutputs,
             json_schema: pa.Schema | None = None) -> Iterator[tuple[np.ndarray, pa.RecordBatch]]:
    """The shard's readable batches; undecodable ranges and malformed lines go to ``out``; progress every 30 s."""
    logged = time.perf_counter()
    for item in read_shard(shard, batch_size, text_column, json_schema):
        if isinstance(item, FileFailure):
            out.unreadable.append(item)
        elif isinstance(item, Quarantined):
            out.quarantine.add(item.table)
        else:
            if time.perf_counter() - logged > _LOG_EVERY_S:
                logged = time.perf_counter()
                log.info("%s (%s): %d of %d rows done", shard.name, shard.source,
                         int(item.rows[-1]) + 1 - shard.row_offset, shard.num_rows)
            yield item.rows, item.batch


def _working(table: pa.Table, text_column: str) -> tuple[str, ...]:
    """The working copy of a nested text column (``metadata.text`` beside its struct), which outputs leave out."""
    head = text_column.partition(".")[0]
    return (text_column,) if head != text_column and head in table.column_names else ()


def _local_rules(stage: FilterStage, dets: tuple[Detector, ...]) -> list[Rule] | None:
    """The rules that remove a row whatever the corpus-wide step finds: those that read no corpus-wide detector's
    column, when any rule alone removes a row (``combine: any``); None when there are none."""
    corpus = {c for d in dets if isinstance(d, CorpusDetector) for c in d.columns}
    rules = [r for r in stage.rules if r.column not in corpus and r.by not in corpus]
    return rules if rules and stage.combine == "any" else None


def _emit_keys(dets: tuple[Detector, ...], good: pa.Table, text_column: str, shard: Shard,
               keys: dict[str, _Pieces], local: list[Rule] | None = None) -> None:
    """Each corpus-wide detector's keys for the batch, with the position columns its reduce joins back by, and
    (with ``local`` rules) which rows those rules remove anyway."""
    if not good.num_rows:
        return
    removed = None
    if local is not None:
        # A rule on a column this file lacks fails at decide; here it just does not count.
        fired = [r.fires(good) for r in local if r.column in good.column_names and r.by in (None, *good.column_names)]
        removed = pa.array(np.any(fired, axis=0) if fired else np.zeros(good.num_rows, bool))
    for d in dets:
        if isinstance(d, CorpusDetector):
            k = d.map(detector_view(good, d, text_column))
            k = k.append_column(SHARD, pa.array(np.full(good.num_rows, shard.index, np.int32)))
            k = k.append_column(ROW, good[SOURCE_ROW])
            keys[d.name].add(k if removed is None else k.append_column(REMOVED_ANYWAY, removed))


@dataclass(frozen=True)
class ReduceTask:
    """The corpus-wide step of one detector over the keys of every shard."""

    detector: str
    out: str
    config: FilterConfig
    shards: tuple[str, ...]
    partitions: int = 1
    work: str | None = None


def reduce_detector(task: ReduceTask, spread_over: Executor | None = None) -> ReduceStats:
    """Run one corpus-wide detector's reduce and split its per-row results back into shards.

    With ``spread_over``, the detector's parallel reduce runs as that executor's tasks (``task.partitions``
    partitions); otherwise its ``reduce`` runs here, in one process.
    """
    start = time.perf_counter()
    lay = Layout(task.out, task.work)
    (det,) = [d for d in load_detectors(task.config.detectors) if d.name == task.detector]
    assert isinstance(det, CorpusDetector)
    files = tuple(str(p) for name in task.shards
                  if _has_rows(lay, name, p := lay.keys_dir(det.name) / f"{name}.parquet", f"reduce {det.name}"))
    if not files:  # no valid row anywhere: nothing to reduce
        lay.mark_done(f"reduce-{det.name}")
        return ReduceStats(det.name, 0, time.perf_counter() - start)
    keys = ds.dataset(list(files), format="parquet")
    if spread_over is not None:
        scratch = lay.work / "components" / det.name
        shutil.rmtree(scratch, ignore_errors=True)  # what a killed attempt left
        scratch.mkdir(parents=True)
        result = det.reduce_parallel(ReduceContext(files, scratch, task.partitions, spread_over.pmap))
    else:
        result = det.reduce(keys)
    if result.num_rows != keys.count_rows():
        raise RuntimeError(f"detector {det.name}: reduce returned {result.num_rows} rows for {keys.count_rows()} keys")
    _split_by_shard(result, lambda shard: lay.reduced(det.name, f"part-{shard:06d}"))
    stats = ReduceStats(det.name, result.num_rows, time.perf_counter() - start, spread=spread_over is not None)
    stats.write(lay.reduce_stats(det.name))
    lay.mark_done(f"reduce-{det.name}")
    return stats


def _has_rows(lay: Layout, shard: str, path: Path, task: str) -> bool:
    """Whether the map of ``shard`` wrote rows to ``path`` (as its stats say); a missing input is an error, never an
    empty shard."""
    valid = MapStats.read(lay.stats("map", shard)).valid
    if valid and not path.exists():
        raise FileNotFoundError(f"{task}: {path} is missing, though the map of {shard} wrote {valid} rows to it; "
                                "--resume scores the shard again")
    return bool(valid)


def reopen_lost(lay: Layout, shards: list[Shard], detectors: tuple[str, ...]) -> list[str]:
    """Un-mark finished map and reduce tasks whose outputs a decide still to run needs but that are gone, and
    return their names: a finished run deletes its working files, and a decide whose marker was lost needs them
    again. Tasks give the same bytes every time, so running them again changes nothing else."""
    pending = [s for s in shards if not lay.is_done(f"decide-{s.name}")]
    if not pending and all(lay.is_done(f"reduce-{d}") for d in detectors):
        return []
    valid = {s.name: MapStats.read(lay.stats("map", s)).valid for s in shards if lay.is_done(f"map-{s.name}")}
    needed = {s.name for s in pending if valid.get(s.name)}
    reopened = [f"reduce-{d}" for d in detectors if lay.is_done(f"reduce-{d}")
                and any(not lay.reduced(d, name).exists() for name in needed)]
    for name in reopened:
        lay.unmark(name)
    rekey = [d for d in detectors if not lay.is_done(f"reduce-{d}")]  # a reduce to run reads every shard's keys
    for s in shards:
        if valid.get(s.name) and ((s.name in needed and not lay.scored(s).exists())
                                  or any(not lay.keys(d, s).exists() for d in rekey)):
            lay.unmark(f"map-{s.name}")
            reopened.append(f"map-{s.name}")
    return reopened


def _split_by_shard(result: pa.Table, path_of: Callable[[int], Path]) -> None:
    """Write a reduce's rows (sorted by shard) as one file per shard."""
    shard_ids = result[SHARD].to_numpy()
    bounds = np.flatnonzero(np.diff(shard_ids)) + 1
    for lo, hi in zip(np.r_[0, bounds], np.r_[bounds, len(shard_ids)], strict=True):
        if hi > lo:
            write_parquet(result.slice(lo, hi - lo).drop_columns([SHARD]), path_of(int(shard_ids[lo])))


def decide_shard(task: ShardTask) -> DecideStats:
    """Join corpus-wide results to a shard's scored rows, apply the filter stage, write kept/removed."""
    start = time.perf_counter()
    cfg, shard, lay = task.config, task.shard, task.layout
    kept, removed = _Pieces(), _Pieces()
    stats = DecideStats(shard.name)
    path = lay.scored(shard)
    if _has_rows(lay, shard.name, path, f"decide {shard.name}"):
        table = pq.read_table(path)
        for name in task.joins:
            table = _join_reduced(table, pq.read_table(lay.reduced(name, shard.name)), name)
        # Input that an earlier run wrote carries that run's decision columns: this run's replace them.
        table = table.drop_columns([c for c in (FILTER_REASON, FILTER_DECISION, WEIGHT) if c in table.column_names])
        decision = task.stage.decide(table)
        stats.flagged = int(decision.remove.sum())
        write_samples(table, decision.remove, lay.samples(shard), decision.reason)
        stats.filter_reasons = count_labels(decision.reason.to_pylist(), sep=";")
        table = table.append_column(FILTER_REASON, decision.reason)
        if cfg.mode == "drop":
            kept.add(table.filter(pa.array(~decision.remove)).drop_columns([FILTER_REASON]))
            removed.add(table.filter(pa.array(decision.remove)))
        elif cfg.mode == "tag":
            labels = np.where(decision.remove, "remove", "keep")
            kept.add(table.append_column(FILTER_DECISION, pa.array(labels, pa.string())))
        else:
            kept.add(table.append_column(WEIGHT, pa.array(decision.weight, pa.float64())))
    stats.kept = kept.write(lay.kept(shard), cfg.output_format, cfg.text_column)
    stats.removed = removed.write(lay.removed(shard), cfg.output_format, cfg.text_column)
    stats.decide_seconds = time.perf_counter() - start
    stats.write(lay.stats("decide", shard))
    lay.mark_done(f"decide-{shard.name}")
    return stats


def _join_reduced(table: pa.Table, reduced: pa.Table, name: str) -> pa.Table:
    # Keys were written in row order and reduce sorts by row, so the two line up one to one.
    if not np.array_equal(reduced[ROW].to_numpy(), table[SOURCE_ROW].to_numpy()):
        raise RuntimeError(f"detector {name}: reduced rows do not match the shard's scored rows")
    return set_columns(table, reduced.drop_columns([ROW]))
