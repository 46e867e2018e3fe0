"""Per-generation measurements: sample diversity and tail coverage for text, spread and distance for numbers,
and what the filter did to the crawl."""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from benchmarks.collapse.data.text import words

TAIL_SHARE = 0.10
"""The tail is the rarest 10% of the human word types."""


@dataclass(frozen=True)
class TextReference:
    """Human text as word counts (the whole human training pool): the yardstick for types, tail and KL."""

    counts: Counter
    total: int
    tail: frozenset[str]

    @classmethod
    def from_docs(cls, docs: np.ndarray) -> TextReference:
        """Count the words; the tail is the rarest ``TAIL_SHARE`` of types (ties broken by the type itself)."""
        counts = Counter(w for d in docs for w in words(d))
        ranked = sorted(counts, key=lambda w: (counts[w], w))
        tail = frozenset(ranked[:max(1, math.ceil(TAIL_SHARE * len(ranked)))])
        return cls(counts, sum(counts.values()), tail)


def text_metrics(samples: np.ndarray, ref: TextReference, rng: np.random.Generator, bleu_docs: int) -> dict[str, float]:
    """Diversity, tail coverage and unigram KL of one generation's samples against the human reference."""
    docs = [words(s) for s in samples]
    counts = Counter(w for d in docs for w in d)
    total = sum(counts.values())
    out: dict[str, float] = {"sample_tokens_per_doc": total / max(len(docs), 1)}
    if total == 0:
        return out | {k: math.nan for k in ("human_types_kept", "tail_coverage", "tail_mass", "unigram_kl",
                                            "distinct_1", "distinct_2", "distinct_3", "self_bleu")}
    out["human_types_kept"] = sum(1 for w in ref.counts if w in counts) / len(ref.counts)
    out["tail_coverage"] = sum(1 for w in ref.tail if w in counts) / len(ref.tail)
    out["tail_mass"] = sum(counts[w] for w in ref.tail) / total
    out["unigram_kl"] = unigram_kl(ref.counts, ref.total, counts, total)
    for n in (1, 2, 3):
        out[f"distinct_{n}"] = distinct_n(docs, n)
    pick = rng.choice(len(docs), size=min(bleu_docs, len(docs)), replace=False)
    out["self_bleu"] = self_bleu([docs[i][:100] for i in pick])
    return out


def unigram_kl(human: Counter, human_total: int, model: Counter, model_total: int, add: float = 0.5) -> float:
    """KL(human || samples) in nats, the samples' unigram smoothed by ``add`` over both vocabularies."""
    vocab = len(set(human) | set(model))
    denom = model_total + add * vocab
    return float(sum((c / human_total) * math.log((c / human_total) / ((model.get(w, 0) + add) / denom))
                     for w, c in human.items()))


def distinct_n(docs: list[list[str]], n: int) -> float:
    """Unique n-grams over all n-grams of the documents (NaN when there are none)."""
    grams = [tuple(d[i:i + n]) for d in docs for i in range(len(d) - n + 1)]
    return len(set(grams)) / len(grams) if grams else math.nan


def self_bleu(docs: list[list[str]], max_n: int = 4) -> float:
    """Mean BLEU-4 of each document against all the others (epsilon-smoothed); high means repetitive samples."""
    docs = [d for d in docs if d]
    if len(docs) < 2:
        return math.nan
    grams = [[Counter(tuple(d[i:i + n]) for i in range(len(d) - n + 1)) for n in range(1, max_n + 1)] for d in docs]
    # Per n-gram, the two largest counts and who holds the first: the clip "max over the other documents".
    top: list[dict[tuple, tuple[int, int, int]]] = [{} for _ in range(max_n)]
    for j, per_doc in enumerate(grams):
        for n, counter in enumerate(per_doc):
            for g, c in counter.items():
                c1, j1, c2 = top[n].get(g, (0, -1, 0))
                top[n][g] = (c, j, c1) if c > c1 else (c1, j1, max(c2, c))
    lengths = sorted(len(d) for d in docs)
    scores = []
    for j, hyp in enumerate(docs):
        logs = 0.0
        for n in range(max_n):
            total = sum(grams[j][n].values())
            clipped = 0
            for g, c in grams[j][n].items():
                c1, j1, c2 = top[n][g]
                clipped += min(c, c2 if j1 == j else c1)
            logs += math.log(max(clipped, 0.1) / total) if total else math.log(1e-9)
        others = list(lengths)
        others.remove(len(hyp))
        ref_len = min(others, key=lambda r: (abs(r - len(hyp)), r))
        brevity = 1.0 if len(hyp) > ref_len else math.exp(1 - ref_len / len(hyp))
        scores.append(brevity * math.exp(logs / max_n))
    return float(np.mean(scores))


