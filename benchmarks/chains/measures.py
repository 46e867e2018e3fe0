"""What the chains do: convergence per chain, and similarity, length and diversity per depth."""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyarrow as pa

from benchmarks.collapse.analysis.metrics import distinct_n, self_bleu
from benchmarks.collapse.data.text import words
from detectors.duplicates.shingles import MinHashParams

SIMILARITY = {"w5": MinHashParams(), "w1": MinHashParams(ngram=1)}
"""MinHash Jaccard on word 5-grams (the replay index's own shingling) and on word sets (vocabulary kept)."""


def normalise(text: str) -> str:
    """Whitespace collapsed: two outputs are the same when this is equal."""
    return " ".join(text.split())


def cycle(sequence: list[str]) -> tuple[int | None, int | None]:
    """``(first repeat step, cycle length)``: the first step whose text equals an earlier step's, and how far back
    that step lies (1 = a fixed point); ``(None, None)`` when no text repeats. Step 0 is the start text."""
    seen: dict[str, int] = {}
    for step, text in enumerate(sequence):
        key = normalise(text)
        if key in seen:
            return step, step - seen[key]
        seen[key] = step
    return None, None


def chain_measures(history: list[list[str]]) -> list[dict[str, Any]]:
    """Per chain: distinct outputs (steps 1..N), first repeat step, cycle length and empty outputs."""
    out = []
    for c in range(len(history[0])):
        seq = [step[c] for step in history]
        first, length = cycle(seq)
        out.append({"chain": c, "distinct_outputs": len({normalise(t) for t in seq[1:]}), "first_repeat": first,
                    "cycle_length": length, "empty_outputs": sum(not t.strip() for t in seq[1:])})
    return out


def jaccard(a: list[str], b: list[str], params: MinHashParams) -> np.ndarray:
    """Estimated Jaccard of ``a[i]`` and ``b[i]`` from MinHash signatures; NaN where either has no shingle."""
    hasher = params.hasher()
    sa, ca = hasher.sign(pa.array(a, pa.string()))
    sb, cb = hasher.sign(pa.array(b, pa.string()))
    est = (sa == sb).mean(axis=1)
    return np.where((ca > 0) & (cb > 0), est, np.nan)


def _mean(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if finite.size else math.nan


def depth_measures(history: list[list[str]], chains: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per depth, across chains: similarity to the start and to the previous step, words, diversity, convergence."""
    start = history[0]
    start_words = np.array([len(t.split()) for t in start], float)
    rows = []
    for depth, texts in enumerate(history):
        docs = [words(t) for t in texts]
        n_words = np.array([len(t.split()) for t in texts], float)
        row: dict[str, Any] = {"depth": depth}
        for name, params in SIMILARITY.items():
            sim = jaccard(start, texts, params)
            row[f"sim_start_{name}"] = _mean(sim)
            row[f"sim_start_{name}_median"] = float(np.nanmedian(sim)) if np.isfinite(sim).any() else math.nan
            row[f"sim_prev_{name}"] = _mean(jaccard(history[depth - 1], texts, params)) if depth else math.nan
        row["words_mean"] = float(n_words.mean())
        row["words_median"] = float(np.median(n_words))
        row["words_ratio"] = _mean(n_words / np.maximum(start_words, 1.0))
        row["distinct_1"] = distinct_n(docs, 1)
        row["distinct_2"] = distinct_n(docs, 2)
        row["self_bleu"] = self_bleu(docs)
        row["unique_texts"] = len({normalise(t) for t in texts})
        row["converged_share"] = float(np.mean([c["first_repeat"] is not None and c["first_repeat"] <= depth
                                                for c in chains]))
        rows.append(row)
    return rows


def summary(chains: list[dict[str, Any]], steps: int, truncated: list[list[bool]],
            copied: list[list[bool]]) -> dict[str, Any]:
    """Convergence of one temperature's chains: how many repeat within ``steps``, when, and in which cycle."""
    firsts = [c["first_repeat"] for c in chains if c["first_repeat"] is not None]
    lengths = [c["cycle_length"] for c in chains if c["cycle_length"] is not None]
    cells = sum(len(s) for s in truncated) or 1
    return {
        "chains": len(chains),
        "converged": len(firsts),
        "converged_share": len(firsts) / len(chains),
        "first_repeat_median": float(np.median(firsts)) if firsts else None,
        "first_repeat_mean": float(np.mean(firsts)) if firsts else None,
        "fixed_points": sum(x == 1 for x in lengths),
        "cycle_lengths": {str(k): lengths.count(k) for k in sorted(set(lengths))},
        "returned_to_start": sum(c["first_repeat"] is not None and c["first_repeat"] == c["cycle_length"]
                                 for c in chains),
        "distinct_outputs_mean": float(np.mean([c["distinct_outputs"] for c in chains])),
        "distinct_outputs_max": steps,
        "empty_outputs": sum(c["empty_outputs"] for c in chains),
        "truncated_share": sum(map(sum, truncated)) / cells,
        "copied_from_cycle_share": sum(map(sum, copied)) / cells,
    }
