"""Test doubles and helpers shared by the collapse benchmark's tests: learners whose output is known (a parrot of
its training documents, a learner that falls silent), small configs, and a tiny local causal-LM checkpoint."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from benchmarks.collapse import CollapseConfig
from benchmarks.collapse.learners.base import Family, build
from benchmarks.collapse.learners.transformer import TransformerFamily


def cfg(**fields) -> CollapseConfig:
    """A config for a test: no plot (matplotlib's drawing is most of a small run's time)."""
    return CollapseConfig(plots=False, **fields)


def small_ngram(**fields) -> CollapseConfig:
    """A small, fast n-gram run (fixed schedule, 3 generations, 2 seeds) with ``fields`` changed."""
    base = dict(learner="ngram", schedule="fixed", alpha=0.5, arms=("none", "oracle", "random"), generations=3,
                seeds=2, samples=30, test_docs=20, doc_words=40, plots=False)
    return CollapseConfig(**(base | fields))


@dataclass
class ParrotFamily(Family):
    """Test learner: samples are copies of its training documents, so its output holds exact duplicates."""

    kind: ClassVar[str] = "text"

    def new(self, seed: int):
        return _Parrot()


class _Parrot:
    """Samples copies of its training documents."""

    def fit(self, data):
        self.docs = np.asarray(data, dtype=object)

    def sample(self, n, rng):
        return self.docs[rng.integers(0, len(self.docs), n)]

    def evaluate(self, human_test):
        return {"test_ce": 1.0 + 1.0 / len(set(self.docs))}


@dataclass
class SilentFamily(Family):
    """Test learner whose every sample is empty from generation 1 on."""

    kind: ClassVar[str] = "text"

    def new(self, seed: int):
        return _Silent()


class _Silent(_Parrot):
    """Samples empty documents until it has trained on 50 or more."""

    def sample(self, n, rng):
        return np.array([""] * n, dtype=object) if len(self.docs) < 50 else super().sample(n, rng)


def tiny_checkpoint(path, corpus):
    """A one-layer GPT-2 and its BPE tokenizer trained on ``corpus``, saved as a local checkpoint at ``path``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=300, special_tokens=["<|endoftext|>"],
                                                        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|endoftext|>", eos_token="<|endoftext|>",
                                   pad_token="<|endoftext|>")
    eos = tok.token_to_id("<|endoftext|>")
    model = GPT2LMHeadModel(GPT2Config(vocab_size=tok.get_vocab_size(), n_positions=64, n_embd=32, n_layer=1,
                                       n_head=2, bos_token_id=eos, eos_token_id=eos))
    model.save_pretrained(path)
    fast.save_pretrained(path)
    return path


def curve_records(curves: dict[str, np.ndarray]) -> list[dict]:
    """Records from per-arm (seeds, generations + 1) arrays of test_ce; NaN means the lineage has no value there."""
    return [{"arm": arm, "seed": s, "generation": g, "test_ce": float(v)}
            for arm, table in curves.items() for s, row in enumerate(table) for g, v in enumerate(row)
            if not math.isnan(v)]


def noisy_curves(seeds: int = 8, gens: int = 6, gap: float = 0.0, noise: float = 0.05, seed: int = 0) -> dict:
    """Per-arm test_ce curves: none rising, the oracle ``gap`` a generation below it, a noisy arm."""
    rng = np.random.default_rng(seed)
    base = 5.0 + 0.3 * np.arange(gens + 1)
    none = base + noise * rng.standard_normal((seeds, gens + 1))
    oracle = base - gap * np.arange(gens + 1) + noise * rng.standard_normal((seeds, gens + 1))
    arm = base + noise * 5 * rng.standard_normal((seeds, gens + 1))
    return {"none": none, "oracle": oracle, "arm": arm}


def zipf_corpus(n: int, seed: int) -> np.ndarray:
    """Short documents of Zipf-distributed made-up words: a frequent head and a rare tail."""
    rng = np.random.default_rng(seed)
    syl = [c + v for c in "bdkmrst" for v in "aeiou"]
    vocab = [syl[i % 35] + syl[(i * 7 + 3) % 35] + ("" if i < 35 else syl[i // 35]) for i in range(150)]
    p = 1.0 / np.arange(1, len(vocab) + 1)
    return np.array([" ".join(rng.choice(vocab, size=int(rng.integers(6, 14)), p=p / p.sum()))
                     for _ in range(n)], dtype=object)


TRAIN, TEST = zipf_corpus(60, 0), zipf_corpus(20, 1)
TINY = {"vocab_size": 300, "layers": 1, "width": 32, "heads": 2, "block": 32, "batch_size": 8, "threads": 1,
        "steps": 120, "lr": 3e-3}
"""A transformer small enough to train in a second on one thread."""


def tiny_transformer(**params) -> TransformerFamily:
    """The tiny transformer family with ``params`` changed, prepared on ``TRAIN``."""
    family = build("transformer", TINY | params)
    family.prepare(TRAIN)
    return family
