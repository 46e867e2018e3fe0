"""``check_detector``: the conformance check every detector passes, in the spirit of scikit-learn's
``check_estimator``. A plugin author runs it on their own detector; the test suite runs it on every registered one.

What it asserts, raising AssertionError that names the detector and the column:

- the declaration: every ``Column(when=...)`` names a parameter, and the default rules read declared columns;
- ``score`` (a row detector) or ``map`` then ``reduce`` (a corpus detector, and ``reduce_parallel`` where it has one)
  returns exactly the declared columns, of the declared types, one row per input row (for ``reduce``: every
  ``_shard``, ``_row`` once, in order); scoring twice gives the same values (for a detector that
  ``reports_progress``, the second time with a ``progress`` callable, whose rows never decrease nor pass the batch's);
- a float score is never null, and where it is NaN (an empty or very short text, say) the reason column says why;
- scoring leaves the parameters as they were (``get_params()`` before equals after), and a copy built from them
  (``dataclasses.replace``) has the same parameters;
- ``filterkit.run`` writes exactly the declared columns with the declared types; for a row detector the datatrove
  step (``filterkit.adapters.datatrove_step.FilterkitFilter``) and ``score_dataset``
  (``filterkit.adapters.hf_datasets``) give the same columns and values as that run (each adapter is checked
  where its library is installed).

The detector's class must be importable by its module path (as any detector a config names must be), and
``setup()`` must succeed: the check scores for real.
"""
from __future__ import annotations

import copy
import dataclasses
import importlib.util
import json
import math
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from filterkit.config import DetectorSpec, FilterConfig
from filterkit.contract.detector import (
    ROW,
    SHARD,
    TEXT,
    CorpusDetector,
    Detector,
    ReduceContext,
    RowDetector,
    column_problems,
)
from filterkit.engine.pipeline import run

_LONG = " ".join(
    ["Residents said the construction plan was published in the autumn after the council met on Tuesday, and the "
     "library, which had been closed for two years, would reopen with a new reading room for children."] * 6)
DEFAULT_TEXTS: tuple[str, ...] = (
    "The council approved the new library after a long campaign by residents, and construction will begin soon.",
    "THE COUNCIL approved the new library after a long campaign by residents, and construction will begin soon.",
    "She walked to the lighthouse every morning and found a message in a bottle, written in a language she did "
    "not know, signed with the same initial every time.",
    "Prices rose by 3.5% in March, the statistics office said on Tuesday, the largest rise in more than a year.",
    "Hi.",
    "a",
    " ",
    "",
    "这是一个中文句子，用来测试。ünïcödé ✓",
    "The goveRnment annOunced a new plaN to reduCe the cOst of pubLic traNsport.",
    _LONG,
)
"""Ordinary sentences, a copy differing in case, very short, blank and empty texts, another script, an attacked
text and a long one: the cases where a score is most often undefined or a column most often goes missing."""


def check_detector(detector: Detector, texts: Sequence[str] = DEFAULT_TEXTS, *, adapters: bool = True,
                   workdir: str | Path | None = None) -> None:
    """Assert that ``detector`` keeps the detector contract (see the module docstring); raise AssertionError if not.

    ``texts`` are strings (a run never hands a detector null text); ``adapters=False`` skips the datatrove step and
    ``score_dataset``; ``workdir`` (default: a temporary directory) receives the small corpus and the run's output.
    """
    if not isinstance(detector, (RowDetector, CorpusDetector)):
        raise AssertionError(f"check_detector: {detector!r} is neither a RowDetector nor a CorpusDetector")
    texts = list(texts)
    if not texts or not all(isinstance(t, str) for t in texts):
        raise AssertionError("check_detector: texts must be a non-empty list of strings")
    name = getattr(type(detector), "name", None) or type(detector).__name__
    if workdir is not None:
        Path(workdir).mkdir(parents=True, exist_ok=True)
    detector.setup()  # first: a missing model or index is the error to show, not what follows from it
    _check_declaration(detector, name)
    before = copy.deepcopy(detector.get_params())
    if isinstance(detector, RowDetector):
        first = _check_score(detector, name, texts)
    else:
        first = _check_map_reduce(detector, name, texts, workdir)
    after = detector.get_params()
    changed = sorted(k for k in before if not _same(before[k], after.get(k)))
    _require(not changed, name, f"scoring changed the parameters {changed}: {[before[k] for k in changed]} -> "
                                f"{[after.get(k) for k in changed]}")
    _check_nan_reasons(detector, name, first)
    if workdir is not None:
        _check_run(detector, name, texts, Path(workdir), adapters)
        return
    with tempfile.TemporaryDirectory(prefix="filterkit-check-") as tmp:
        _check_run(detector, name, texts, Path(tmp), adapters)


