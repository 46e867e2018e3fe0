"""Planning and reading shards of each input format: Parquet, JSON Lines (plain, gzip, zstd) and Arrow IPC.

Every reader gives the same guarantees: a shard yields each of its rows exactly once, as a row of a batch, as a
quarantined row (a malformed JSON line, with its line number), or inside a ``FileFailure`` range; a file that
breaks part-way (a truncated compressed stream) keeps the rows read before the break and is reported.
"""
from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.ipc as ipc

from filterkit.io.fs import is_remote, resolve
from filterkit.io.sources import (
    QUARANTINE_ERROR,
    QUARANTINE_RAW,
    QUARANTINE_REASON,
    SOURCE_FILE,
    SOURCE_ROW,
    UNREADABLE,
    FileFailure,
    InputFile,
    Shard,
)

_PARQUET = ds.ParquetFileFormat()
_CHUNK = 1 << 20
_SCHEMA_SAMPLE_LINES = 1000


@dataclass(frozen=True)
class Rows:
    """Rows of a shard: a batch and the row number of each of its rows in its file."""

    rows: np.ndarray
    batch: pa.RecordBatch | pa.Table


@dataclass(frozen=True)
class Quarantined:
    """Rows a reader could not turn into records (a malformed JSON line), ready for quarantine/."""

    table: pa.Table


Item = Rows | Quarantined | FileFailure


@dataclass(frozen=True)
class Plan:
    """Every input file in one of three places: cut into shards, failed (as data), or empty (no rows, no shard)."""

    shards: list[Shard]
    failures: list[FileFailure]
    empty: list[str]
    """Sources of the files that hold no row."""


def plan_files(files: list[InputFile], rows_per_shard: int, max_shard_bytes: int | None = None) -> Plan:
    """Cut files into shards of at most ``rows_per_shard`` rows; files that cannot be read fail here, as data.

    With ``max_shard_bytes``, a Parquet file's shards also hold no more rows than fit in it at the file's mean
    uncompressed bytes per row.
    """
    shards: list[Shard] = []
    failures: list[FileFailure] = []
    empty: list[str] = []
    for f in files:
        planner = {"parquet": _plan_parquet, "jsonl": _plan_jsonl, "arrow": _plan_arrow}[f.format]
        planned, failed = planner(f, rows_per_shard, max_shard_bytes)
        shards += [Shard(len(shards) + i, *s) for i, s in enumerate(planned)]
        failures += failed
        if not planned and not failed:
            empty.append(f.source)
    return Plan(shards, failures, empty)


def plan_shards(files: list[InputFile], rows_per_shard: int, max_shard_bytes: int | None = None
                ) -> tuple[list[Shard], list[FileFailure]]:
    """``plan_files``'s shards and failures."""
    plan = plan_files(files, rows_per_shard, max_shard_bytes)
    return plan.shards, plan.failures


def read_shard(shard: Shard, batch_size: int, text_column: str = "text",
               json_schema: pa.Schema | None = None) -> Iterator[Item]:
    """Every row of ``shard``, in order, in batches of at most ``batch_size`` rows.

    ``json_schema`` fixes the types of JSON Lines fields (``json_schema``): what does not fit is quarantined.
    """
    if shard.format == "jsonl":
        return _read_jsonl(shard, batch_size, text_column, json_schema)
    if shard.format == "arrow":
        return _read_arrow(shard, batch_size)
    return _read_parquet(shard, batch_size)


def file_schema(f: InputFile | Shard) -> pa.Schema:
    """The columns of a file (for JSON Lines, those of its first lines)."""
    if f.format == "parquet":
        return _fragment(f.path).physical_schema
    if f.format == "arrow":
        with _arrow_reader(f.path) as (reader, _):
            return reader.schema
    lines: list[bytes] = []
    try:
        for line in _lines(f.path, 0, 0):
            lines.append(line)
            if len(lines) >= _SCHEMA_SAMPLE_LINES:
                break
    except UNREADABLE:
        pass  # a file that breaks within its first lines: its rows fail when read, with the error
    columns, _ = _columns([r for r in (_loads(x) for x in lines) if isinstance(r, dict)])
    return pa.schema([(k, v.type) for k, v in columns.items()])


