"""The driver: plan shards, map, reduce, decide, report. Nothing here knows which executor runs the tasks."""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import json
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

from filterkit.config import FilterConfig, UsageError
from filterkit.contract.detector import CorpusDetector, Detector
from filterkit.engine.executors import Executor, LocalExecutor, TaskFailure
from filterkit.engine.report import build_report, render_report
from filterkit.engine.scoring import load_detectors
from filterkit.engine.tasks import (
    ReduceTask,
    ShardTask,
    decide_shard,
    map_shard,
    reduce_detector,
    reopen_lost,
)
from filterkit.io.fs import is_remote, size
from filterkit.io.layout import Layout
from filterkit.io.layout import OutputInUseError as OutputInUseError  # what run raises while another run works
from filterkit.io.readers import file_schema, json_schema, plan_files, schema_from_text, schema_to_text
from filterkit.io.sources import FileFailure, InputFile, Shard, discover, text_of
from filterkit.io.storage import (
    exists,
    read_json,
    remove_stale_temporaries,
    write_json,
)
from filterkit.stage.rules import FilterStage

__version__ = version("filterkit")
"""The installed distribution's version, which every report records."""
log = logging.getLogger(__name__)
Progress = Callable[[str, int, int], None]
"""Called as ``progress(phase, done, total)`` while a run advances."""


class OutputExistsError(RuntimeError):
    """The output directory holds another run, or a run the caller did not ask to resume."""


class RunFinishedError(OutputExistsError):
    """The output directory holds this very run, finished: nothing to do without ``resume`` or ``overwrite``."""

    def __init__(self, result: RunResult, message: str) -> None:
        super().__init__(message)
        self.result = result
        """The finished run, its report read back."""


@dataclass(frozen=True)
class RunResult:
    """What a run produced."""

    out: Path | str
    """The output directory: a local path, or the URI of a remote one."""
    report: dict[str, Any]

    @property
    def ok(self) -> bool:
        """False when a file or row group could not be read (its rows are in the report, not in outputs), a task
        failed, or the counts do not add up."""
        return (not self.report["files_failed"] and not self.report["counts"]["unreadable_rows"]
                and not self.report["failed_tasks"] and self.report["conservation"]["holds"])


def run(
    inputs: list[str],
    out: str | Path,
    config: FilterConfig | None = None,
    *,
    executor: Executor | None = None,
    resume: bool = False,
    overwrite: bool = False,
    keep_work: bool = False,
    progress: Progress | None = None,
    work_dir: str | Path | None = None,
) -> RunResult:
    """Score, decide and write ``inputs`` into ``out``; see the README for the output layout.

    ``inputs`` and ``out`` are local paths or URIs (``s3://``, ``gs://``, ``hf://``, ...). ``work_dir`` holds the
    run's working files on a local (or shared) disk: by default ``out/_work``, or for a remote ``out`` a
    directory under ``~/.cache/filterkit/work`` named by it, so that a rerun on this machine resumes. One run at a
    time works in a working directory: another one is refused at once (``OutputInUseError``).
    """
    config = config or FilterConfig()
    lay = Layout(out, work_dir, config.output_format)
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(lay.locked())
        except OSError as exc:  # a read-only disk, a path through a file: before any work, and nothing written
            raise UsageError(f"cannot write to the output directory {lay.root}: {exc}") from exc
        return _run(inputs, lay, config, executor or LocalExecutor(), resume=resume, overwrite=overwrite,
                    keep_work=keep_work, progress=progress)