def _require(ok: bool, name: str, message: str) -> None:
    if not ok:
        raise AssertionError(f"detector {name}: {message}")


def _check_declaration(det: Detector, name: str) -> None:
    """The declaration holds together: a prefix, columns, ``when`` naming parameters, default rules on columns."""
    _require(dataclasses.is_dataclass(det), name, "is not a dataclass: its parameters must be dataclass fields")
    _require(isinstance(getattr(type(det), "name", None), str) and "." not in name, name,
             "`name` (the column prefix) must be a string without a dot")
    _require(bool(det.scores), name, "declares no columns: set `scores` to a tuple of Column specs")
    for column in det.scores:
        try:
            column.active(det)
        except TypeError as exc:
            raise AssertionError(str(exc)) from exc
    _require(bool(det.columns), name, "writes no column with these parameters")
    params = det.get_params()
    rebuilt = dataclasses.replace(det).get_params()
    differ = sorted(k for k in params if not _same(params[k], rebuilt.get(k)))
    _require(not differ, name, f"construction rewrites the parameters {differ}: "
                               f"{[params[k] for k in differ]} -> {[rebuilt.get(k) for k in differ]}")
    for rule in det.default_rules():
        _require(rule.column in det.columns, name,
                 f"a default rule reads column {rule.column!r}, which it does not declare (it declares "
                 f"{det.columns})")


def _check_columns(det: Detector, name: str, table: pa.Table, rows: int, where: str,
                   positions: bool = False) -> None:
    """``table`` holds exactly the declared columns (with the positions, for a reduce), typed as declared."""
    _require(isinstance(table, pa.Table), name, f"{where} returned {type(table).__name__}, not a pyarrow.Table")
    _require(table.num_rows == rows, name, f"{where} returned {table.num_rows} rows for {rows}")
    problems = column_problems(det, table.schema, ignore=(SHARD, ROW) if positions else ())
    _require(not problems, name, f"{where}: {'; '.join(problems)}")
    if positions:
        for column in (SHARD, ROW):
            _require(column in table.column_names, name, f"{where} returned no {column!r} column")


def _check_score(det: RowDetector, name: str, texts: list[str]) -> pa.Table:
    """``score`` returns the declared columns, one row per text, the same values twice; a detector that
    ``reports_progress`` the second time with a ``progress`` callable, reporting rows that never decrease and
    never pass the batch's, and the same values."""
    batch = pa.table({TEXT: pa.array(texts, pa.string())})
    out = det.score(batch)
    _check_columns(det, name, out, len(texts), "score()")
    if not det.reports_progress:
        _check_same(name, out, det.score(batch), "score() twice on the same batch")
        return out
    reported: list[int] = []
    again = det.score(batch, progress=reported.append)  # type: ignore[call-arg]
    _check_same(name, out, again, "score() with progress and without it")
    _require(all(isinstance(r, (int, np.integer)) and 0 <= r <= len(texts) for r in reported), name,
             f"reports_progress: progress() got {reported}, not row counts between 0 and {len(texts)}")
    _require(reported == sorted(reported), name, f"reports_progress: the rows reported went down: {reported}")
    return out


