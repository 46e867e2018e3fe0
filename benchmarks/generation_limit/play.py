"""One game of generation with replay: an adversary enumerates a target, a filter screens, a generator answers.

Each step the adversary may first replay one of the generator's past outputs, then shows the next string of the
target K; the filter decides which of the new stream strings the generator gets to see; the generator then
outputs one string (or abstains). An output is valid when it lies in K and the adversary has not shown it yet.
The generator is never told which strings were replays: only a filter, standing for provenance, can drop them.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from benchmarks.generation_limit.languages import HypothesisClass

ORDERS = ("random", "ambiguous", "adaptive")
REPLAYS = ("none", "all", "fraction", "adversarial")
FILTERS = ("none", "provenance", "detector", "output_index")
GENERATORS = ("km", "proper", "closure")
ABSTAIN, INVALID, VALID = -1, 0, 1


@dataclass(frozen=True)
class Adversary:
    """How the target is enumerated (``order``) and which past outputs are injected (``replay``)."""

    order: str = "ambiguous"
    replay: str = "none"
    fraction: float = 0.3  # replay="fraction": each output is replayed with this probability
    prefix: int = 8  # ambiguous: strings shared with most other languages first; adaptive: steps before committing

    def __post_init__(self) -> None:
        if self.order not in ORDERS or self.replay not in REPLAYS:
            raise ValueError(f"order must be one of {ORDERS} and replay one of {REPLAYS}: {self}")


@dataclass(frozen=True)
class Filter:
    """What screens the stream: provenance drops exactly the replays, a detector drops each with probability tpr."""

    kind: str = "none"
    tpr: float = 1.0  # detector: chance a replayed string is caught
    fpr: float = 0.0  # detector: chance a genuine example is dropped too

    def __post_init__(self) -> None:
        if self.kind not in FILTERS:
            raise ValueError(f"filter must be one of {FILTERS}, got {self.kind!r}")

    def keeps(self, x: int, replayed: bool, own_outputs: set[int], rng: np.random.Generator) -> bool:
        """Whether the generator gets to see stream string ``x``."""
        if self.kind == "provenance":
            return not replayed
        if self.kind == "detector":
            return not (rng.random() < (self.tpr if replayed else self.fpr))
        if self.kind == "output_index":
            # An exact index of everything ever generated: catches every replay, and also the genuine examples
            # that happen to equal an earlier output.
            return x not in own_outputs
        return True


class Generator:
    """The state every generator keeps: what it has seen, and how many seen strings each language misses."""

    def __init__(self, cls: HypothesisClass, rng: np.random.Generator) -> None:
        self.cls, self.rng = cls, rng
        self.seen = np.zeros(cls.universe, dtype=bool)  # the stream it saw plus its own outputs: never repeat
        self.viewed: set[int] = set()
        self.violations = np.zeros(len(cls.languages), dtype=np.int64)
        self.outputs: set[int] = set()
        self.steps = 0

    def observe(self, x: int) -> None:
        """Take one stream string as an example (the generator cannot tell a replay from a real one)."""
        if x not in self.viewed:
            self.viewed.add(x)
            self.violations += ~self.cls.masks[:, x]
        self.seen[x] = True

    def consistent(self, among: np.ndarray | None = None) -> np.ndarray:
        """Indices of the languages missing the fewest seen strings (all that contain the stream, if any do)."""
        idx = np.arange(len(self.cls.languages)) if among is None else among
        v = self.violations[idx]
        return idx[v == v.min()]

    def propose(self) -> tuple[int | None, int | None]:
        """The next output string (None: abstain) and the hypothesis it was drawn from (None: not a class member)."""
        raise NotImplementedError

    def emit(self) -> tuple[int | None, int | None]:
        """``propose``, and remember the output so it is never repeated."""
        self.steps += 1
        z, h = self.propose()
        if z is not None:
            self.seen[z] = True
            self.outputs.add(z)
        return z, h

    def _unseen(self, mask: np.ndarray) -> np.ndarray:
        return np.flatnonzero(mask & ~self.seen)


class KMGenerator(Generator):
    """Kleinberg and Mullainathan's generator: the smallest unseen string of the last critical language.

    At step t it looks at the first t languages; a consistent L_n is critical when it is contained in every
    consistent L_i with i < n. For a finite class this settles on the target's critical chain without replay.
    """

    def propose(self) -> tuple[int | None, int | None]:
        """The smallest unseen string of the highest-indexed critical language."""
        first = np.arange(min(self.steps, len(self.cls.languages)))
        cons = self.consistent(first)
        critical = [n for k, n in enumerate(cons) if all(self.cls.subset[n, i] for i in cons[:k])]
        h = int(critical[-1])
        left = self._unseen(self.cls.masks[h])
        return (int(left[0]) if len(left) else None), h


class ProperGenerator(Generator):
    """A proper generator: commits to one most-specific consistent language and samples its unseen strings.

    It keeps its hypothesis while it stays minimal among the consistent ones (a conservative learner), otherwise
    picks a new minimal one at random; its outputs are drawn from the hypothesis as a model samples its support.
    """

    def __init__(self, cls: HypothesisClass, rng: np.random.Generator) -> None:
        super().__init__(cls, rng)
        self.hypothesis: int | None = None

    def propose(self) -> tuple[int | None, int | None]:
        """A uniform unseen string of the current hypothesis."""
        cons = self.consistent()
        sub = self.cls.subset
        minimal = [int(i) for i in cons if not any(sub[j, i] and not sub[i, j] for j in cons if j != i)]
        if self.hypothesis not in minimal:
            self.hypothesis = int(self.rng.choice(minimal))
        left = self._unseen(self.cls.masks[self.hypothesis])
        return (int(left[self.rng.integers(len(left))]) if len(left) else None), self.hypothesis


class ClosureGenerator(Generator):
    """A uniform-style generator: abstains until d* distinct examples, then samples the consistent languages'
    intersection (which, while the stream holds only target strings, lies inside the target)."""

    def __init__(self, cls: HypothesisClass, rng: np.random.Generator) -> None:
        super().__init__(cls, rng)
        self.bound = cls.closure_bound()

    def propose(self) -> tuple[int | None, int | None]:
        """An unseen string of the closure, or None before d* distinct examples or when the closure is used up."""
        if len(self.viewed) < self.bound:
            return None, None
        closure = self.cls.masks[self.consistent()].all(axis=0)
        left = self._unseen(closure)
        return (int(left[self.rng.integers(len(left))]) if len(left) else None), None


def make_generator(name: str, cls: HypothesisClass, rng: np.random.Generator) -> Generator:
    """The generator called ``name`` (one of GENERATORS)."""
    kinds = {"km": KMGenerator, "proper": ProperGenerator, "closure": ClosureGenerator}
    if name not in kinds:
        raise ValueError(f"generator must be one of {GENERATORS}, got {name!r}")
    return kinds[name](cls, rng)


@dataclass
class Trace:
    """What one game produced: per step the output's verdict and the hypothesis used, and the final target."""

    target: str
    verdict: np.ndarray  # (horizon,) int8: VALID, INVALID or ABSTAIN
    hypothesis_ok: np.ndarray  # (horizon,) bool: the proper hypothesis lies inside target | shown strings
    replays: int
    replays_seen: int  # replays the filter let through
    invalid_replays_seen: int  # of those, strings outside the target: each one poisons the consistent set