def _run(inputs: list[str], lay: Layout, config: FilterConfig, executor: Executor, *, resume: bool,
         overwrite: bool, keep_work: bool, progress: Progress | None) -> RunResult:
    started = time.perf_counter()
    files = discover(inputs, exclude=lay.root)
    if not files:
        raise FileNotFoundError(f"no input files (.parquet, .jsonl[.gz|.zst], .arrow) found in {inputs}")
    manifest = json.loads(json.dumps({
        "filterkit": __version__,
        "config": config.to_dict(),
        "inputs": [{"source": f.source, "path": f.path, "format": f.format, "bytes": size(f.path)} for f in files],
    }, default=str))  # a JSON round trip, so it compares equal to the manifest read back on resume
    # Everything that can be checked is checked before the first write, so a usage error leaves nothing behind.
    action = _check_output(lay, manifest, resume=resume, overwrite=overwrite)
    dets = load_detectors(config.detectors)
    for d in dets:
        d.setup()  # fail fast, in the driver, on what the workers would only find on their first row
    stage = filter_stage(config, dets)
    planned = action != "clear" and lay.plan.exists()
    if not planned:
        p = plan_files(files, config.rows_per_shard, config.max_shard_bytes)
        shards, failures = _check_columns(p.shards, p.failures, config)
        empty, schema = p.empty, json_schema(files, config.text_column)
        _check_rules(shards, stage, dets)
    _prepare(lay, manifest, action)

    work = str(lay.work)
    if planned:
        plan = read_json(lay.plan)
        shards = [Shard(**{**s, "row_groups": tuple(s["row_groups"])}) for s in plan["shards"]]
        failures = [FileFailure(**f) for f in plan["failures"]]
        empty = plan.get("empty")  # None: a plan of an earlier version, which did not list them
        schema = (schema_from_text(plan["json_schema"]) if "json_schema" in plan
                  else json_schema(files, config.text_column))
    else:
        write_json({"shards": [dataclasses.asdict(s) for s in shards],
                    "failures": [dataclasses.asdict(f) for f in failures],
                    "empty": empty, "json_schema": schema_to_text(schema)}, lay.plan)
    failures += _unaccounted(files, shards, failures, empty)

    corpus = [d for d in dets if isinstance(d, CorpusDetector)]
    tasks = [ShardTask(s, lay.root, config, stage, tuple(d.name for d in corpus), work, schema) for s in shards]
    reopen_lost(lay, shards, tuple(d.name for d in corpus))  # what a finished run deleted and a decide needs again
    rows = {s.name: s.num_rows for s in shards}  # progress counts rows: a shard of a slow detector takes minutes
    todo = [t for t in tasks if not lay.is_done(f"map-{t.shard.name}")]
    failed = _run_phase(executor, map_shard, todo, "score", *_rows_left(rows, todo), progress, rows, live=True)
    if not failed:
        # A corpus-wide step over part of the corpus would give other answers than over all of it: all maps first.
        names = tuple(s.name for s in shards)
        reduces = [(ReduceTask(d.name, lay.root, config, names, 2 * executor.workers, work),
                    executor.distributed and d.parallel_reduce) for d in corpus if not lay.is_done(f"reduce-{d.name}")]
        failed = _run_phase(executor, reduce_detector, [t for t, spread in reduces if not spread], "dedup",
                            len(reduces), 0, progress)
        failed += _reduce_spread(executor, [t for t, spread in reduces if spread], progress,
                                 len(reduces) - sum(spread for _, spread in reduces), len(reduces))
    if not failed:
        todo = [t for t in tasks if not lay.is_done(f"decide-{t.shard.name}")]
        failed = _run_phase(executor, decide_shard, todo, "decide", *_rows_left(rows, todo), progress, rows)

    report = build_report(lay, shards, failures, stage, config, wall_seconds=time.perf_counter() - started,
                          failed_tasks=failed)
    render_report(lay, report)
    if not report["conservation"]["holds"]:
        log.error("the outputs do not add up: %s", report["conservation"]["statement"])
    if not keep_work and not failed:
        for sub in ("scored", "keys", "reduced", "components"):
            shutil.rmtree(lay.work / sub, ignore_errors=True)
    return RunResult(out=lay.root if is_remote(lay.root) else Path(lay.root), report=report)


def filter_stage(config: FilterConfig, dets: tuple[Detector, ...] | None = None) -> FilterStage:
    """The filter stage a run of ``config`` applies: its rules, or else its detectors' default rules."""
    dets = load_detectors(config.detectors) if dets is None else dets
    return config.stage([r for d in dets for r in d.default_rules()])