def read_table(files: list[InputFile], text_column: str = "text") -> pa.Table:
    """Whole files of any format as one table (for small inputs: training and calibration sets).

    Unlike a run, which quarantines what it cannot read, this raises on the first malformed line or damaged file.
    """
    tables = []
    for f in files:
        fs, path = resolve(f.path)
        if f.format == "parquet":
            tables.append(ds.dataset(path, format="parquet", filesystem=fs).to_table())
        elif f.format == "arrow":
            with _arrow_reader(f.path) as (reader, _):
                tables.append(reader.read_all())
        else:
            try:
                lines = list(_lines(f.path, 0, 0))
            except UNREADABLE as exc:
                raise OSError(f"{f.source}: {exc}") from exc
            for item in _parse_lines(lines, 0, f.source, text_column):
                if isinstance(item, Quarantined):
                    raise ValueError(item.table[QUARANTINE_ERROR][0].as_py())
                tables.append(pa.table(item.batch))
    return pa.concat_tables(tables, promote_options="permissive")


# Parquet: shards are runs of whole row groups, or slices of a row group bigger than a shard.

def _fragment(uri: str, row_groups: list[int] | None = None) -> ds.ParquetFileFragment:
    fs, path = resolve(uri)
    return _PARQUET.make_fragment(path, fs, row_groups=row_groups)


