"""A corpus with known near duplicates: shared human articles, cropped copies of them, and a chain of crops."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq


def near_duplicate_corpus(shared_data: Path) -> list[str]:
    """300 human articles, 120 copies cropped at the start with a footer added, and 10 overlapping crops of one."""
    texts = pq.read_table(shared_data / "human" / "news_wiki_stories.parquet")["text"].to_pylist()[:300]
    rng = np.random.default_rng(1)
    copies = []
    for t in texts[:120]:
        words = t.split()
        cut = int(rng.integers(0, 8))
        copies.append(" ".join(words[cut:]) + " Share this article.")
    chain = [" ".join(texts[0].split()[i:]) for i in range(0, 40, 4)]  # a chain of overlapping crops
    return texts + copies + chain