def _serial_pmap(fn: Any, tasks: list[Any]) -> list[Any]:
    return [fn(t) for t in tasks]


def _check_map_reduce(det: CorpusDetector, name: str, texts: list[str], workdir: str | Path | None) -> pa.Table:
    """``map`` gives one key row per text; ``reduce`` (and ``reduce_parallel``) the declared columns per row."""
    with tempfile.TemporaryDirectory(prefix="filterkit-check-keys-", dir=workdir) as tmp:
        half = (len(texts) + 1) // 2
        files = []
        for shard, part in enumerate((texts[:half], texts[half:])):
            if not part:
                continue
            keys = det.map(pa.table({TEXT: pa.array(part, pa.string())}))
            _require(isinstance(keys, pa.Table) and keys.num_rows == len(part), name,
                     f"map() returned {getattr(keys, 'num_rows', keys)!r} rows for {len(part)}")
            # The positions as the pipeline adds them (filterkit.engine.tasks._emit_keys).
            keys = keys.append_column(SHARD, pa.array(np.full(len(part), shard, np.int32)))
            keys = keys.append_column(ROW, pa.array(np.arange(len(part), dtype=np.int64)))
            files.append(str(Path(tmp) / f"{shard}.parquet"))
            pq.write_table(keys, files[-1])
        out = det.reduce(ds.dataset(files, format="parquet"))
        _check_columns(det, name, out, len(texts), "reduce()", positions=True)
        want = [(0, r) for r in range(half)] + [(1, r) for r in range(len(texts) - half)]
        got = list(zip(out[SHARD].to_pylist(), out[ROW].to_pylist(), strict=True))
        _require(got == want, name, "reduce() must return every (_shard, _row) once, sorted")
        if det.parallel_reduce:
            scratch = Path(tmp) / "scratch"
            scratch.mkdir()
            spread = det.reduce_parallel(ReduceContext(tuple(files), scratch, 2, _serial_pmap))
            _check_columns(det, name, spread, len(texts), "reduce_parallel()", positions=True)
            _check_same(name, out, spread, "reduce_parallel() against reduce()")
        return out.drop_columns([SHARD, ROW])


def _check_nan_reasons(det: Detector, name: str, out: pa.Table) -> None:
    """A float score is never null; where it is NaN, the reason column says why."""
    reason = det.reason_column
    reasons = out[reason].to_pylist() if reason else None
    for f in det.schema:
        if not pa.types.is_floating(f.type):
            continue
        _require(out[f.name].null_count == 0, name, f"column {f.name!r} has null scores: an undefined score is NaN")
        nan = np.flatnonzero(np.isnan(out[f.name].to_numpy(zero_copy_only=False)))
        if not len(nan):
            continue
        _require(reasons is not None, name, f"column {f.name!r} is NaN in rows {nan.tolist()}, and the detector "
                                            "declares no reason column (Column('reason', pa.string(), reason=True))")
        silent = [int(i) for i in nan if reasons[i] is None]
        _require(not silent, name, f"column {f.name!r} is NaN in rows {silent} where {reason!r} gives no reason")


def _spec(det: Detector) -> DetectorSpec:
    """The config entry that rebuilds ``det`` in a run: its class by module path, its parameters as JSON gives them."""
    cls = type(det)
    params = json.loads(json.dumps(det.get_params(), default=str))
    return DetectorSpec(f"{cls.__module__}:{cls.__qualname__}", params)