def _enumeration(cls: HypothesisClass, k: int, adversary: Adversary, rng: np.random.Generator) -> list[int]:
    """The order in which the target's strings are shown (the adaptive order's tail is built once committed)."""
    members = np.flatnonzero(cls.masks[k])
    members = members[rng.permutation(len(members))]
    if adversary.order == "ambiguous":
        # Strings that most other languages also hold first: they tell the generator the least.
        shared = cls.masks[:, members].sum(axis=0)
        order = np.argsort(-shared, kind="stable")  # stable on a shuffled list: ties stay random
        head, tail = members[order[:adversary.prefix]], members[order[adversary.prefix:]]
        members = np.concatenate([head, tail[rng.permutation(len(tail))]])
    return [int(x) for x in members]


def play(cls: HypothesisClass, target: str, adversary: Adversary, generator: str, filt: Filter, horizon: int,
         rng: np.random.Generator) -> Trace:
    """Play ``horizon`` steps; ``target`` is a language name, or the preferred one for the adaptive adversary."""
    gen = make_generator(generator, cls, rng)
    k = cls.index(target)
    committed = adversary.order != "adaptive"
    if committed:
        stream = iter(_enumeration(cls, k, adversary, rng))
    else:
        # Strings every language holds: whatever the target turns out to be, they are legal examples of it.
        common = np.flatnonzero(cls.masks.all(axis=0))
        if len(common) == 0:
            raise ValueError(f"class {cls.name!r} has no string common to all languages: no adaptive adversary")
        stream = iter(int(x) for x in common[rng.permutation(len(common))])
    shown = np.zeros(cls.universe, dtype=bool)
    outputs: list[int | None] = []
    hyps: list[int | None] = []
    was_shown: list[bool] = []
    replays = replays_seen = 0
    replayed_strings: list[int] = []
    last: int | None = None
    for t in range(horizon):
        new: list[tuple[int, bool]] = []
        if last is not None and _replay(adversary, last, committed, cls.masks[k], rng):
            new.append((last, True))
            replays += 1
        x = next(stream)
        shown[x] = True
        new.append((x, False))
        for s, replayed in new:
            if filt.keeps(s, replayed, gen.outputs, rng):
                gen.observe(s)
                if replayed:
                    replays_seen += 1
                    replayed_strings.append(s)
        z, h = gen.emit()
        outputs.append(z)
        hyps.append(h)
        was_shown.append(bool(z is not None and shown[z]))
        last = z
        if not committed and z is not None:
            # Commit to the first language (preferred target first) that holds every shown string but not z:
            # z is then an invalid output of a legal game, and the replay policy may feed it back.
            order = [k] + [i for i in range(len(cls.languages)) if i != k]
            fits = [i for i in order if not cls.masks[i, z] and cls.masks[i][shown].all()]
            if fits or t + 1 >= adversary.prefix:
                k = fits[0] if fits else k
                committed = True
                rest = np.flatnonzero(cls.masks[k] & ~shown)
                stream = iter(int(s) for s in rest[rng.permutation(len(rest))])
    in_k = cls.masks[k]
    verdict = np.array([ABSTAIN if z is None else (VALID if in_k[z] and not ws else INVALID)
                        for z, ws in zip(outputs, was_shown, strict=True)], dtype=np.int8)
    ok_lang = [bool(cls.subset[h, k]) if h is not None else True for h in hyps]
    return Trace(cls.names[k], verdict, np.array(ok_lang), replays, replays_seen,
                 sum(1 for s in replayed_strings if not in_k[s]))


def _replay(adversary: Adversary, z: int, committed: bool, target_mask: np.ndarray, rng: np.random.Generator) -> bool:
    """Whether the adversary feeds the last output ``z`` back into the stream this step."""
    if adversary.replay == "all":
        return True
    if adversary.replay == "fraction":
        return bool(rng.random() < adversary.fraction)
    if adversary.replay == "adversarial":
        # Only strings outside the target are worth replaying: they are what makes the target look inconsistent.
        return committed and not target_mask[z]
    return False