def _plan_parquet(f: InputFile, rows_per_shard: int, max_shard_bytes: int | None) -> tuple[list[tuple], list]:
    try:
        fragment = _fragment(f.path)
        fragment.ensure_complete_metadata()
        sizes = [rg.num_rows for rg in fragment.row_groups]
        nbytes = sum(rg.total_byte_size for rg in fragment.row_groups)
    except UNREADABLE as exc:
        return [], [FileFailure(f.source, f"cannot read Parquet metadata: {exc}")]
    total = fragment.metadata.num_rows
    if min(sizes, default=0) < 0 or sum(sizes) != total:
        # A damaged footer can give a row group a negative or inconsistent count; only the file's own
        # total, when it is not negative, is left to count the rows by.
        return [], [FileFailure(f.source, f"damaged metadata: row groups of {sizes} rows in a file of {total}",
                                0 if total >= 0 else None, total if total >= 0 else None)]
    try:
        fragment.physical_schema.names  # noqa: B018 - decodes the column names, which a damaged footer breaks
    except UNREADABLE as exc:
        # The row counts survived, so the file's rows are counted as unreadable rather than lost.
        return [], [FileFailure(f.source, f"unreadable schema: {exc!r}", 0, sum(sizes))]
    per_file = rows_per_shard
    if max_shard_bytes is not None and sum(sizes):
        per_file = max(1, min(rows_per_shard, int(max_shard_bytes * sum(sizes) // max(1, nbytes))))
    shards: list[tuple] = []
    start, group, rows = 0, [], 0
    for i, n in enumerate(sizes):
        if group and rows + n > per_file:
            shards.append((f.path, f.source, tuple(group), start, rows))
            start, group, rows = start + rows, [], 0
        if n > per_file:
            # A row group bigger than a shard (a writer's default of a million rows, or one for the file):
            # slices of it, so that progress, retries and resume stay at shard size.
            shards += [(f.path, f.source, (i,), start + skip, min(per_file, n - skip), skip)
                       for skip in range(0, n, per_file)]
            start += n
            continue
        group.append(i)
        rows += n
    if group:
        shards.append((f.path, f.source, tuple(group), start, rows))
    return shards, []


def _read_parquet(shard: Shard, batch_size: int) -> Iterator[Item]:
    """Batches of the shard's row groups; a row group that fails to decode yields a FileFailure instead."""
    row, end = shard.row_offset, shard.row_offset + shard.num_rows
    fragment = _fragment(shard.path)
    fragment.ensure_complete_metadata()
    rg_start = shard.row_offset - shard.skip
    for rg in shard.row_groups:
        rg_rows = fragment.row_groups[rg].num_rows
        stop = min(rg_start + rg_rows, end)
        position = rg_start
        try:
            for batch in _fragment(shard.path, [rg]).to_batches(batch_size=batch_size, use_threads=False):
                lo, hi = max(position, row), min(position + batch.num_rows, stop)
                if hi > lo:
                    yield Rows(np.arange(lo, hi, dtype=np.int64), batch.slice(lo - position, hi - lo))
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
                yield FileFailure(shard.source, f"cannot decode row group {rg}: {exc}", row, stop - row)
        row = stop
        rg_start += rg_rows


# JSON Lines: a row per line (line n is row n - 1); shards are line ranges, found by one streaming pass.

_CODECS = {".gz": "gzip", ".zst": "zstd", ".zstd": "zstd", ".bz2": "bz2", ".lz4": "lz4"}


def _codec(uri: str) -> str | None:
    path = uri.split("?", 1)[0] if is_remote(uri) else uri  # a local name keeps its "?"
    return next((codec for suffix, codec in _CODECS.items() if path.endswith(suffix)), None)


def _open_stream(uri: str, byte_offset: int) -> IO[bytes]:
    fs, path = resolve(uri)
    codec = _codec(uri)
    if codec:
        # By suffix, as the filesystem's "detect" would, but also for URIs whose path ends in a query.
        return pa.CompressedInputStream(fs.open_input_stream(path, compression=None), codec)
    handle = fs.open_input_file(path)
    handle.seek(byte_offset)
    return handle


def _plan_jsonl(f: InputFile, rows_per_shard: int, _max_shard_bytes: int | None) -> tuple[list[tuple], list]:
    # Byte offsets of shard starts let plain files seek; a compressed stream is decompressed up to the shard.
    starts, lines, position, tail, error = [(0, 0)], 0, 0, b"", None
    try:
        with _open_stream(f.path, 0) as stream:
            while chunk := stream.read(_CHUNK):
                ends = np.flatnonzero(np.frombuffer(chunk, np.uint8) == 10)
                for k in range(starts[-1][0] + rows_per_shard, lines + len(ends) + 1, rows_per_shard):
                    if k > lines:
                        starts.append((k, position + int(ends[k - lines - 1]) + 1))
                lines += len(ends)
                tail = chunk[ends[-1] + 1:] if len(ends) else tail + chunk
                position += len(chunk)
    except UNREADABLE as exc:
        error = exc
    if error is None and tail:
        lines += 1  # a last line without its newline (whitespace only: a blank line, quarantined as such)
    starts = [s for s in starts if s[0] < lines]
    shards = [(f.path, f.source, (), k, min(rows_per_shard, lines - k), 0, "jsonl",
               None if _codec(f.path) else offset) for k, offset in starts]
    failures = [] if error is None else [
        FileFailure(f.source, f"unreadable after line {lines} (the rows before it were read): {error}", lines)]
    return shards, failures


def _lines(uri: str, skip: int, byte_offset: int | None) -> Iterator[bytes]:
    """The lines of a JSON Lines file from line ``skip`` (reached by seeking where ``byte_offset`` is known)."""
    to_skip = 0 if byte_offset is not None else skip
    tail = b""
    with _open_stream(uri, byte_offset or 0) as stream:
        while chunk := stream.read(_CHUNK):
            parts = (tail + chunk).split(b"\n")
            tail = parts.pop()
            if to_skip:
                dropped = min(to_skip, len(parts))
                parts, to_skip = parts[dropped:], to_skip - dropped
            yield from parts
    if tail and not to_skip:
        yield tail


def _read_jsonl(shard: Shard, batch_size: int, text_column: str, schema: pa.Schema | None) -> Iterator[Item]:
    pending: list[bytes] = []
    row = shard.row_offset
    try:
        for line in _lines(shard.path, shard.row_offset, shard.byte_offset):
            pending.append(line)
            if len(pending) == batch_size or row + len(pending) == shard.row_offset + shard.num_rows:
                yield from _parse_lines(pending, row, shard.source, text_column, schema)
                row += len(pending)
                pending = []
                if row >= shard.row_offset + shard.num_rows:
                    return
    except UNREADABLE as exc:
        yield from _parse_lines(pending, row, shard.source, text_column, schema)
        row += len(pending)
        rest = shard.row_offset + shard.num_rows - row
        yield FileFailure(shard.source, f"cannot read lines {row + 1}-{row + rest}: {exc}", row, rest)
        return
    if pending:
        yield from _parse_lines(pending, row, shard.source, text_column, schema)
        row += len(pending)
    if row < shard.row_offset + shard.num_rows:
        rest = shard.row_offset + shard.num_rows - row
        yield FileFailure(shard.source, f"file ended {rest} lines early (it changed since the run began)", row, rest)


def _loads(line: bytes) -> object:
    try:
        return json.loads(line)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        return exc


def _parse_lines(lines: list[bytes], first_row: int, source: str, text_column: str,
                 schema: pa.Schema | None = None) -> Iterator[Item]:
    """One block of lines as records; lines that are not JSON objects go to quarantine with their line number.

    With ``schema`` (``json_schema``), every field has the type it fixes, whatever the block holds; without, the
    block's own values decide.

    Lines are parsed by ``json`` and built into Arrow column by column, not by ``pyarrow.json``, which reads
    date-like strings as timestamps and would change a crawl's fields (and a date-like text) on the way through.
    """
    if not lines:
        return
    lines = [x.removesuffix(b"\r") for x in lines]
    rows = np.arange(first_row, first_row + len(lines), dtype=np.int64)
    records, good, errors = [], [], {}
    for i, line in enumerate(lines):
        value = _loads(line) if line.strip() else ValueError("empty line")
        text = _field(value, text_column) if isinstance(value, dict) else None
        if text is not None and not isinstance(text, str):
            # Judged per line: in a column of the block, one line's number would make every line's text a number.
            errors[i] = ("not_text", f"{source} line {rows[i] + 1}: text is a JSON {_kind(text)}, not a string")
        elif isinstance(value, dict):
            records.append(value)
            good.append(i)
        else:
            what = value if isinstance(value, Exception) else f"a JSON {type(value).__name__}, not an object"
            errors[i] = ("malformed_json", f"{source} line {rows[i] + 1}: malformed JSON line: {what}")
    columns, conflicts = _columns(records) if schema is None else _fixed_columns(records, schema)
    for j, message in conflicts.items():
        errors[good[j]] = ("json_types", f"{source} line {rows[good[j]] + 1}: {message}")
    if conflicts:
        keep = np.array([j not in conflicts for j in range(len(records))], dtype=bool)
        columns = {k: v.filter(pa.array(keep)) for k, v in columns.items()}
        good = [i for j, i in enumerate(good) if keep[j]]
    if not any(records):  # every object in the block is {}: no text to read
        errors |= {i: ("null_text", f"{source} line {rows[i] + 1}: the JSON object has no fields") for i in good}
        good = []
    if good:
        yield Rows(rows[good], pa.table(columns))
    if errors:
        bad = sorted(errors)
        yield Quarantined(pa.table({
            SOURCE_FILE: pa.array([source] * len(bad), pa.string()),
            SOURCE_ROW: pa.array(rows[bad]),
            QUARANTINE_REASON: pa.array([errors[i][0] for i in bad], pa.string()),
            QUARANTINE_ERROR: pa.array([errors[i][1] for i in bad], pa.string()),
            QUARANTINE_RAW: pa.array([lines[i] for i in bad], pa.binary()),
        }))


def _field(record: dict, path: str) -> object:
    """The value at a column name or dotted path of a parsed JSON object (None where there is none)."""
    if path in record:
        return record[path]
    for name in path.split("."):
        record = record.get(name) if isinstance(record, dict) else None
    return record


def _columns(records: list[dict]) -> tuple[dict[str, pa.Array], dict[int, str]]:
    """Arrow columns over the union of the records' keys, and the records whose value of some key has a JSON
    type that the block's other values of that key do not share (they cannot be one column)."""
    keys = list(dict.fromkeys(k for r in records for k in r))
    conflicts: dict[int, str] = {}
    for k in keys:
        values = [r.get(k) for r in records]
        try:
            pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            kinds = [_kind(v) for v in values]
            common = max(set(kinds) - {None}, key=kinds.count)
            for j, kind in enumerate(kinds):
                if kind not in (None, common):
                    conflicts.setdefault(j, f"field {k!r} is a JSON {kind} here and a JSON {common} in most lines "
                                            "of this block")
    clean = [r for j, r in enumerate(records) if j not in conflicts]
    columns = {}
    for k in keys:
        try:
            columns[k] = pa.array([r.get(k) for r in records])
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            # Filled back to full length with nulls so every column lines up with ``records``.
            values = pa.array([r.get(k) for r in clean])
            it = iter(values.to_pylist())
            columns[k] = pa.array([None if j in conflicts else next(it) for j in range(len(records))], values.type)
    return columns, conflicts


def json_schema(files: list[InputFile], text_column: str = "text") -> pa.Schema:
    """The type a run fixes for every JSON Lines field, from the first lines of each JSON Lines file, in order.

    Types the files' first lines give one field are widened where they can be (integers and floats to floats, two
    objects to one with the keys of both); where they cannot (a number and a string), and where no sampled line
    gave the field a value (null, ``[]``, ``{}``), the type stays open (null): the readers then write the field's
    values as their JSON text. A field no sampled line has is written as JSON text too. The text is a string
    whatever the first lines hold (a line whose text is not one is quarantined as ``not_text`` before this applies).
    """
    fields: dict[str, pa.DataType] = {}
    conflicting: set[str] = set()
    for f in files:
        if f.format != "jsonl":
            continue
        for field in file_schema(f):
            have = fields.setdefault(field.name, field.type)
            if field.name in conflicting or have == field.type:
                continue
            try:
                fields[field.name] = pa.unify_schemas([pa.schema([field.with_type(have)]), pa.schema([field])],
                                                      promote_options="permissive").field(0).type
            except (pa.ArrowInvalid, pa.ArrowTypeError, NotImplementedError):
                fields[field.name] = pa.null()
                conflicting.add(field.name)
    head, _, rest = text_column.partition(".")
    if text_column in fields:
        fields[text_column] = pa.string()
    elif rest and head in fields:
        fields[head] = _string_at(fields[head], rest)
    return pa.schema(list(fields.items()))


def _string_at(t: pa.DataType, path: str) -> pa.DataType:
    """``t`` with the field at a dotted path of struct fields made a string (``t`` as it is if there is none)."""
    name, _, rest = path.partition(".")
    if not pa.types.is_struct(t) or t.get_field_index(name) < 0:
        return t
    i = t.get_field_index(name)
    inner = _string_at(t.field(i).type, rest) if rest else pa.string()
    return pa.struct([t.field(j).with_type(inner) if j == i else t.field(j) for j in range(t.num_fields)])


def schema_to_text(schema: pa.Schema) -> str:
    """A schema as text for a JSON file (``schema_from_text`` reads it back, equal)."""
    return base64.b64encode(schema.serialize().to_pybytes()).decode("ascii")


def schema_from_text(text: str) -> pa.Schema:
    """The schema ``schema_to_text`` wrote."""
    return ipc.read_schema(pa.py_buffer(base64.b64decode(text)))


def _fixed_columns(records: list[dict], schema: pa.Schema) -> tuple[dict[str, pa.Array], dict[int, str]]:
    """A column for every field of ``schema``, of its type (nulls where a record has no value), then the records'
    other fields as JSON text; and the records whose value does not fit its field's type, with why."""
    columns: dict[str, pa.Array] = {}
    conflicts: dict[int, str] = {}
    for field in schema:
        values = [r.get(field.name) for r in records]
        columns[field.name], misfits = _fixed_column(values, field.type)
        for j in misfits:
            conflicts.setdefault(j, f"field {field.name!r} is a JSON {_kind(values[j])} here, which does not fit "
                                    f"the type {_written(field.type)} that the inputs' first lines fixed for it")
    for k in dict.fromkeys(k for r in records for k in r):
        if k not in columns:
            columns[k] = pa.array([_fitted(r.get(k), pa.null()) for r in records], pa.string())
    return columns, conflicts


def _fixed_column(values: list[object], fixed: pa.DataType) -> tuple[pa.Array, list[int]]:
    """``values`` as an array of the written form of ``fixed``, nulls where they do not fit; and those positions."""
    written = _written(fixed)
    if written == fixed:  # the common case first: the block's own types are the fixed ones
        try:
            inferred = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
            inferred = None
        if inferred is not None and inferred.type == fixed:
            return inferred, []
        if inferred is not None and pa.types.is_null(inferred.type):
            return pa.nulls(len(values), fixed), []
    misfits = [j for j, v in enumerate(values) if not _fits(v, fixed)]
    bad = set(misfits)
    return pa.array([None if j in bad else _fitted(v, fixed) for j, v in enumerate(values)], written), misfits


def _open(t: pa.DataType) -> bool:
    """A type the first lines left open: null (no value seen) or an object without keys."""
    return pa.types.is_null(t) or (pa.types.is_struct(t) and t.num_fields == 0)


def _written(t: pa.DataType) -> pa.DataType:
    """The type a fixed type is written as: open places hold JSON text (strings)."""
    if _open(t):
        return pa.string()
    if pa.types.is_list(t):
        return pa.list_(t.value_field.with_type(_written(t.value_type)))
    if pa.types.is_large_list(t):
        return pa.large_list(t.value_field.with_type(_written(t.value_type)))
    if pa.types.is_struct(t):
        return pa.struct([t.field(i).with_type(_written(t.field(i).type)) for i in range(t.num_fields)])
    return t


def _fits(value: object, t: pa.DataType) -> bool:
    """Whether a parsed JSON value has a place in the fixed type ``t`` (open places take anything)."""
    if value is None or _open(t):
        return True
    if pa.types.is_boolean(t):
        return isinstance(value, bool)
    if pa.types.is_integer(t):
        signed = pa.types.is_signed_integer(t)
        low, high = (-(1 << (t.bit_width - 1)), 1 << (t.bit_width - 1)) if signed else (0, 1 << t.bit_width)
        return type(value) is int and low <= value < high
    if pa.types.is_floating(t):
        return type(value) is float or (type(value) is int and -(1 << 63) <= value < 1 << 63)
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return isinstance(value, str)
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return isinstance(value, list) and all(_fits(v, t.value_type) for v in value)
    if pa.types.is_struct(t):
        return isinstance(value, dict) and all(
            t.get_field_index(k) >= 0 and _fits(v, t.field(k).type) for k, v in value.items())
    return False


def _fitted(value: object, t: pa.DataType) -> object:
    """A value that fits ``t`` in the form its written type takes: JSON text in open places, floats as floats."""
    if value is None:
        return None
    if _open(t):
        return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if pa.types.is_floating(t):
        return float(value)  # type: ignore[arg-type]
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return [_fitted(v, t.value_type) for v in value]  # type: ignore[attr-defined]
    if pa.types.is_struct(t):
        return {k: _fitted(v, t.field(k).type) for k, v in value.items()}  # type: ignore[attr-defined]
    return value


def _kind(value: object) -> str | None:
    if value is None:
        return None
    return {bool: "boolean", int: "number", float: "number", str: "string", list: "array", dict: "object"}.get(
        type(value), type(value).__name__)


# Arrow IPC (a Hugging Face ``datasets`` directory's files): shards are row ranges over the record batches.

class _arrow_reader:
    """Open an Arrow IPC file in file or stream format; yields ``(reader, batches)``."""

    def __init__(self, uri: str) -> None:
        fs, path = resolve(uri)
        self._handle = fs.open_input_file(path)

    def __enter__(self) -> tuple[ipc.RecordBatchFileReader | ipc.RecordBatchStreamReader, Iterator[pa.RecordBatch]]:
        try:
            reader = ipc.open_file(self._handle)
            return reader, (reader.get_batch(i) for i in range(reader.num_record_batches))
        except pa.ArrowInvalid:
            self._handle.seek(0)
            reader = ipc.open_stream(self._handle)  # what datasets' save_to_disk writes
            return reader, iter(reader)

    def __exit__(self, *exc: object) -> None:
        self._handle.close()


def _plan_arrow(f: InputFile, rows_per_shard: int, _max_shard_bytes: int | None) -> tuple[list[tuple], list]:
    rows, error = 0, None
    try:
        with _arrow_reader(f.path) as (_, batches):
            for batch in batches:
                rows += batch.num_rows
    except UNREADABLE as exc:
        error = exc
    shards = [(f.path, f.source, (), k, min(rows_per_shard, rows - k), 0, "arrow") for k in range(0, rows,
                                                                                                  rows_per_shard)]
    failures = [] if error is None else [
        FileFailure(f.source, f"unreadable after row {rows} (the rows before it were read): {error}", rows)]
    return shards, failures


def _read_arrow(shard: Shard, batch_size: int) -> Iterator[Item]:
    row, end, position = shard.row_offset, shard.row_offset + shard.num_rows, 0
    try:
        with _arrow_reader(shard.path) as (_, batches):
            for batch in batches:
                lo, hi = max(position, row), min(position + batch.num_rows, end)
                for a in range(lo, hi, batch_size):
                    b = min(a + batch_size, hi)
                    yield Rows(np.arange(a, b, dtype=np.int64), batch.slice(a - position, b - a))
                    row = b
                position += batch.num_rows
                if position >= end:
                    return
    except UNREADABLE as exc:
        if row < end:
            yield FileFailure(shard.source, f"cannot read rows {row}-{end - 1}: {exc}", row, end - row)
        return
    if row < end:
        yield FileFailure(shard.source, f"file ended {end - row} rows early (it changed since the run began)", row,
                          end - row)
