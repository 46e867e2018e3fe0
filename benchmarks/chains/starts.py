"""Human start texts: one opening span per article, split into chain starts and held-out human texts."""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pyarrow.parquet as pq

from benchmarks.collapse.data.text import clean_wikitext
from detectors.classifier.train import opening_groups
from filterkit.testing.shared import shared_data_dir

_SENTENCE_END = re.compile(r"[.!?][\"'”’)]?$")
OPENING_WORDS = 12
"""Articles are told apart by their first 12 normalised words, as the classifier's training groups them."""


@dataclass(frozen=True)
class Starts:
    """Chain starts and held-out human texts of the same source, cut the same way, no article in both."""

    starts: list[str]
    start_ids: list[str]
    holdout: list[str]
    source: str


def opening_span(text: str, min_words: int, max_words: int) -> str:
    """The first sentences of ``text``: at least ``min_words`` words, cut at the last sentence end within
    ``max_words`` (a hard cut at ``max_words`` when no sentence ends between the two)."""
    words = text.split()
    if len(words) <= min_words:
        return " ".join(words)
    for end in range(min(max_words, len(words)), min_words - 1, -1):
        if _SENTENCE_END.search(words[end - 1]):
            return " ".join(words[:end])
    return " ".join(words[:max_words])


def _articles(source: str) -> tuple[list[str], list[str]]:
    data = shared_data_dir() / "human"
    if source == "wikitext2":
        table = pq.read_table(data / "wikitext2.parquet", columns=["id", "text"])
        return table["id"].to_pylist(), [clean_wikitext(t) for t in table["text"].to_pylist()]
    table = pq.read_table(data / "news_wiki_stories.parquet", columns=["id", "text"])
    return table["id"].to_pylist(), table["text"].to_pylist()


def load_starts(source: str, chains: int, holdout: int, min_words: int, max_words: int, seed: int) -> Starts:
    """Draw ``chains`` start articles and up to ``holdout`` other articles, deduplicated by their opening."""
    ids, texts = _articles(source)
    spans = [opening_span(t, min_words, max_words) for t in texts]
    groups = opening_groups(texts, OPENING_WORDS)
    # The same article appears in several rows: keep its first row only, and only spans long enough to rephrase.
    first: dict[int, int] = {}
    for i, g in enumerate(groups.tolist()):
        if len(spans[i].split()) >= min_words:
            first.setdefault(g, i)
    unique = np.array(sorted(first.values()))
    order = unique[np.random.default_rng(seed).permutation(unique.size)]
    if order.size < chains + 1:
        raise ValueError(f"{source} has {order.size} distinct articles of >= {min_words} words; need more than "
                         f"{chains} (chains) to keep held-out human texts")
    picked, rest = order[:chains], order[chains:chains + holdout]
    return Starts([spans[i] for i in picked], [str(ids[i]) for i in picked], [spans[i] for i in rest], source)
