"""The learner interface and the registry that builds learner families by name.

A *family* is the typed configuration of one learner kind (its dataclass fields are the learner's parameters);
``family.new(seed)`` makes a fresh, untrained learner for one generation. Numeric families also say what the
"human" distribution is, since their data are drawn, not read.
"""
from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Protocol

import numpy as np

from filterkit.config import check_keys

Kind = Literal["numeric", "text"]
REGISTRY: dict[str, str] = {
    "gaussian": "benchmarks.collapse.learners.gaussian:GaussianFamily",
    "gmm": "benchmarks.collapse.learners.gaussian:MixtureFamily",
    "ngram": "benchmarks.collapse.learners.ngram:NGramFamily",
    "transformer": "benchmarks.collapse.learners.transformer:TransformerFamily",
    "hf": "benchmarks.collapse.learners.hf:HFFamily",
}
"""Learner name to ``module:class`` of its family, imported only when built (the torch learners are heavy)."""


class Learner(Protocol):
    """What the loop needs of a model: train once, draw samples, score held-out human data."""

    def fit(self, data: np.ndarray) -> None:
        """Train from scratch (or from the family's pretrained start) on ``data``."""

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Draw ``n`` items (floats, or documents as an object array of str)."""

    def evaluate(self, human_test: np.ndarray) -> dict[str, float]:
        """At least ``test_ce``: mean negative log-likelihood (nats per value or per token) of ``human_test``."""


@dataclass
class Family(ABC):
    """Configuration of a learner kind; subclasses add their parameters as fields."""

    kind: ClassVar[Kind]

    def prepare(self, human_train: np.ndarray) -> None:  # noqa: B027 (a hook; most families need nothing)
        """Fit whatever is shared by every generation (a tokenizer) on human training data only."""

    @abstractmethod
    def new(self, seed: int) -> Learner:
        """A fresh, untrained learner whose internal randomness comes from ``seed``."""


@dataclass
class NumericFamily(Family):
    """A family whose human data are draws from a known distribution."""

    kind: ClassVar[Kind] = "numeric"

    @abstractmethod
    def draw_human(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` draws from the human (true) distribution."""


def names() -> list[str]:
    """The learner names ``build`` accepts."""
    return sorted(REGISTRY)


def build(name: str, params: dict[str, Any] | None = None) -> Family:
    """The family registered under ``name``, configured with ``params`` (unknown keys are an error)."""
    if name not in REGISTRY:
        raise ValueError(f"unknown learner {name!r}; valid learners: {', '.join(names())}")
    module, _, attr = REGISTRY[name].partition(":")
    cls = getattr(importlib.import_module(module), attr)
    params = dict(params or {})
    check_keys(cls, params, f"parameters of learner {name!r}:")
    return cls(**params)
