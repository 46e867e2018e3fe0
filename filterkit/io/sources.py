"""Finding input files (Parquet, JSON Lines, Arrow) on any filesystem, and validating the rows read from them."""
from __future__ import annotations

import glob
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs

from filterkit.io.fs import is_remote, join, resolve

SOURCE_FILE = "source_file"
SOURCE_ROW = "source_row"
QUARANTINE_REASON = "quarantine_reason"
QUARANTINE_ERROR = "quarantine_error"
QUARANTINE_RAW = "quarantine_raw"
"""Original bytes of a text that is not valid UTF-8 (its text column is null), so quarantine/ reads as one dataset."""
UNREADABLE = (OSError, ValueError, pa.ArrowException)
"""What reading a damaged file raises: I/O, Arrow and decoding errors (UnicodeDecodeError is a ValueError)."""
SUFFIXES = {".parquet": "parquet", ".jsonl": "jsonl", ".jsonl.gz": "jsonl", ".jsonl.zst": "jsonl",
            ".jsonl.zstd": "jsonl", ".ndjson": "jsonl", ".ndjson.gz": "jsonl", ".arrow": "arrow"}
"""Input formats by file suffix, which is how files in a directory are found."""


@dataclass(frozen=True)
class InputFile:
    """An input file (a local path or a URI), its format, and the stable name that row ids derive from."""

    path: str
    source: str
    format: str = "parquet"


@dataclass(frozen=True)
class Shard:
    """A row range of one file: the unit of work, retry and resume.

    Parquet shards are runs of whole row groups or a slice of one large row group; JSON Lines and Arrow shards
    are line or row ranges.
    """

    index: int
    path: str
    source: str
    row_groups: tuple[int, ...]
    row_offset: int
    num_rows: int
    skip: int = 0
    """Rows of the first row group before this shard's first row (a row group larger than a shard is sliced)."""
    format: str = "parquet"
    byte_offset: int | None = None
    """Where the shard's first line starts in an uncompressed JSON Lines file (None: read from the start)."""

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


def format_of(name: str) -> str | None:
    """The input format a file name's suffix says, or None for a file that is not an input.

    Only a URI has a query (``s3://b/k.parquet?endpoint_override=...``): a local name keeps its ``?`` and ``#``.
    """
    name = (name.split("?", 1)[0] if is_remote(name) else name).lower()
    return next((fmt for suffix, fmt in SUFFIXES.items() if name.endswith(suffix)), None)


def discover(inputs: list[str], exclude: str | None = None) -> list[InputFile]:
    """Expand files, directories and globs into input files with stable source names.

    Files under ``exclude`` (a run's output directory) are never inputs; in a Hugging Face ``datasets``
    directory (one with a ``state.json``) only the Arrow files it lists are, never its ``cache-*.arrow``.
    """
    found: dict[str, tuple[str, str]] = {}
    skip = _prefix(exclude) if exclude else None
    for item in inputs:
        if glob.has_magic(item) and not is_remote(item) and not os.path.lexists(item):
            # A pattern; a path that exists is itself, even with ``?``, ``*`` or ``[`` in its name.
            base = Path(item.split("*")[0].split("?")[0].split("[")[0]).parent
            matches = sorted(glob.glob(item, recursive=True))
            if not matches:
                raise FileNotFoundError(f"no files match {item!r}")
            for m in matches:
                found.setdefault(str(Path(m).resolve()), (os.path.relpath(m, base), format_of(m) or "parquet"))
            continue
        fs, path = resolve(item)
        info = fs.get_file_info(path)
        if info.type == pafs.FileType.Directory:
            for rel, uri, fmt in _walk(fs, path, item):
                found.setdefault(uri, (rel, fmt))
        elif info.type == pafs.FileType.File:
            uri = item if is_remote(item) else path
            found.setdefault(uri, (Path(path).name, format_of(uri) or "parquet"))
        else:
            raise FileNotFoundError(f"input {item!r} does not exist")
    if skip:
        found = {p: v for p, v in found.items() if not _prefix(p).startswith(skip)}
    if len({s for s, _ in found.values()}) < len(found):
        # Two inputs share a relative name: fall back to full paths so ids stay unique.
        found = {p: (p, fmt) for p, (_, fmt) in found.items()}
    return [InputFile(path=p, source=s, format=fmt) for p, (s, fmt) in sorted(found.items(), key=lambda kv: kv[1][0])]


def _prefix(uri: str) -> str:
    # Compared on the filesystem path, with a trailing slash so that out/ does not also exclude out2/.
    return resolve(uri)[1].rstrip("/") + "/"


