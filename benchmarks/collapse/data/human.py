"""Human data for the loop: a held-out test set nobody trains on, trusted text for the practitioner's detectors,
and a pool that generation 0 and the fresh human share of each later crawl are drawn from."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from benchmarks.collapse.data.text import clean_wikitext, windows

TEXT_SOURCES = ("human/wikitext2.parquet", "human/news_wiki_stories.parquet")


class NotEnoughHumanData(ValueError):
    """The human pool cannot supply what the requested schedule, sizes and generations need."""


@dataclass(frozen=True)
class HumanSplit:
    """Documents (or values) split by source article, so no article straddles two parts."""

    train: np.ndarray
    trusted: np.ndarray
    test: np.ndarray
    validation: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=object))
    """Articles nobody trains on, kept for choosing settings (steps, smoothing floors) off the test set."""
    trusted_articles: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=object))
    """The source article of each trusted document (what a practitioner knows of their own trusted text)."""


@dataclass(frozen=True)
class SeedData:
    """The human rows one seed uses: generation 0's training set and the fresh rows of later crawls."""

    gen0: np.ndarray
    fresh: np.ndarray
    per_generation: int

    def fresh_for(self, generation: int) -> np.ndarray:
        """The fresh human rows entering the crawl of ``generation`` (1-based), never reused."""
        lo = (generation - 1) * self.per_generation
        return self.fresh[lo:lo + self.per_generation]


def load_text_split(data_dir: Path, doc_words: int, test_fraction: float, trusted_fraction: float,
                    trusted_by: str = "row", sources: tuple[str, ...] = TEXT_SOURCES,
                    validation_fraction: float = 0.0) -> HumanSplit:
    """Cut the shared human corpora into documents and split them with a fixed, seed-free hash: the test set by
    article; the trusted set by article, or (``trusted_by="row"``) by document among the training articles, so
    that it is drawn as the crawl's fresh human rows are; a validation set by article, taken from the articles
    the other parts would not hold (so that with ``validation_fraction=0`` the split is the one it always was)."""
    groups: dict[str, list[str]] = {}
    for rel in sources:
        path = data_dir / rel
        if not path.is_file():
            raise FileNotFoundError(f"human corpus {path} is missing (see the shared data README)")
        table = pq.read_table(path, columns=["id", "text"]).to_pylist()
        for row in table:
            text = row["text"] or ""
            if rel.endswith("wikitext2.parquet"):
                docs = windows(clean_wikitext(text), doc_words)
            else:
                docs = [" ".join(text.split()[:doc_words])]
            groups[f"{rel}:{row['id']}"] = [d for d in docs if d.strip()]
    parts: dict[str, list[str]] = {"train": [], "trusted": [], "test": [], "validation": [],
                                   "trusted_articles": []}
    for key in sorted(groups):
        u = _unit(key)
        if u < test_fraction:
            parts["test"].extend(groups[key])
        elif u >= 1.0 - validation_fraction:
            parts["validation"].extend(groups[key])
        elif trusted_by == "article":
            part = "trusted" if u < test_fraction + trusted_fraction else "train"
            parts[part].extend(groups[key])
            if part == "trusted":
                parts["trusted_articles"].extend([key] * len(groups[key]))
        else:
            share = trusted_fraction / (1.0 - test_fraction)
            for i, doc in enumerate(groups[key]):
                trusted = _unit(f"{key}#{i}") < share
                parts["trusted" if trusted else "train"].append(doc)
                if trusted:
                    parts["trusted_articles"].append(key)
    return HumanSplit(**{k: np.array(v, dtype=object) for k, v in parts.items()})


def _unit(key: str) -> float:
    return int.from_bytes(hashlib.sha1(key.encode()).digest()[:8], "big") / 2**64


def seed_data(pool: np.ndarray, seed: int, first: int, per_generation: int, generations: int) -> SeedData:
    """Shuffle the pool for ``seed`` and check it holds generation 0 plus every fresh share, without reuse."""
    need = first + per_generation * generations
    if need > len(pool):
        raise NotEnoughHumanData(
            f"the human training pool holds {len(pool)} documents but this run needs {need} "
            f"({first} for generation 0 + {per_generation} fresh x {generations} generations); "
            f"lower --samples, --alpha or --generations")
    order = np.random.default_rng([seed, 0xC011]).permutation(len(pool))
    return SeedData(gen0=pool[order[:first]], fresh=pool[order[first:need]], per_generation=per_generation)
