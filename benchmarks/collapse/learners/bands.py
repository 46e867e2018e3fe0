"""Frequency bands of the human pool's types (head, torso, tail) and held-out NLL per band: shared by the word
n-gram (bands of words) and the torch learners (bands of token ids)."""
from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence

BANDS = ("head", "torso", "tail")
BAND_EDGES = (0.5, 0.9)
"""Head: the most frequent types covering the first 50% of the pool's occurrences; torso the next 40%."""


def frequency_bands(counts: Mapping[Hashable, int]) -> dict[Hashable, int]:
    """Band index (0 head, 1 torso, 2 tail) of every counted type, by the occurrences of more frequent types."""
    total = sum(counts.values())
    out: dict[Hashable, int] = {}
    before = 0
    for key, c in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        out[key] = 0 if before < BAND_EDGES[0] * total else 1 if before < BAND_EDGES[1] * total else 2
        before += c
    return out


def band_metrics(nll: Sequence[float], count: Sequence[int]) -> dict[str, float]:
    """``nll_<band>`` (mean NLL of the band's test tokens, NaN if none) and ``band_share_<band>``."""
    total = sum(count)
    out: dict[str, float] = {}
    for i, name in enumerate(BANDS):
        out[f"nll_{name}"] = float(nll[i]) / count[i] if count[i] else math.nan
        out[f"band_share_{name}"] = count[i] / total if total else math.nan
    return out