def _walk(fs: pafs.FileSystem, root: str, item: str) -> list[tuple[str, str, str]]:
    """``(relative name, path or URI, format)`` of every input file under a directory."""
    infos = [i for i in fs.get_file_info(pafs.FileSelector(root, recursive=True)) if i.type == pafs.FileType.File]
    listed = {}
    for info in infos:
        if info.base_name == "state.json":
            # A datasets directory names its data files; its cache files hold transformed copies.
            with fs.open_input_stream(info.path) as fh:
                state = json.loads(fh.read())
            listed[os.path.dirname(info.path)] = {d["filename"] for d in state.get("_data_files", [])}
    out = []
    for info in sorted(infos, key=lambda i: i.path):
        rel = os.path.relpath(info.path, root)
        fmt = format_of(rel)
        hidden = any(part.startswith((".", "_")) for part in Path(rel).parts)
        allowed = listed.get(os.path.dirname(info.path))
        if fmt is None or hidden or (fmt == "arrow" and allowed is not None and info.base_name not in allowed):
            continue
        out.append((rel, join(item, rel) if is_remote(item) else info.path, fmt))
    return out


@dataclass(frozen=True)
class Validated:
    """A batch split into rows the detectors can score and rows that go to quarantine."""

    good: pa.Table
    bad: pa.Table


def validate(
    batch: pa.RecordBatch | pa.Table, rows: np.ndarray, source: str, text_column: str, id_column: str | None,
    max_text_bytes: int, lines: bool = False,
) -> Validated:
    """Check the text (and id) of every row; good rows get their text as UTF-8 strings, bad rows a reason.

    ``rows`` are the rows' numbers in their file (line numbers less one, with ``lines``, which messages name).
    A nested text column (``metadata.text``) is read from its struct and added as a working column of that name.
    """
    table = batch if isinstance(batch, pa.Table) else pa.Table.from_batches([batch])
    n = table.num_rows
    reason = np.full(n, None, dtype=object)
    error = np.full(n, None, dtype=object)
    column = text_of(table, text_column)
    if column is None:
        reason[:], error[:] = "null_text", f"no field {text_column!r}"
        column = pa.chunked_array([pa.nulls(n, pa.string())])
    text, raw = _as_text(column, reason, error)
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
        ids = text_of(table, id_column)
        missing = np.ones(n, bool) if ids is None else pc.is_null(ids).to_numpy(zero_copy_only=False)
        _mark(reason, error, missing, "null_id", "id is null")
    bad_mask = np.array([r is not None for r in reason], dtype=bool)
    for i in np.flatnonzero(bad_mask):
        error[i] = f"{source} line {rows[i] + 1}: {error[i]}" if lines else f"{source} row {rows[i]}: {error[i]}"
    provenance = {SOURCE_FILE: pa.array([source] * n, pa.string()), SOURCE_ROW: pa.array(rows)}
    table = set_columns(table, provenance)
    if text_column in table.column_names:
        table = table.set_column(table.schema.get_field_index(text_column), text_column, text)
    else:
        table = table.append_column(text_column, text)
    bad = set_columns(
        table.filter(pa.array(bad_mask)),
        {
            QUARANTINE_REASON: pa.array(reason[bad_mask].tolist(), pa.string()),
            QUARANTINE_ERROR: pa.array(error[bad_mask].tolist(), pa.string()),
            QUARANTINE_RAW: raw.filter(pa.array(bad_mask)),
        },
    )
    return Validated(good=table.filter(pa.array(~bad_mask)), bad=bad)


def text_of(table: pa.Table, path: str) -> pa.ChunkedArray | None:
    """The column ``path`` names: a top-level column, or a field of struct columns (``metadata.text``)."""
    if path in table.column_names:
        return table[path]
    head, _, rest = path.partition(".")
    column = table[head] if rest and head in table.column_names else None
    for name in rest.split(".") if column is not None else ():
        if not pa.types.is_struct(column.type) or column.type.get_field_index(name) < 0:
            return None
        column = pc.struct_field(column, name)
    return column


def _as_text(column: pa.ChunkedArray, reason: np.ndarray, error: np.ndarray) -> tuple[pa.ChunkedArray, pa.Array]:
    """The column as UTF-8 strings, plus the raw bytes of rows that are not UTF-8 (marked in ``reason``)."""
    if pa.types.is_null(column.type):  # a JSON block in which no line had the field's value
        column = column.cast(pa.string())
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)  # pandas categoricals, Spark and many writers encode text so
    if pa.types.is_string_view(column.type) or pa.types.is_binary_view(column.type):
        column = column.cast(pa.string() if pa.types.is_string_view(column.type) else pa.binary())
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
        strings = [None if v is None else str(v) for v in column.to_pylist()]
        return pa.chunked_array([pa.array(strings, pa.string())]), no_raw
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
