"""How each generation's crawl mixes fresh human data, new synthetic data and what earlier generations kept."""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from benchmarks.collapse.data.rows import Rows


@dataclass(frozen=True)
class Schedule(ABC):
    """``crawl`` builds generation t's crawl; after filtering, ``pool`` is what is kept and ``training`` what the
    next model trains on."""

    samples: int
    """N: the size of generation 0's human training set."""
    crawl_rows: int
    """C: new rows per crawl (N unless configured)."""

    def human_per_generation(self) -> int:
        """Fresh human rows each crawl needs."""
        return 0

    def synthetic_per_generation(self) -> int:
        """Synthetic rows each crawl takes from the previous model's samples."""
        return self.crawl_rows - self.human_per_generation()

    @abstractmethod
    def crawl(self, pool: Rows, synthetic: np.ndarray, human: np.ndarray) -> Rows:
        """This generation's crawl; its ``new`` rows are the ones the filter decides on."""

    def carries_pool(self) -> bool:
        """Whether earlier kept rows stay in the corpus."""
        return False

    def training(self, pool: Rows, rng: np.random.Generator, keys: np.ndarray | None = None) -> Rows:
        """What the next model trains on, given the kept rows (``keys``: see ``draw_budget``)."""
        return pool


def draw_budget(pool: Rows, budget: int, rng: np.random.Generator, keys: np.ndarray | None = None) -> Rows:
    """``budget`` rows of ``pool`` without replacement, in pool order (all of them while it is smaller).

    With ``keys`` (one uniform number per pool row) the rows with the smallest keys: still a uniform draw, and when
    every arm's keys come from one draw over the crawl, two arms that kept nearly the same rows train on nearly the
    same rows (common random numbers), so what differs between them is what their filters removed.
    """
    if len(pool) <= budget:
        return pool
    if keys is not None:
        return pool.take(np.sort(np.argsort(keys, kind="stable")[:budget]))
    return pool.take(np.sort(rng.choice(len(pool), size=budget, replace=False)))


@dataclass(frozen=True)
class Replace(Schedule):
    """Each generation trains only on the previous model's output."""

    def crawl(self, pool: Rows, synthetic: np.ndarray, human: np.ndarray) -> Rows:
        """N synthetic rows."""
        return Rows.of(synthetic, synthetic=True, new=True)


@dataclass(frozen=True)
class Fixed(Schedule):
    """A fixed share ``alpha`` of each crawl is fresh human data, the rest synthetic."""

    alpha: float = 0.1
    budget: int | None = None
    """Train on at most this many of the kept rows, drawn uniformly (None: every kept row). With a budget every
    arm that keeps enough rows trains on as much data, so a filter changes what the learner sees, not how much."""

    def __post_init__(self) -> None:
        if not 0.0 < self.alpha < 1.0:
            raise ValueError(f"the fixed schedule needs 0 < alpha < 1, got {self.alpha}")
        if self.budget is not None and self.budget < 1:
            raise ValueError(f"the fixed schedule's budget must be at least 1, got {self.budget}")

    def human_per_generation(self) -> int:
        """round(alpha * C), at least one."""
        return max(1, round(self.alpha * self.crawl_rows))

    def crawl(self, pool: Rows, synthetic: np.ndarray, human: np.ndarray) -> Rows:
        """Fresh human rows then synthetic rows."""
        return Rows.concat(Rows.of(human, synthetic=False, new=True), Rows.of(synthetic, synthetic=True, new=True))

    def training(self, pool: Rows, rng: np.random.Generator, keys: np.ndarray | None = None) -> Rows:
        """The kept rows, or ``budget`` of them."""
        return pool if self.budget is None else draw_budget(pool, self.budget, rng, keys)


@dataclass(frozen=True)
class Accumulate(Schedule):
    """Everything kept so far stays; each generation adds N synthetic rows."""

    def carries_pool(self) -> bool:
        """The corpus only grows."""
        return True

    def crawl(self, pool: Rows, synthetic: np.ndarray, human: np.ndarray) -> Rows:
        """Earlier kept rows first (so a dedup keeps them), then the new synthetic rows."""
        return Rows.concat(pool.as_old(), Rows.of(synthetic, synthetic=True, new=True))


@dataclass(frozen=True)
class Subsample(Accumulate):
    """Accumulate, but each model trains on a uniform subsample of ``budget`` rows of the growing corpus."""

    budget: int = 0

    def training(self, pool: Rows, rng: np.random.Generator, keys: np.ndarray | None = None) -> Rows:
        """``budget`` rows without replacement (all of them while the corpus is smaller)."""
        return draw_budget(pool, self.budget or self.samples, rng, keys)


SCHEDULES = {"replace": Replace, "fixed": Fixed, "accumulate": Accumulate, "subsample": Subsample}


def build(name: str, samples: int, alpha: float, budget: int | None, crawl_rows: int | None = None) -> Schedule:
    """The schedule called ``name``; ``crawl_rows`` defaults to ``samples``."""
    if name not in SCHEDULES:
        raise ValueError(f"unknown schedule {name!r}; valid schedules: {', '.join(SCHEDULES)}")
    crawl = crawl_rows or samples
    if name == "fixed":
        return Fixed(samples, crawl, alpha, budget)
    if name == "subsample":
        return Subsample(samples, crawl, budget or samples)
    return SCHEDULES[name](samples, crawl)
