"""The scoring LM as a feature source for the transfer protocol: its statistics and hidden states, one pass.

``LMEncoder`` has the interface ``protocol_data.EmbeddingCache`` expects (``encode``, ``dim``), so the LM's features
are cached by text hash and resumed like the MiniLM embeddings. The settings are the ``ngram_lm`` head's
(``detectors.classifier.ngram_lm``), fixed in advance, not tuned on the protocol: the default LM
(SmolLM2-135M-Instruct) over each text's first 128 tokens (the MiniLM arms' length; the LM runs ~4 texts/s here at
that length), hidden states of layers 10, 20 and 30 mean-pooled (the layers the stacked head of ``transfer.md`` and
the cascade read).
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa

from detectors.classifier.ngram_lm import LM_PARAMS, STATS, lm_rows
from detectors.lm.detector import LMDetector


class LMEncoder:
    """The default LM's statistics, then its pooled hidden states, as one float32 row per text (NaN where the LM
    abstains: too short or unjudgeable)."""

    def __init__(self, model: str = "default", layers: tuple[int, ...] | None = None, threads: int = 0) -> None:
        params = {**LM_PARAMS, **({"hidden_layers": list(layers)} if layers else {})}
        self.detector = LMDetector(model=model, threads=threads, **params)
        self.detector.setup()
        self.dim = self.encode(["The width of a feature row, read from one short text."]).shape[1]

    def encode(self, texts: list[str]) -> np.ndarray:
        """Feature rows of ``texts``."""
        return lm_rows(self.detector.score(pa.table({"text": texts})))


def split_features(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(statistics, hidden states)`` of cached feature rows."""
    return rows[:, :len(STATS)], rows[:, len(STATS):]