def _check_run(det: Detector, name: str, texts: list[str], work: Path, adapters: bool) -> None:
    """``filterkit.run`` writes the declared columns; the two adapters write the same ones, with the same values."""
    work.mkdir(parents=True, exist_ok=True)
    ids = list(range(len(texts)))
    pq.write_table(pa.table({"id": ids, TEXT: pa.array(texts, pa.string())}), work / "corpus.parquet")
    config = FilterConfig(detectors=(_spec(det),), mode="tag")
    result = run([str(work / "corpus.parquet")], work / "run", config, overwrite=True)
    _require(result.ok, name, f"filterkit.run failed: {result.report.get('failed_tasks')}")
    files = sorted(str(p) for p in (work / "run" / "kept").glob("*.parquet"))
    _require(bool(files), name, "filterkit.run kept no row of the check's corpus")
    written = ds.dataset(files, format="parquet").to_table()
    mine = pa.schema([f for f in written.schema if f.name.startswith(f"{det.name}.")])
    problems = column_problems(det, mine)
    _require(not problems, name, f"filterkit.run wrote: {'; '.join(problems)}")
    if not isinstance(det, RowDetector) or not adapters:
        return
    by_id = {c: dict(zip(written["id"].to_pylist(), _plain(written[c].to_pylist()), strict=True))
             for c in det.columns}
    if importlib.util.find_spec("datatrove") is not None:
        _check_datatrove(det, name, texts, config, by_id)
    if importlib.util.find_spec("datasets") is not None:
        _check_score_dataset(det, name, texts, config, by_id)


def _check_datatrove(det: RowDetector, name: str, texts: list[str], config: FilterConfig,
                     want: dict[str, dict[int, Any]]) -> None:
    # Imported here: the adapter needs datatrove, an optional extra, and this module must import without it.
    from filterkit.adapters.datatrove_step import score_documents

    metadata = score_documents(texts, config)
    for meta in metadata:
        extra = sorted(k for k in meta if k.startswith(f"{det.name}.") and k not in det.columns)
        _require(not extra, name, f"the datatrove step wrote undeclared metadata {extra}")
    for column, values in want.items():
        for i, value in values.items():
            got = metadata[i].get(column, "<missing>")
            _require(_same(got, value), name, f"the datatrove step wrote {column!r} = {got!r} for text {i}, "
                                              f"filterkit.run {value!r}")


def _check_score_dataset(det: RowDetector, name: str, texts: list[str], config: FilterConfig,
                         want: dict[str, dict[int, Any]]) -> None:
    from filterkit.adapters.hf_datasets import score_texts

    out = score_texts(texts, config)
    mine = pa.schema([f for f in out.schema if f.name.startswith(f"{det.name}.")])
    problems = column_problems(det, mine)
    _require(not problems, name, f"score_dataset wrote: {'; '.join(problems)}")
    for column, values in want.items():
        got = _plain(out[column].to_pylist())
        for i, value in values.items():
            _require(_same(got[i], value), name, f"score_dataset wrote {column!r} = {got[i]!r} for text {i}, "
                                                 f"filterkit.run {value!r}")


def _check_same(name: str, a: pa.Table, b: pa.Table, what: str) -> None:
    _require(a.column_names == b.column_names, name, f"{what}: columns {a.column_names} and {b.column_names}")
    for column in a.column_names:
        left, right = _plain(a[column].to_pylist()), _plain(b[column].to_pylist())
        differ = [i for i, (x, y) in enumerate(zip(left, right, strict=True)) if not _same(x, y)]
        _require(not differ, name, f"{what}: column {column!r} differs in rows {differ}")


def _plain(values: list[Any]) -> list[Any]:
    """Python values with NaN as None (what JSON writers and datatrove's metadata make of it) and numpy scalars
    as Python numbers."""
    out = []
    for v in values:
        if isinstance(v, list):
            v = _plain(v)
        elif isinstance(v, np.generic):
            v = v.item()
        out.append(None if isinstance(v, float) and math.isnan(v) else v)
    return out


def _same(a: Any, b: Any) -> bool:
    """Equal, NaN equal to NaN and to None, floats to a relative 1e-6, lists element by element, types alike."""
    if isinstance(a, float) and math.isnan(a):
        a = None
    if isinstance(b, float) and math.isnan(b):
        b = None
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, float) or isinstance(b, float):
        return (isinstance(a, (int, float)) and isinstance(b, (int, float))
                and math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9))
    return a == b