def score(inputs: list[str], out: str | Path, config: FilterConfig | None = None, **kwargs: Any) -> RunResult:
    """Write every row with its score columns and a decision column (the ``tag`` mode)."""
    return run(inputs, out, (config or FilterConfig()).replace(mode="tag"), **kwargs)


def _run_phase(executor: Executor, fn: Callable, tasks: list, phase: str, total: int, done: int,
               progress: Progress | None, rows: dict[str, int] | None = None, live: bool = False) -> list[TaskFailure]:
    """Run one phase's tasks; return those that failed on every attempt.

    Progress counts tasks, or with ``rows`` (a shard's name to its rows) rows. With ``live`` (``fn`` takes
    ``on_rows``, as ``map_shard`` does) a task that the executor runs in this process reports its rows as it goes,
    batch by batch and within a batch; one in another process (a pool, Ray) counts when it ends.
    """
    failed = []
    partial: dict[str, int] = {}  # rows done so far by the tasks running in this process

    def batch_done(shard: str, n: int) -> None:
        partial[shard] = n
        if progress:
            progress(phase, done + sum(partial.values()), total)

    if progress:
        progress(phase, done, total)
    if live and progress and rows is not None and executor.runs_inline(len(tasks)):
        fn = functools.partial(fn, on_rows=batch_done)
    for result in executor.map_unordered(fn, tasks):
        if isinstance(result, TaskFailure):
            log.error("%s task failed after %d attempts: %s", phase, result.attempts, result.error)
            failed.append(result)
            partial.pop(getattr(getattr(result.task, "shard", None), "name", None), None)
            continue
        shard = getattr(result, "shard", None)
        partial.pop(shard, None)
        done += rows[shard] if rows is not None and shard in rows else 1
        if progress:
            progress(phase, done, total)
    return failed


def _rows_left(rows: dict[str, int], todo: list[ShardTask]) -> tuple[int, int]:
    """All the rows of a phase and the rows of its shards already done (by an earlier invocation)."""
    total = sum(rows.values())
    return total, total - sum(rows[t.shard.name] for t in todo)


def _reduce_spread(executor: Executor, tasks: list[ReduceTask], progress: Progress | None, done: int,
                   total: int) -> list[TaskFailure]:
    """Corpus-wide steps that this process drives as many executor tasks (a Ray cluster's shuffle)."""
    failed = []
    for task in tasks:
        try:
            reduce_detector(task, executor)
        except Exception as exc:
            log.error("dedup task %s failed: %r", task.detector, exc)
            failed.append(TaskFailure(task, repr(exc), 1))
            continue
        done += 1
        if progress:
            progress("dedup", done, total)
    return failed


def _check_output(lay: Layout, manifest: dict[str, Any], *, resume: bool, overwrite: bool) -> str:
    """Refuse an output directory this run may not write into, writing nothing; say what ``_prepare`` is to do.

    ``clear``: it holds something and ``overwrite`` replaces it; ``resume``: it holds this run, unfinished or
    failed, to finish; ``fresh``: it is empty.
    """
    if resume and overwrite:
        raise ValueError("choose one of resume and overwrite")
    if not lay.holds_files():  # the lock file this run holds aside
        return "fresh"
    if overwrite:
        return "clear"
    if not exists(lay.manifest):
        raise OutputExistsError(f"{lay.root} is not empty and holds no filterkit run; refusing to write into it")
    if read_json(lay.manifest) != manifest:
        if resume:
            raise OutputExistsError(f"{lay.root} holds a different run (other config or inputs); use --overwrite")
        raise OutputExistsError(f"{lay.root} holds a different run; pass --overwrite to replace it")
    if not resume:
        if _finished(lay):
            out = lay.root if is_remote(lay.root) else Path(lay.root)
            result = RunResult(out=out, report=read_json(lay.report_json))
            raise RunFinishedError(result, f"{lay.root} already holds this run, finished; its report is "
                                           f"{lay.out('report', 'report.md')} (--resume writes the report again, "
                                           "--overwrite runs it again)")
        raise OutputExistsError(f"{lay.root} holds this run, unfinished (stopped, or with failed tasks); pass "
                                "--resume to finish it or --overwrite to start again")
    return "resume"


