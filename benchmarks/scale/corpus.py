"""A crawl-like Parquet corpus of any size, built from the shared human texts.

Each document is 5-25 sentences drawn from the sentences of ``human/news_wiki_stories.parquet`` and
``human/wikitext2.parquet`` (so documents are new texts made of real prose); 10% are near copies of a recent
document (``benchmarks.perturb.edits.crawled_copy``: share and copyright lines added, words edited) and 3% exact
copies, the way a crawl revisits pages. Files of ``rows_per_file`` rows are written one at a time, so a corpus
of any size is made in bounded memory, and a smaller corpus is a prefix of the files of a larger one.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks.perturb.edits import crawled_copy, sentences
from filterkit.io.storage import write_json
from filterkit.testing.shared import shared_data_dir

ROWS_PER_FILE = 100_000
ROW_GROUP = 10_000
NEAR_COPY_SHARE, EXACT_COPY_SHARE = 0.10, 0.03


def sentence_pool() -> np.ndarray:
    """Every sentence of the shared human corpora with at least five words."""
    data = shared_data_dir() / "human"
    texts = pq.read_table(data / "news_wiki_stories.parquet", columns=["text"])["text"].to_pylist()
    for article in pq.read_table(data / "wikitext2.parquet", columns=["text"])["text"].to_pylist():
        texts += [p for p in article.split("\n") if p.strip() and not p.strip().startswith("=")]
    pool = [s for t in texts for s in sentences(t) if len(s.split()) >= 5]
    return np.array(pool, dtype=object)


def _file(pool: np.ndarray, rng: np.random.Generator, file_no: int) -> tuple[pa.Table, dict[str, int]]:
    n = ROWS_PER_FILE
    lengths = rng.integers(5, 26, n)
    picks = rng.integers(0, len(pool), int(lengths.sum()))
    bounds = np.r_[0, np.cumsum(lengths)]
    texts = [" ".join(pool[picks[bounds[i]:bounds[i + 1]]]) for i in range(n)]
    kind = rng.random(n)
    near = np.flatnonzero((kind < NEAR_COPY_SHARE) & (np.arange(n) > 0))
    exact = np.flatnonzero((kind >= NEAR_COPY_SHARE) & (kind < NEAR_COPY_SHARE + EXACT_COPY_SHARE) & (np.arange(n) > 0))
    for i in near:
        texts[i] = crawled_copy(texts[int(rng.integers(max(0, i - 5000), i))], rng)
    for i in exact:
        texts[i] = texts[int(rng.integers(max(0, i - 5000), i))]
    ids = [f"f{file_no:05d}-{i:06d}" for i in range(n)]
    urls = [f"https://example.org/{file_no}/{i}" for i in range(n)]
    return pa.table({"id": ids, "url": urls, "text": texts}), {"near_copies": len(near), "exact_copies": len(exact)}


def make_corpus(target_bytes: int, directory: Path, seed: int = 0) -> list[dict]:
    """Files ``part-NNNNN.parquet`` in ``directory`` until they hold ``target_bytes``; reuses files made before."""
    directory.mkdir(parents=True, exist_ok=True)
    index_path = directory / "index.json"
    index = json.loads(index_path.read_text()) if index_path.exists() else {"seed": seed, "files": []}
    if index["seed"] != seed:
        raise ValueError(f"{directory} holds a corpus made with seed {index['seed']}, not {seed}")
    pool = None
    while sum(f["bytes"] for f in index["files"]) < target_bytes:
        file_no = len(index["files"])
        pool = sentence_pool() if pool is None else pool
        table, planted = _file(pool, np.random.default_rng([seed, file_no]), file_no)
        path = directory / f"part-{file_no:05d}.parquet"
        pq.write_table(table, path, row_group_size=ROW_GROUP)
        index["files"].append({"path": path.name, "rows": table.num_rows, "bytes": path.stat().st_size,
                               "text_bytes": int(pa.compute.sum(pa.compute.binary_length(table["text"])).as_py()),
                               **planted})
        write_json(index, index_path)
    return index["files"]


def prefix(files: list[dict], target_bytes: int) -> list[dict]:
    """The first files that together reach ``target_bytes``."""
    out, total = [], 0
    for f in files:
        if total >= target_bytes:
            break
        out.append(f)
        total += f["bytes"]
    return out
