"""Small corpora written on the fly, broken ones included: inputs of the pipeline tests and the same-bytes check."""
from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

HUGE = "word " * 10_000_000  # 50 MB of text in one document


def write(path: Path, table: pa.Table, row_group_size: int = 4) -> Path:
    """Write ``table`` as Parquet with small row groups, so one file makes several shards."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, row_group_size=row_group_size)
    return path


def messy_corpus(root: Path) -> Path:
    """A directory with good rows, duplicates across files, bad rows, a corrupt file and one without text."""
    write(root / "a.parquet", pa.table({
        "text": ["The cat sat.", "the  CAT sat.", None, "", "A unique line", HUGE, "nul\x00byte", "dog"],
        "lang": ["en"] * 8,
    }))
    write(root / "sub" / "b.parquet",
          pa.table({"text": ["dog", "Fresh text here", "The cat sat."], "lang": ["en"] * 3}))
    write(root / "c.parquet", pa.table({"text": pa.array([b"bytes ok", b"\xff\xfe not utf8"], pa.binary()),
                                        "lang": ["en", "en"]}))
    (root / "corrupt.parquet").write_bytes(b"PAR1 this is not a parquet file")
    write(root / "no_text.parquet", pa.table({"body": ["x", "y"]}))
    good = pq.read_table(root / "sub" / "b.parquet")
    write(root / "truncated.parquet", pa.concat_tables([good] * 3))
    data = (root / "truncated.parquet").read_bytes()
    (root / "truncated.parquet").write_bytes(data[: len(data) // 2])
    return root


def read_dir(path: Path) -> pa.Table:
    """All Parquet files under ``path`` as one table (empty table when there are none)."""
    files = sorted(str(p) for p in path.glob("*.parquet"))
    return ds.dataset(files).to_table() if files else pa.table({})


def tree_bytes(root: Path, parts: tuple[str, ...] = ("kept", "removed", "quarantine")) -> dict[str, bytes]:
    """Every output file's bytes, keyed by relative path."""
    return {str(p.relative_to(root)): p.read_bytes() for part in parts for p in sorted((root / part).rglob("*"))
            if p.is_file()}


def resume_corpus(root: Path, fmt: str = "parquet") -> Path:
    """Six files of 400 rows, a repeated document every 17th row; as JSON Lines, some gzipped, each with a bad line."""
    rng = random.Random(7)
    words = ["alpha", "beta", "gamma", "delta", "eps", "zeta", "eta", "theta"]
    for f in range(6):
        docs = [" ".join(rng.choices(words, k=30)) for _ in range(400)]
        docs[::17] = ["repeated document"] * len(docs[::17])
        if fmt == "parquet":
            write(root / f"part{f}.parquet", pa.table({"text": docs}), row_group_size=40)
        else:  # gzip and plain JSON Lines in turn, a malformed line in each
            lines = "".join(json.dumps({"text": d, "i": i}) + "\n" for i, d in enumerate(docs)) + "{oops\n"
            root.mkdir(parents=True, exist_ok=True)
            if f % 2:
                (root / f"part{f}.jsonl").write_text(lines)
            else:
                (root / f"part{f}.jsonl.gz").write_bytes(gzip.compress(lines.encode(), mtime=0))
    return root
