"""Finding Parquet files, cutting them into shards, and reading shards as validated record batches."""
from __future__ import annotations

import glob
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs

SOURCE_FILE = "source_file"
SOURCE_ROW = "source_row"
QUARANTINE_REASON = "quarantine_reason"
QUARANTINE_ERROR = "quarantine_error"
QUARANTINE_RAW = "quarantine_raw"
"""Original bytes of a text that is not valid UTF-8 (its text column is null), so quarantine/ reads as one dataset."""
_PARQUET = ds.ParquetFileFormat()
_LOCAL = pafs.LocalFileSystem()
UNREADABLE = (OSError, ValueError, pa.ArrowException)
"""What reading a damaged file raises: I/O, Arrow and decoding errors (UnicodeDecodeError is a ValueError)."""


@dataclass(frozen=True)
class InputFile:
    """A Parquet file and the stable name that row ids derive from."""

    path: str
    source: str


@dataclass(frozen=True)
class Shard:
    """A row-group range of one file, or a slice of one large row group: the unit of work, retry and resume."""

    index: int
    path: str
    source: str
    row_groups: tuple[int, ...]
    row_offset: int
    num_rows: int
    skip: int = 0
    """Rows of the first row group before this shard's first row (a row group larger than a shard is sliced)."""

    @property
    def name(self) -> str:
        """Deterministic stem of every file this shard writes."""
        return f"part-{self.index:06d}"


@dataclass(frozen=True)
class FileFailure:
    """A file (or a row range of one) that could not be read at all."""

    source: str
    error: str
    row_start: int | None = None
    num_rows: int | None = None


def discover(inputs: list[str]) -> list[InputFile]:
    """Expand files, directories and globs into Parquet files with stable source names."""
    found: dict[str, str] = {}
    for item in inputs:
        if glob.has_magic(item):
            base = Path(item.split("*")[0].split("?")[0].split("[")[0]).parent
            matches = sorted(glob.glob(item, recursive=True))
            if not matches:
                raise FileNotFoundError(f"no files match {item!r}")
            for m in matches:
                found.setdefault(str(Path(m).resolve()), os.path.relpath(m, base))
        elif Path(item).is_dir():
            infos = _LOCAL.get_file_info(pafs.FileSelector(str(Path(item).resolve()), recursive=True))
            root = Path(item).resolve()
            for info in sorted(infos, key=lambda i: i.path):
                rel = os.path.relpath(info.path, root)
                hidden = any(part.startswith((".", "_")) for part in Path(rel).parts)
                if info.type == pafs.FileType.File and rel.endswith(".parquet") and not hidden:
                    found.setdefault(info.path, rel)
        elif Path(item).is_file():
            found.setdefault(str(Path(item).resolve()), Path(item).name)
        else:
            raise FileNotFoundError(f"input {item!r} does not exist")
    if len(set(found.values())) < len(found):
        # Two inputs share a relative name: fall back to full paths so ids stay unique.
        found = {p: p for p in found}
    return [InputFile(path=p, source=s) for p, s in sorted(found.items(), key=lambda kv: kv[1])]


