"""Word n-gram language model with interpolated absolute discounting, sampled and scored in plain Python.

The model can only produce word types it saw in training, so a type missing from one generation's data is
gone for good: exactly the loss of the tail that model collapse is about. To score held-out human text it mixes
in a small uniform floor over every human type (``floor``), so an out-of-vocabulary token costs a large, finite
penalty instead of infinity; sampling never uses the floor. ``evaluate`` reports the OOV tokens apart
(``oov_rate``, ``test_ce_in_vocab``, ``test_ce_oov``) and the NLL per word-frequency band of the human pool.
"""
from __future__ import annotations

import math
from bisect import bisect_right
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from itertools import accumulate
from typing import ClassVar

import numpy as np

from benchmarks.collapse.data.text import words
from benchmarks.collapse.learners.bands import BANDS, band_metrics, frequency_bands
from benchmarks.collapse.learners.base import Family, Kind

BOS, EOS = "<s>", "</s>"


@dataclass
class NGramFamily(Family):
    """Word n-gram LM: ``order`` words of context minus one, discount ``discount`` at every order above one."""

    kind: ClassVar[Kind] = "text"
    order: int = 3
    discount: float = 0.75
    max_tokens: int = 400
    """Longest sampled document; the model ends documents itself by sampling the end token."""
    floor: float = 1e-3
    """Weight of the uniform distribution over all human types used only when scoring."""
    _universe: int = field(default=0, init=False, repr=False)
    _bands: dict[str, int] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.order < 1 or not 0.0 < self.discount < 1.0 or self.max_tokens < 1 or not 0.0 < self.floor < 1.0:
            raise ValueError("ngram: need order >= 1, 0 < discount < 1, max_tokens >= 1 and 0 < floor < 1")

    def prepare(self, human_train: np.ndarray) -> None:
        """Size the scoring floor's universe (every human type plus the end token and one unknown slot) and band
        the types by their frequency in the pool (the end token counted once per document)."""
        counts = Counter(w for doc in human_train for w in words(doc))
        self._universe = len(counts) + 2
        counts[EOS] = len(human_train)
        self._bands = frequency_bands(counts)

    def new(self, seed: int) -> NGramLM:
        """An untrained model (sampling is random only through the generator the loop passes)."""
        return NGramLM(self.order, self.discount, self.max_tokens, self.floor, max(self._universe, 2), self._bands)


@dataclass
class _Context:
    """Counts of what follows one context, and the cumulative discounted counts used to sample from it."""

    counts: dict[str, int]
    total: int
    backoff: float
    """Probability mass passed to the shorter context: discount x distinct continuations / total."""
    nexts: list[str] = field(default_factory=list)
    cum: list[float] = field(default_factory=list)


@dataclass
class NGramLM:
    """One trained n-gram model."""

    order: int
    discount: float
    max_tokens: int
    floor: float
    universe: int
    bands: dict[str, int] = field(default_factory=dict)
    """Frequency band of each human type (0 head, 1 torso, 2 tail; unlisted: tail); empty: no band metrics."""
    _tables: list[dict[tuple[str, ...], _Context]] = field(default_factory=list, init=False, repr=False)

    def fit(self, data: np.ndarray) -> None:
        """Count n-grams of every order over the documents, each padded with start tokens and an end token."""
        grams: list[Counter] = [Counter() for _ in range(self.order)]
        pad = [BOS] * (self.order - 1)
        for doc in data:
            seq = pad + words(doc) + [EOS]
            for k in range(self.order):
                # n-grams of length k + 1 whose last token is a real position (not padding)
                grams[k].update(zip(*(seq[self.order - 1 - k + j:] for j in range(k + 1)), strict=False))
        if not grams[0]:
            raise ValueError("the n-gram model got no documents to train on")
        self._tables = []
        for k, counter in enumerate(grams):
            table: dict[tuple[str, ...], dict[str, int]] = defaultdict(dict)
            for gram, c in counter.items():
                table[gram[:-1]][gram[-1]] = c
            d = self.discount if k else 0.0
            self._tables.append({h: _Context(nx, t := sum(nx.values()), d * len(nx) / t) for h, nx in table.items()})

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` documents by ancestral sampling, each ended by the end token or ``max_tokens``."""
        out = np.empty(n, dtype=object)
        uniforms = iter(rng.random(n * self.max_tokens * (2 * self.order)).tolist())
        for j in range(n):
            ctx = (BOS,) * (self.order - 1)
            doc: list[str] = []
            while len(doc) < self.max_tokens:
                w = self._draw(ctx, uniforms)
                if w == EOS:
                    break
                doc.append(w)
                ctx = (ctx + (w,))[1:]
            out[j] = " ".join(doc)
        return out

    def _draw(self, ctx: tuple[str, ...], uniforms) -> str:
        for k in range(self.order - 1, -1, -1):
            c = self._tables[k].get(ctx[len(ctx) - k:] if k else ())
            if c is None or (k and next(uniforms) < c.backoff):
                continue
            if not c.cum:  # built on first use: sampling touches only a fraction of the contexts
                c.nexts = list(c.counts)
                c.cum = list(accumulate(c.counts[w] - (self.discount if k else 0.0) for w in c.nexts))
            return c.nexts[min(bisect_right(c.cum, next(uniforms) * c.cum[-1]), len(c.nexts) - 1)]
        raise RuntimeError("the unigram table is empty")

    def prob(self, ctx: tuple[str, ...], w: str) -> float:
        """Interpolated probability of ``w`` after ``ctx`` (the last ``order - 1`` tokens), without the floor."""
        u = self._tables[0][()]
        p = u.counts.get(w, 0) / u.total
        d = self.discount
        for k in range(1, self.order):
            c = self._tables[k].get(ctx[len(ctx) - k:])
            if c is not None:
                p = (max(c.counts.get(w, 0) - d, 0.0) + d * len(c.counts) * p) / c.total
        return p

    def evaluate(self, human_test: np.ndarray) -> dict[str, float]:
        """Mean negative log-probability per token (end tokens included) of the test documents, with the floor:
        overall (``test_ce``), over tokens in and out of the model's vocabulary, and per human frequency band."""
        pad = (BOS,) * (self.order - 1)
        uniform = self.floor / self.universe
        keep = 1.0 - self.floor
        tail = len(BANDS) - 1
        nll, n, oov, nll_oov = 0.0, 0, 0, 0.0
        band_nll, band_n = [0.0] * len(BANDS), [0] * len(BANDS)
        for doc in human_test:
            seq = pad + tuple(words(doc)) + (EOS,)
            for i in range(len(pad), len(seq)):
                p = self.prob(seq[i - self.order + 1:i] if self.order > 1 else (), seq[i])
                cost = -math.log(keep * p + uniform)
                nll += cost
                n += 1
                if p == 0.0:  # only a type missing from the unigram table has probability 0
                    oov += 1
                    nll_oov += cost
                b = self.bands.get(seq[i], tail)
                band_nll[b] += cost
                band_n[b] += 1
        # test_oov: the older name of oov_rate, kept so earlier reports still read.
        # nll_per_word: the same total over words alone (end tokens cost but do not count), so that learners with
        # other tokenisations (the subword transformers) are compared on one footing.
        out = {"test_ce": nll / max(n, 1), "nll_per_word": nll / max(n - len(human_test), 1),
               "test_oov": oov / max(n, 1), "oov_rate": oov / max(n, 1),
               "test_ce_in_vocab": (nll - nll_oov) / (n - oov) if n > oov else math.nan,
               "test_ce_oov": nll_oov / oov if oov else math.nan}
        return out | band_metrics(band_nll, band_n) if self.bands else out
