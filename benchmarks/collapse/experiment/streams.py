"""Where every random draw of the loop comes from: a generator keyed by (seed, generation, purpose), so arms of one
seed see the same human data and generation-0 model (common random numbers) and runs repeat exactly. The
floating-point replays (``fp_replay``) draw from the same streams, so they follow the loop's lineages."""
from __future__ import annotations

import numpy as np

STREAMS = {"sample": 1, "human": 2, "arm": 3, "subsample": 4, "metric": 5, "practitioner": 6, "init": 7,
           "foreign": 8, "probe": 9, "common": 10}
"""Purpose to the number that keys its generators; never renumber one, or every committed run changes."""


def rng_for(seed: int, generation: int, stream: str, salt: int = 0) -> np.random.Generator:
    """The generator for one purpose at one seed and generation."""
    return np.random.default_rng([seed, generation, STREAMS[stream], salt])


def common_keys(seed: int, generation: int, size: int, keep: np.ndarray) -> np.ndarray:
    """One uniform key per kept row of a crawl of ``size`` rows, the same for a crawl position in every arm of the
    seed (common random numbers). The k-th copy of a position (the weight arm keeps rows more than once) takes the
    k-th key stream, so copies are drawn independently, not as a block."""
    keep = np.asarray(keep, dtype=np.int64)
    if keep.size == 0:
        return np.empty(0)
    order = np.argsort(keep, kind="stable")
    first = np.r_[True, np.diff(keep[order]) != 0]
    starts = np.flatnonzero(first)
    copy = np.empty(keep.size, dtype=np.int64)
    copy[order] = np.arange(keep.size) - np.repeat(starts, np.diff(np.r_[starts, keep.size]))
    keys = np.empty(keep.size)
    for k in np.unique(copy):
        keys[copy == k] = rng_for(seed, generation, "common", int(k)).random(size)[keep[copy == k]]
    return keys


def learner_seed(seed: int, generation: int) -> int:
    """The seed of the learner trained at one seed and generation (its initialisation, dropout, EM start)."""
    return int(np.random.SeedSequence([seed, generation, STREAMS["init"]]).generate_state(1)[0])
