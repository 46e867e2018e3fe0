"""Atomic writes and completion markers: a file either exists whole or not at all."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

# Fixed writer settings: the same table always gives the same bytes, which is what makes resume exact.
_WRITE_OPTIONS: dict[str, Any] = {"compression": "zstd", "use_dictionary": True, "write_statistics": True}


def _tmp(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def _commit(tmp: Path, path: Path) -> None:
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def write_parquet(table: pa.Table, path: str | Path, row_group_size: int = 65_536) -> None:
    """Write ``table`` to ``path`` through a temporary file and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp(path)
    pq.write_table(table, tmp, row_group_size=row_group_size, **_WRITE_OPTIONS)
    _commit(tmp, path)


def write_json(data: Any, path: str | Path) -> None:
    """Write JSON atomically, keys sorted so equal data gives equal bytes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp(path)
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8")
    _commit(tmp, path)


def read_json(path: str | Path) -> Any:
    """Read a JSON file."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def remove_stale_temporaries(root: str | Path) -> int:
    """Delete temporaries a killed run left behind; returns how many."""
    count = 0
    for tmp in Path(root).rglob(".*.tmp"):
        tmp.unlink(missing_ok=True)
        count += 1
    return count
