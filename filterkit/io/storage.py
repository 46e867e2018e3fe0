"""Atomic writes and completion markers: a file either exists whole or not at all, on any filesystem.

Paths are local paths or URIs (``filterkit.io.fs``). On the local disk a write goes to a temporary file that is
fsynced and renamed into place. Object stores have no rename: there the temporary object is moved (copied,
then deleted), which still makes the final object appear whole or not at all, since a store publishes an
object only when its upload completes.
"""
from __future__ import annotations

import base64
import io
import json
import math
import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from filterkit.io.fs import LOCAL, is_remote, resolve

# Fixed writer settings: the same table always gives the same bytes, which is what makes resume exact.
_WRITE_OPTIONS: dict[str, Any] = {"compression": "zstd", "use_dictionary": True, "write_statistics": True}
OUTPUT_FORMATS = ("parquet", "jsonl")


def _tmp(path: str) -> str:
    head, _, name = path.rpartition("/")
    return f"{head}/.{name}.{os.getpid()}.tmp"


def _commit_local(tmp: str, path: str | Path) -> None:
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _write_bytes(data: bytes, uri: str) -> None:
    fs, path = resolve(uri)
    tmp = _tmp(path)
    if fs is LOCAL:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(tmp).write_bytes(data)
        _commit_local(tmp, path)
        return
    with fs.open_output_stream(tmp) as fh:
        fh.write(data)
    fs.move(tmp, path)


def write_parquet(table: pa.Table, path: str | Path, row_group_size: int = 65_536) -> None:
    """Write ``table`` to ``path`` through a temporary file and an atomic rename."""
    sink = io.BytesIO() if is_remote(str(path)) else None
    if sink is None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = _tmp(str(path))
        pq.write_table(table, tmp, row_group_size=row_group_size, **_WRITE_OPTIONS)
        _commit_local(tmp, path)
        return
    pq.write_table(table, sink, row_group_size=row_group_size, **_WRITE_OPTIONS)
    _write_bytes(sink.getvalue(), str(path))


def write_table(table: pa.Table, path: str | Path, output_format: str = "parquet") -> None:
    """Write an output table as Parquet or as JSON Lines, atomically."""
    if output_format == "parquet":
        write_parquet(table, path)
    elif output_format == "jsonl":
        _write_bytes(jsonl_bytes(table), str(path))
    else:
        raise ValueError(f"output format must be one of {OUTPUT_FORMATS}, got {output_format!r}")


def jsonl_bytes(table: pa.Table) -> bytes:
    """One JSON object per row, columns in table order; NaN as null and bytes as base64 (JSON has neither)."""
    return "".join(json.dumps(_plain(row), ensure_ascii=False, default=str) + "\n"
                   for row in table.to_pylist()).encode("utf-8")


def _plain(value: Any) -> Any:
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def write_json(data: Any, path: str | Path) -> None:
    """Write JSON atomically, keys sorted so equal data gives equal bytes."""
    _write_bytes((json.dumps(data, indent=2, sort_keys=True, default=str) + "\n").encode("utf-8"), str(path))


def write_text(text: str, path: str | Path) -> None:
    """Write UTF-8 text atomically."""
    _write_bytes(text.encode("utf-8"), str(path))


def write_file(data: bytes, path: str | Path) -> None:
    """Write bytes atomically."""
    _write_bytes(data, str(path))


def read_json(path: str | Path) -> Any:
    """Read a JSON file."""
    fs, p = resolve(str(path))
    with fs.open_input_stream(p) as fh:
        return json.loads(fh.read())


def exists(path: str | Path) -> bool:
    """Whether a file or directory exists at ``path``."""
    fs, p = resolve(str(path))
    return fs.get_file_info(p).type != pafs.FileType.NotFound


def delete(path: str | Path) -> None:
    """Remove a file if it exists."""
    fs, p = resolve(str(path))
    if fs.get_file_info(p).type == pafs.FileType.File:
        fs.delete_file(p)


def list_files(path: str | Path) -> list[str]:
    """Paths on its filesystem of every file under a directory (none if it does not exist), sorted."""
    fs, p = resolve(str(path))
    if fs.get_file_info(p).type != pafs.FileType.Directory:
        return []
    return sorted(i.path for i in fs.get_file_info(pafs.FileSelector(p, recursive=True))
                  if i.type == pafs.FileType.File)


def delete_tree(path: str | Path) -> None:
    """Remove a directory and everything in it."""
    fs, p = resolve(str(path))
    if fs.get_file_info(p).type == pafs.FileType.Directory:
        fs.delete_dir(p)


def remove_stale_temporaries(root: str | Path) -> int:
    """Delete temporaries a killed run left behind; returns how many."""
    fs, _ = resolve(str(root))
    stale = [p for p in list_files(root) if p.rpartition("/")[2].startswith(".") and p.endswith(".tmp")]
    for p in stale:
        fs.delete_file(p)
    return len(stale)
