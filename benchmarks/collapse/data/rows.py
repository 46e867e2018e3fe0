"""The rows of a crawl or a training set, with the hidden labels only the loop sees."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Rows:
    """Items (floats, or documents as an object array) with two hidden labels per row.

    ``synthetic`` says a model made the row; ``new`` says it entered in this generation's crawl (rows carried over
    from earlier generations were already filtered when they came in).
    """

    items: np.ndarray
    synthetic: np.ndarray
    new: np.ndarray

    def __len__(self) -> int:
        return len(self.items)

    @classmethod
    def of(cls, items: np.ndarray, *, synthetic: bool, new: bool) -> Rows:
        """Rows that all share the same labels."""
        n = len(items)
        return cls(items, np.full(n, synthetic), np.full(n, new))

    def take(self, index: np.ndarray) -> Rows:
        """The rows at ``index`` (a boolean mask or positions, repeats allowed)."""
        return Rows(self.items[index], self.synthetic[index], self.new[index])

    def as_old(self) -> Rows:
        """The same rows, marked as carried over."""
        return Rows(self.items, self.synthetic, np.zeros(len(self), dtype=bool))

    @staticmethod
    def concat(*parts: Rows) -> Rows:
        """Rows of every part, in order."""
        return Rows(np.concatenate([p.items for p in parts]), np.concatenate([p.synthetic for p in parts]),
                    np.concatenate([p.new for p in parts]))
