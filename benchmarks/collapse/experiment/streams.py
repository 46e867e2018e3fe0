"""Where every random draw of the loop comes from: a generator keyed by (seed, generation, purpose), so arms of one
seed see the same human data and generation-0 model (common random numbers) and runs repeat exactly. The
floating-point replays (``fp_replay``) draw from the same streams, so they follow the loop's lineages."""
from __future__ import annotations

import numpy as np

STREAMS = {"sample": 1, "human": 2, "arm": 3, "subsample": 4, "metric": 5, "practitioner": 6, "init": 7,
           "foreign": 8, "probe": 9}
"""Purpose to the number that keys its generators; never renumber one, or every committed run changes."""


def rng_for(seed: int, generation: int, stream: str, salt: int = 0) -> np.random.Generator:
    """The generator for one purpose at one seed and generation."""
    return np.random.default_rng([seed, generation, STREAMS[stream], salt])


def learner_seed(seed: int, generation: int) -> int:
    """The seed of the learner trained at one seed and generation (its initialisation, dropout, EM start)."""
    return int(np.random.SeedSequence([seed, generation, STREAMS["init"]]).generate_state(1)[0])
