"""Document length in words and characters: the column length-bucketed thresholds group by."""
from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from filterkit.contract.detector import TEXT, Column, RowDetector


@dataclass
class Length(RowDetector):
    """Words (whitespace-separated) and characters of each text; no default rule."""

    name = "length"
    scores = (Column("words", doc="whitespace-separated words"), Column("chars", doc="characters"))

    def score(self, batch: pa.Table) -> pa.Table:
        """``length.words`` and ``length.chars``."""
        words = pc.list_value_length(pc.utf8_split_whitespace(pc.utf8_trim_whitespace(batch[TEXT])))
        return pa.table({
            "length.words": pc.cast(words, pa.float64()),
            "length.chars": pc.cast(pc.utf8_length(batch[TEXT]), pa.float64()),
        })
