"""Labelled rows in a few toy domains, shaped like the transfer protocol's (``benchmarks.transfer.protocol_data``)."""
from __future__ import annotations

import numpy as np

from benchmarks.transfer.protocol_data import Rows

COMMON = ("the", "a", "of", "and", "it", "was")


def domain_rows(words: dict[str, tuple[str, ...]], articles: int, size: int, seed: int = 0) -> Rows:
    """One human and one machine text per article of each domain; machine text says 'moreover' once."""
    rng = np.random.default_rng(seed)
    text, y, domain, article = [], [], [], []
    for i, (d, own) in enumerate(words.items()):
        for k in range(articles):
            for machine in (False, True):
                w = list(rng.choice(own + COMMON, size=size))
                if machine:
                    w[rng.integers(size)] = "moreover"
                text.append(" ".join(w))
                y.append(machine)
                domain.append(d)
                article.append(1000 * i + k)
    n = len(text)
    return Rows(text=text, y=np.array(y), source=np.full(n, "s"), domain=np.array(domain),
                generator=np.full(n, "g"), family=np.full(n, "f"), job=np.full(n, "generation"),
                language=np.full(n, "en"), article=np.array(article, dtype=np.uint64))
