"""Finite hypothesis classes of languages over the integers 0..N-1, the universe the simulation plays on.

A language is a periodic set (residues modulo ``modulus``) plus finitely many extra strings. Periodic parts stand
in for infinite languages: with N far above the horizon, no language runs out of unseen strings within a run.
The extras make intersections finite, which is what makes the uniform generator wait (its closure bound > 1).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations

import numpy as np


@dataclass(frozen=True)
class Language:
    """``{x : x mod modulus in residues} | extras``, cut to the universe."""

    name: str
    modulus: int
    residues: frozenset[int]
    extras: frozenset[int] = frozenset()

    def mask(self, universe: int) -> np.ndarray:
        """Membership of 0..universe-1 as a boolean array."""
        xs = np.arange(universe)
        m = np.isin(xs % self.modulus, sorted(self.residues))
        m[[e for e in self.extras if e < universe]] = True
        return m

    def periodic_mask(self, period: int) -> np.ndarray:
        """The periodic part over one common period (the residues mod ``period``, a multiple of ``modulus``)."""
        return np.isin(np.arange(period) % self.modulus, sorted(self.residues))


@dataclass
class HypothesisClass:
    """A finite, ordered list of languages over 0..universe-1 with their membership masks precomputed."""

    name: str
    languages: list[Language]
    universe: int
    masks: np.ndarray = field(init=False, repr=False)  # (n_languages, universe) bool
    density: np.ndarray = field(init=False, repr=False)  # fraction of the universe each language holds
    subset: np.ndarray = field(init=False, repr=False)  # subset[i, j]: language i is contained in language j

    def __post_init__(self) -> None:
        self.masks = np.stack([lang.mask(self.universe) for lang in self.languages])
        self.density = self.masks.mean(axis=1)
        inside = ~self.masks[:, None, :] | self.masks[None, :, :]
        self.subset = inside.all(axis=2)

    @property
    def names(self) -> list[str]:
        """The languages' names, in class order."""
        return [lang.name for lang in self.languages]

    def index(self, name: str) -> int:
        """The position of the language called ``name``."""
        return self.names.index(name)

    def closure_bound(self) -> int:
        """d*: after this many distinct strings of any target, the consistent languages' intersection is infinite.

        For every subfamily whose periodic parts have an empty common part the intersection is finite; a stream
        with more distinct strings than the largest such intersection cannot have a finite closure (Li, Raman and
        Tewari's Closure dimension argument). Brute force over the 2^n subfamilies, n is small here.
        """
        period = int(np.lcm.reduce([lang.modulus for lang in self.languages]))
        periodic = np.stack([lang.periodic_mask(period) for lang in self.languages])
        largest_finite = 0
        n = len(self.languages)
        for k in range(1, n + 1):
            for family in combinations(range(n), k):
                if not periodic[list(family)].all(axis=0).any():
                    largest_finite = max(largest_finite, int(self.masks[list(family)].all(axis=0).sum()))
        return largest_finite + 1


def four_class(universe: int = 6000) -> HypothesisClass:
    """The size-4 class used for the proper-generation separation (our reconstruction of the paper's Thm 6.3 class).

    A = 2N, B = 3N, D = 6N | 6N+1, U = N (every string). Multiples of 6 lie in all four, so a stream that starts
    with them fits every target; A, B and D are pairwise incomparable, so whatever most-specific hypothesis a
    proper generator commits to, another target in the class makes it wrong. Once one of its invalid strings is
    replayed, the only hypothesis that still contains the whole stream is U, and generating from U is generating
    outside the target forever; without replay the target's own strings eventually rule the wrong ones out.
    """
    return HypothesisClass("four", [
        Language("A=2N", 6, frozenset({0, 2, 4})),
        Language("B=3N", 6, frozenset({0, 3})),
        Language("D=6N|6N+1", 6, frozenset({0, 1})),
        Language("U=N", 1, frozenset({0})),
    ], universe)


def chain_class(universe: int = 6000) -> HypothesisClass:
    """A small nested class (6N < 2N < 2N|3N) plus an incomparable 3N+1: consistent generators converge on it."""
    return HypothesisClass("chain", [
        Language("6N", 6, frozenset({0})),
        Language("2N", 6, frozenset({0, 2, 4})),
        Language("2N|3N", 6, frozenset({0, 2, 3, 4})),
        Language("3N+1", 6, frozenset({1, 4})),
    ], universe)


def random_class(name: str, rng: np.random.Generator, n: int = 5, modulus: int = 12, universe: int = 6000,
                 extras: int = 3, with_union: bool = False) -> HypothesisClass:
    """``n`` random languages: 2..6 residues mod ``modulus`` each, plus up to ``extras`` small extra strings.

    ``with_union`` makes the last language the union of the first two, the kind of superset a replayed string
    can push a learner into.
    """
    langs: list[Language] = []
    while len(langs) < (n - 1 if with_union else n):
        res = frozenset(int(r) for r in rng.choice(modulus, size=int(rng.integers(2, 7)), replace=False))
        if any(lang.residues == res for lang in langs):
            continue  # two equal periodic parts would make the class degenerate
        ext = frozenset(int(e) for e in rng.choice(4 * modulus, size=int(rng.integers(0, extras + 1)), replace=False))
        langs.append(Language(f"L{len(langs)}", modulus, res, ext))
    if with_union:
        a, b = langs[0], langs[1]
        langs.append(Language(f"L{len(langs)}=L0|L1", modulus, a.residues | b.residues, a.extras | b.extras))
    return HypothesisClass(name, langs, universe)
