"""Reading rows an earlier ``filterkit score`` run wrote, for benchmarks that reuse expensive scores."""
from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds

DECISION_COLUMNS = ("filter_decision", "filter_reason")


def read_scored(path: str | Path) -> pa.Table:
    """One Parquet file of scored rows, or a ``filterkit score`` output directory (its ``kept/``: every row once)."""
    path = Path(path)
    files = sorted(str(p) for p in (path / "kept").glob("*.parquet")) if path.is_dir() else [str(path)]
    if not files:
        raise ValueError(f"{path}: no scored Parquet files (expected a file or a `filterkit score` output)")
    table = ds.dataset(files).to_table()
    return table.select([c for c in table.column_names if c not in DECISION_COLUMNS])
