"""The scoring LM as a feature source for the transfer protocol: its statistics and hidden states, one pass.

``LMEncoder`` has the interface ``protocol_data.EmbeddingCache`` expects (``encode``, ``dim``), so the LM's features
are cached by text hash and resumed like the MiniLM embeddings. The settings are fixed in advance, not tuned on the
protocol: the default LM (SmolLM2-135M-Instruct) over each text's first 128 tokens (the MiniLM arms' length; the
LM runs ~4 texts/s here at that length), hidden states of layers 10, 20 and 30 mean-pooled (the layers the
stacked head of ``transfer.md`` and the cascade read).
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from detectors.lm.detector import LMDetector

STATS = ("loglik", "logrank", "entropy", "fastdetect", "gltr_top1", "gltr_top10", "gltr_top100", "gltr_top1000",
         "tokens_per_char")
"""The LM's per-document statistics, in the order of the first columns of a feature row."""
LAYERS = (10, 20, 30)
MAX_TOKENS = 128


class LMEncoder:
    """The default LM's statistics, then its pooled hidden states, as one float32 row per text (NaN where the LM
    abstains: too short or unjudgeable)."""

    def __init__(self, model: str = "default", layers: tuple[int, ...] = LAYERS, threads: int = 0,
                 max_tokens: int = MAX_TOKENS) -> None:
        self.detector = LMDetector(model=model, max_tokens=max_tokens, hidden_layers=list(layers), threads=threads)
        self.detector.setup()
        self.dim = self.encode(["The width of a feature row, read from one short text."]).shape[1]

    def encode(self, texts: list[str]) -> np.ndarray:
        """Feature rows of ``texts``."""
        t = self.detector.score(pa.table({"text": texts}))
        stats = np.column_stack([t[f"lm.{s}"].to_numpy() for s in STATS])
        hidden = t["lm.hidden"].combine_chunks()
        states = np.asarray(hidden.flatten().to_numpy(zero_copy_only=False), np.float32).reshape(len(texts), -1)
        return np.hstack([stats, states]).astype(np.float32)


def split_features(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(statistics, hidden states)`` of cached feature rows."""
    return rows[:, :len(STATS)], rows[:, len(STATS):]