def plan_shards(files: list[InputFile], rows_per_shard: int, max_shard_bytes: int | None = None
                ) -> tuple[list[Shard], list[FileFailure]]:
    """Cut files into shards of whole row groups, at most ``rows_per_shard`` rows each; unreadable files fail.

    A file fails here, as data and never as a usage error, when its metadata or its schema cannot be read.

    With ``max_shard_bytes``, a file's shards also hold no more rows than fit in it at the file's mean
    uncompressed bytes per row.
    """
    shards: list[Shard] = []
    failures: list[FileFailure] = []
    for f in files:
        try:
            fragment = _PARQUET.make_fragment(f.path, _LOCAL)
            fragment.ensure_complete_metadata()
            sizes = [rg.num_rows for rg in fragment.row_groups]
            nbytes = sum(rg.total_byte_size for rg in fragment.row_groups)
        except UNREADABLE as exc:
            failures.append(FileFailure(f.source, f"cannot read Parquet metadata: {exc}"))
            continue
        total = fragment.metadata.num_rows
        if min(sizes, default=0) < 0 or sum(sizes) != total:
            # A damaged footer can give a row group a negative or inconsistent count; only the file's own
            # total, when it is not negative, is left to count the rows by.
            failures.append(FileFailure(f.source, f"damaged metadata: row groups of {sizes} rows in a file of "
                                        f"{total}", 0 if total >= 0 else None, total if total >= 0 else None))
            continue
        try:
            fragment.physical_schema.names  # noqa: B018 - decodes the column names, which a damaged footer breaks
        except UNREADABLE as exc:
            # The row counts survived, so the file's rows are counted as unreadable rather than lost.
            failures.append(FileFailure(f.source, f"unreadable schema: {exc!r}", 0, sum(sizes)))
            continue
        per_file = rows_per_shard
        if max_shard_bytes is not None and sum(sizes):
            per_file = max(1, min(rows_per_shard, int(max_shard_bytes * sum(sizes) // max(1, nbytes))))
        start, group, rows = 0, [], 0
        for i, n in enumerate(sizes):
            if group and rows + n > per_file:
                shards.append(Shard(len(shards), f.path, f.source, tuple(group), start, rows))
                start, group, rows = start + rows, [], 0
            if n > per_file:
                # A row group bigger than a shard (a writer's default of a million rows, or one for the file):
                # slices of it, so that progress, retries and resume stay at shard size.
                for skip in range(0, n, per_file):
                    shards.append(Shard(len(shards), f.path, f.source, (i,), start + skip, min(per_file, n - skip),
                                        skip))
                start += n
                continue
            group.append(i)
            rows += n
        if group:
            shards.append(Shard(len(shards), f.path, f.source, tuple(group), start, rows))
    return shards, failures


def file_schema(path: str) -> pa.Schema:
    """The physical schema of one Parquet file."""
    return _PARQUET.make_fragment(path, _LOCAL).physical_schema


def read_shard(shard: Shard, batch_size: int) -> Iterator[tuple[int, pa.RecordBatch | FileFailure]]:
    """Yield ``(first_row, batch)`` per batch; a row group that fails to decode yields a FileFailure instead."""
    row, end = shard.row_offset, shard.row_offset + shard.num_rows
    fragment = _PARQUET.make_fragment(shard.path, _LOCAL)
    fragment.ensure_complete_metadata()
    rg_start = shard.row_offset - shard.skip
    for rg in shard.row_groups:
        rg_rows = fragment.row_groups[rg].num_rows
        stop = min(rg_start + rg_rows, end)
        position = rg_start
        try:
            piece = _PARQUET.make_fragment(shard.path, _LOCAL, row_groups=[rg])
            for batch in piece.to_batches(batch_size=batch_size, use_threads=False):
                lo, hi = max(position, row), min(position + batch.num_rows, stop)
                if hi > lo:
                    yield lo, batch.slice(lo - position, hi - lo)
                    row = hi
                position += batch.num_rows
                if position >= end:
                    break
            else:
                if position != rg_start + rg_rows:
                    raise ValueError(f"gave {position - rg_start} rows, metadata says {rg_rows}")
        except UNREADABLE as exc:
            # Rows already yielded stay; the rest of this row group is reported, never silently skipped.
            if row < stop:
                yield row, FileFailure(shard.source, f"cannot decode row group {rg}: {exc}", row, stop - row)
        row = stop
        rg_start += rg_rows


@dataclass(frozen=True)
class Validated:
    """A batch split into rows the detectors can score and rows that go to quarantine."""

    good: pa.Table
    bad: pa.Table


def validate(
    batch: pa.RecordBatch, first_row: int, source: str, text_column: str, id_column: str | None, max_text_bytes: int
) -> Validated:
    """Check the text (and id) of every row; good rows get their text as UTF-8 strings, bad rows a reason."""
    table = pa.Table.from_batches([batch])
    n = table.num_rows
    rows = np.arange(first_row, first_row + n, dtype=np.int64)
    reason = np.full(n, None, dtype=object)
    error = np.full(n, None, dtype=object)
    text, raw = _as_text(table[text_column], reason, error)
    if not (n and reason[0] == "not_text"):
        nbytes = pc.fill_null(pc.binary_length(text), 0).to_numpy(zero_copy_only=False)
        null = pc.is_null(text).to_numpy(zero_copy_only=False)
        blank = pc.fill_null(pc.equal(pc.utf8_trim_whitespace(text), ""), False).to_numpy(zero_copy_only=False)
        nul = pc.fill_null(pc.match_substring(text, "\x00"), False).to_numpy(zero_copy_only=False)
        _mark(reason, error, null, "null_text", "text is null")
        _mark(reason, error, nbytes > max_text_bytes, "too_large", f"text is over max_text_bytes={max_text_bytes}")
        _mark(reason, error, blank, "empty_text", "text is empty or whitespace")
        _mark(reason, error, nul, "binary_text", "text contains NUL bytes")
    if id_column is not None:
        _mark(reason, error, pc.is_null(table[id_column]).to_numpy(zero_copy_only=False), "null_id", "id is null")
    bad_mask = np.array([r is not None for r in reason], dtype=bool)
    for i in np.flatnonzero(bad_mask):
        error[i] = f"{source} row {rows[i]}: {error[i]}"
    provenance = {SOURCE_FILE: pa.array([source] * n, pa.string()), SOURCE_ROW: pa.array(rows)}
    table = set_columns(table, provenance)
    table = table.set_column(table.schema.get_field_index(text_column), text_column, text)
    bad = set_columns(
        table.filter(pa.array(bad_mask)),
        {
            QUARANTINE_REASON: pa.array(reason[bad_mask].tolist(), pa.string()),
            QUARANTINE_ERROR: pa.array(error[bad_mask].tolist(), pa.string()),
            QUARANTINE_RAW: raw.filter(pa.array(bad_mask)),
        },
    )
    return Validated(good=table.filter(pa.array(~bad_mask)), bad=bad)


def _as_text(column: pa.ChunkedArray, reason: np.ndarray, error: np.ndarray) -> tuple[pa.ChunkedArray, pa.Array]:
    """The column as UTF-8 strings, plus the raw bytes of rows that are not UTF-8 (marked in ``reason``)."""
    kind = column.type
    n = len(column)
    no_raw = pa.nulls(n, pa.binary())
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        try:
            column.validate(full=True)
            return column.cast(pa.string()), no_raw
        except pa.ArrowInvalid:
            column = column.cast(pa.large_binary() if pa.types.is_large_string(kind) else pa.binary())
            kind = column.type
    if not (pa.types.is_binary(kind) or pa.types.is_large_binary(kind)):
        reason[:] = "not_text"
        error[:] = f"text column has type {kind}, not string"
        return pa.chunked_array([pa.array([None if v is None else str(v) for v in column.to_pylist()], pa.string())]), no_raw
    decoded, raw = [], [None] * n
    for i, value in enumerate(column.to_pylist()):
        try:
            decoded.append(None if value is None else value.decode("utf-8"))
        except UnicodeDecodeError as exc:
            decoded.append(None)
            raw[i] = value
            reason[i], error[i] = "undecodable", f"text is not UTF-8: {exc}"
    return pa.chunked_array([pa.array(decoded, pa.string())]), pa.array(raw, pa.binary())


def _mark(reason: np.ndarray, error: np.ndarray, mask: np.ndarray, code: str, message: str) -> None:
    # The first problem found wins, so a row has exactly one reason.
    hit = mask & np.array([r is None for r in reason], dtype=bool)
    reason[hit] = code
    error[hit] = message


def set_columns(table: pa.Table, columns: pa.Table | dict[str, pa.Array]) -> pa.Table:
    """``table`` with each of ``columns`` appended, replacing a column of the same name."""
    if isinstance(columns, pa.Table):
        columns = {name: columns[name] for name in columns.column_names}
    for name, values in columns.items():
        if name in table.column_names:
            table = table.drop_columns([name])
        table = table.append_column(name, values)
    return table
