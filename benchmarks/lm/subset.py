"""A share of detect/open_models.parquet's articles (all their rows), for LM scoring on a CPU budget.

Articles are chosen by opening words (``opening_groups``), so twins and re-cut copies come or go together, and
the choice is independent of the halves the benchmarks split by (``group % 2``, ``group % 1000``).

    python -m benchmarks.lm subset --percent 40 -o om40.parquet
    python -m benchmarks.lm subset --percent 40 --scored DIR... -o om40_lm.parquet   # gather scored rows

``--scored`` gathers the subset's rows from earlier ``filterkit score`` outputs (several runs, partial ones too:
scores are row-local, so a row scored in any run is the same row), checks that every row of the subset is there
exactly once, and writes them in the shared file's order.
"""
from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from detectors.classifier.train import opening_groups
from filterkit.testing.shared import shared_data_dir


def subset(table: pa.Table, percent: int) -> pa.Table:
    """Rows whose article falls in the first ``percent`` of 100 hash buckets (a different digit than the halves)."""
    groups = opening_groups(table["text"].to_pylist(), 12)
    return table.filter(pa.array((groups // 10_000) % 100 < percent))


def gather(wanted: pa.Table, scored_dirs: list[Path]) -> pa.Table:
    """The rows of ``wanted`` (by ``id``) with their score columns, from scored Parquet files under the dirs."""
    files = [p for d in scored_dirs for p in sorted(d.rglob("*.parquet")) if "quarantine" not in p.parts]
    drop = {"source_file", "source_row", "filter_decision", "filter_reason"}
    tables = [t.select([c for c in t.column_names if c not in drop]) for t in map(pq.read_table, files)
              if "lm.fastdetect" in t.column_names]
    scored = pa.concat_tables(tables, promote_options="default")
    first = {}
    for i, row_id in enumerate(scored["id"].to_pylist()):
        first.setdefault(row_id, i)
    ids = wanted["id"].to_pylist()
    missing = [i for i in ids if i not in first]
    if missing:
        raise ValueError(f"{len(missing)} rows of the subset were not scored, e.g. {missing[:3]}")
    return scored.take(pa.array([first[i] for i in ids]))


def main(argv: Sequence[str]) -> None:
    """Write the subset (or its scored rows) as one Parquet file."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.lm subset", description=__doc__.split("\n")[0])
    parser.add_argument("--percent", type=int, default=40)
    parser.add_argument("--scored", type=Path, nargs="*", default=[])
    parser.add_argument("-o", "--out", type=Path, required=True)
    args = parser.parse_args(argv)
    table = subset(pq.read_table(shared_data_dir() / "detect" / "open_models.parquet"), args.percent)
    pq.write_table(gather(table, args.scored) if args.scored else table, args.out)

