"""The replay adversary (Racca, Sanyal, Valko): it re-injects chosen outputs of the learner's earlier generations
into the crawl, instead of only the latest model's samples (``foreign_source: older``, ``replay_pick``)."""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from benchmarks.collapse.data.text import words


@dataclass
class HumanUnigram:
    """Add-one-smoothed word unigram of trusted human text: how human-like a document's words are, on average."""

    counts_: Counter = field(default_factory=Counter)
    total_: int = 0

    def fit(self, texts: np.ndarray) -> HumanUnigram:
        """Count the words of the human texts."""
        for t in texts:
            self.counts_.update(words(str(t)))
        self.total_ = sum(self.counts_.values())
        return self

    def score(self, texts: np.ndarray) -> np.ndarray:
        """Mean log-probability per word (higher: more human-like); -inf for a document without words."""
        denom = math.log(self.total_ + len(self.counts_) + 1)
        out = np.full(len(texts), -math.inf)
        for i, t in enumerate(texts):
            ws = words(str(t))
            if ws:
                out[i] = sum(math.log(self.counts_.get(w, 0) + 1) for w in ws) / len(ws) - denom
        return out


def pick(history: list[str], per_generation: int, k: int, how: str, rng: np.random.Generator,
         human: HumanUnigram | None = None) -> np.ndarray:
    """``k`` distinct earlier outputs (``history`` without its last generation) chosen as ``how`` says."""
    older = [h for h in history[:len(history) - per_generation] if h.strip()]
    if k <= 0 or not older:
        return np.empty(0, dtype=object)
    if how == "oldest":
        older = [h for h in history[:per_generation] if h.strip()] or older
    pool = np.array(older, dtype=object)
    if how == "humanlike":
        if human is None:
            raise ValueError("the humanlike replay adversary needs a unigram of trusted human text")
        # Stable ranking so ties (repeated documents) resolve the same way in every run.
        order = np.argsort(-human.score(pool), kind="stable")
        _, first = np.unique(pool[order], return_index=True)
        return pool[order[np.sort(first)][:k]]
    return pool[np.sort(rng.choice(len(pool), size=min(k, len(pool)), replace=False))]