def numeric_metrics(learner: Any, test: np.ndarray, sigma0: float, rng: np.random.Generator) -> dict[str, float]:
    """Spread relative to generation 0 and the Wasserstein-2 distance to the held-out human values."""
    sigma = float(learner.std())
    draws = np.sort(learner.sample(len(test), rng))
    w2 = float(np.sqrt(np.mean((draws - np.sort(test)) ** 2)))
    return {"sigma": sigma, "sigma_ratio": sigma / sigma0 if sigma0 > 0 else math.nan, "w2": w2}


@dataclass(frozen=True)
class FilterStats:
    """What an arm did to one generation's new crawl rows: TPR and FPR are the shares of its synthetic and of its
    human rows removed."""

    crawl_rows: int
    crawl_synthetic_share: float
    filter_tpr: float
    filter_fpr: float
    retain_rate: float
    tpr_foreign_own: tuple[float, float] | None = None
    """With foreign rows in the crawl (other models' text, or the replay adversary's): the TPR on those and on the
    previous model's own rows apart; None where no foreign rows were marked."""

    def to_dict(self) -> dict[str, Any]:
        """The record's columns, in their order; the foreign split only where it was measured."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name in FILTER_COLUMNS}
        if self.tpr_foreign_own is not None:
            out |= {"filter_tpr_foreign": self.tpr_foreign_own[0], "filter_tpr_own": self.tpr_foreign_own[1]}
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FilterStats:
        """Read the columns back from a record (other keys are ignored)."""
        split = (data["filter_tpr_foreign"], data["filter_tpr_own"]) if "filter_tpr_foreign" in data else None
        return cls(*(data[k] for k in FILTER_COLUMNS), tpr_foreign_own=split)


FILTER_COLUMNS = ("crawl_rows", "crawl_synthetic_share", "filter_tpr", "filter_fpr", "retain_rate")
"""The columns every record of a generation >= 1 has; ``filter_tpr_foreign`` and ``filter_tpr_own`` may follow."""


def filter_metrics(synthetic: np.ndarray, new: np.ndarray, kept: np.ndarray,
                   foreign: np.ndarray | None = None) -> FilterStats:
    """TPR and FPR of the arm on this generation's new crawl rows, and how much of them it kept; with a
    ``foreign`` mask (rows other models wrote, or the replay adversary re-injected), TPR on those and on the
    previous model's own rows apart."""
    synth_new, human_new = synthetic & new, ~synthetic & new
    removed = ~kept
    split = None if foreign is None else (_share(removed, synth_new & foreign), _share(removed, synth_new & ~foreign))
    return FilterStats(crawl_rows=int(new.sum()), crawl_synthetic_share=float(synth_new.sum() / max(new.sum(), 1)),
                       filter_tpr=_share(removed, synth_new), filter_fpr=_share(removed, human_new),
                       retain_rate=float((kept & new).sum() / max(new.sum(), 1)), tpr_foreign_own=split)


def _share(flag: np.ndarray, among: np.ndarray) -> float:
    """Share of the ``among`` rows that are flagged (NaN when there are none)."""
    return float((flag & among).sum() / among.sum()) if among.any() else math.nan
