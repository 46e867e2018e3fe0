"""The state of a chains run under ``WORK/_state``: every file appears whole or not at all (tmp + rename).

Layout: ``config.json`` (what must match to resume), ``starts.parquet``, one ``t{T}/step_{k:03d}.parquet`` per
temperature and finished step, and ``scores/`` (detector scores per temperature and depth). Nothing is pickled.
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq


class ResumeError(ValueError):
    """A state directory that belongs to another run, or a run that exists but was not asked to resume."""


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder, then rename it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_table(path: Path, table: pa.Table) -> None:
    """Write a Parquet table atomically (same table, same bytes: no timestamps in the file)."""
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    atomic_write_bytes(path, sink.getvalue().to_pybytes())


def read_table(path: Path) -> pa.Table | None:
    """The table at ``path``, or None when that step or score was never finished."""
    return pq.read_table(path) if path.is_file() else None


def temperature_dir(root: Path, temperature: float) -> Path:
    """The folder of one temperature's steps (``t0.7``)."""
    return root / f"t{temperature:g}"


def step_path(root: Path, temperature: float, step: int) -> Path:
    """Where step ``step`` of every chain at ``temperature`` is kept."""
    return temperature_dir(root, temperature) / f"step_{step:03d}.parquet"


def open_state(root: Path, key: dict[str, Any], resume: bool) -> None:
    """Create the state folder for a new run, or check that an existing one is this run's and ``resume`` is set."""
    marker = root / "config.json"
    fixed = json.loads(json.dumps(key, sort_keys=True))
    if marker.is_file():
        if not resume:
            raise ResumeError(f"{root} holds the state of an earlier run: pass --resume to continue it "
                              "(or remove that directory to start over)")
        saved = json.loads(marker.read_text(encoding="utf-8"))
        changed = sorted(k for k in set(saved) | set(fixed) if saved.get(k) != fixed.get(k))
        if changed:
            raise ResumeError(f"{root}: cannot resume, the run differs in {changed}")
        return
    atomic_write_bytes(marker, json.dumps(fixed, indent=1, sort_keys=True).encode())