def _finished(lay: Layout) -> bool:
    """Whether the run in ``lay`` decided every shard of its plan and wrote its report."""
    if not (exists(lay.report_json) and lay.plan.exists()):
        return False
    return all(lay.is_done(f"decide-{Shard(**s).name}") for s in read_json(lay.plan)["shards"])


def _prepare(lay: Layout, manifest: dict[str, Any], action: str) -> None:
    """Claim the output directory as ``_check_output`` said: clear it or tidy it, and write the manifest."""
    try:
        if action == "clear":
            lay.clear()  # all but the lock this run holds
        elif action == "resume":
            removed = remove_stale_temporaries(lay.root)
            removed += remove_stale_temporaries(lay.work) if lay.work.exists() else 0
            log.info("resuming %s (%d stale temporary files removed)", lay.root, removed)
        if not exists(lay.manifest):
            write_json(manifest, lay.manifest)
    except OSError as exc:  # a read-only or full disk, a path through a file: found before any work
        raise UsageError(f"cannot write to the output directory {lay.root}: {exc}") from exc


def _unaccounted(files: list[InputFile], shards: list[Shard], failures: list[FileFailure],
                 empty: list[str] | None) -> list[FileFailure]:
    """Every input file found must be in the plan: cut into shards, failed, or empty; any other is reported."""
    if empty is None:
        return []
    planned = {s.source for s in shards} | {f.source for f in failures} | set(empty)
    lost = [FileFailure(f.source, "found among the inputs but neither read nor reported: its rows are not counted")
            for f in files if f.source not in planned]
    for f in lost:
        log.error("%s: %s", f.source, f.error)
    return lost


def _check_columns(shards: list[Shard], failures: list[FileFailure], config: FilterConfig
                   ) -> tuple[list[Shard], list[FileFailure]]:
    """Files without the text (or id) column fail whole; if no readable file has it, that is a usage error."""
    needed = [c for c in (config.text_column, config.id_column) if c]
    bad: dict[str, str] = {}
    for s in shards:
        if s.source in bad:
            continue
        # plan_shards already failed every file whose schema is unreadable; a JSON Lines file is judged by the
        # fields of its first lines (a later line without the field is quarantined as null_text).
        schema = file_schema(s)
        empty = schema.empty_table()
        missing = [c for c in needed if text_of(empty, c) is None]
        if missing:
            what = " in its first lines" if s.format == "jsonl" else ""
            bad[s.source] = f"{s.source}: no column {missing[0]!r}{what}; its columns are {schema.names}"
    if bad and len(bad) == len({s.source for s in shards}):
        raise UsageError(next(iter(bad.values())))
    for source, message in bad.items():
        rows = sum(s.num_rows for s in shards if s.source == source)
        failures.append(FileFailure(source, message, 0, rows))
    kept = [s for s in shards if s.source not in bad]
    return [dataclasses.replace(s, index=i) for i, s in enumerate(kept)], failures


def _check_rules(shards: list[Shard], stage: FilterStage, dets: tuple[Detector, ...]) -> None:
    """Every rule must read a column some detector makes or the input has, checked before any work."""
    columns = {c for d in dets for c in d.columns}
    if shards:
        columns |= set(file_schema(shards[0]).names)
    needed = [r.column for r in stage.rules] + [r.by for r in stage.rules if r.by]
    needed += [stage.weight.column] if stage.weight else []
    for column in needed:
        if column not in columns:
            raise UsageError(f"a rule reads column {column!r}, which no configured detector produces; "
                             f"detectors give {sorted(c for d in dets for c in d.columns)}")
