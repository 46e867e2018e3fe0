"""Traces that character-level attacks leave in a text: a document written to fool detectors is not training data."""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from filterkit.contract.detector import TEXT, Column, RowDetector
from filterkit.contract.normalize import MIXED_CASE_WORDS, WORDS, ZERO_WIDTH
from filterkit.stage.rules import Rule

# MIXED_CASE_WORDS for Python's re, which has no Unicode case classes: capitals are ASCII here.
_MIXED_CASE = re.compile(r"[^\W\d_]*(?:[^\W\d_A-Z][A-Z]|[A-Z]{2}[^\W\d_A-Z])[^\W\d_]*")
# RE2, as in filterkit.contract.normalize: a word is matched whole, so counts are of words.
_MIXED_SCRIPT_WORDS = r"\p{L}*(?:\p{Latin}[\p{Cyrillic}\p{Greek}]|[\p{Cyrillic}\p{Greek}]\p{Latin})\p{L}*"


@dataclass
class Obfuscation(RowDetector):
    """Share of distinct words with a case change inside ("goveRnment"), of words mixing Latin with Cyrillic or
    Greek letters (homoglyphs), and of characters that are invisible (zero-width), read from the text as written.

    Real text has few of each: names such as "McAllister" or "iPhone" (which repeat, hence distinct words), the odd
    soft hyphen. The RAID-style attacks put them in a large share of words. The shared defence repairs most such
    text before the other detectors score it, but not all (a swapped first letter is often undecidable), so the
    traces themselves are a rule.
    """

    name = "obfuscation"
    scores = (Column("mixed_case", doc="share of distinct words with a case change inside"),
              Column("mixed_script", doc="share of words mixing Latin with Cyrillic or Greek letters"),
              Column("invisible", doc="share of invisible (zero-width) characters"))
    raw_text = True
    max_mixed_case: float = 0.06
    max_mixed_script: float = 0.01
    max_invisible: float = 0.01

    def score(self, batch: pa.Table) -> pa.Table:
        """``obfuscation.mixed_case``, ``.mixed_script`` (shares of words) and ``.invisible`` (share of characters)."""
        text = batch[TEXT]
        words = pc.cast(pc.count_substring_regex(text, WORDS), pa.float64())
        chars = pc.cast(pc.utf8_length(text), pa.float64())

        def share(pattern: str, of: pa.ChunkedArray) -> pa.ChunkedArray:
            counts = pc.cast(pc.count_substring_regex(text, pattern), pa.float64())
            return pc.if_else(pc.greater(of, 0), pc.divide(counts, of), 0.0)

        # Names repeat and swapped words do not: count distinct forms, in Python only where there is any.
        mixed = share(MIXED_CASE_WORDS, words).to_numpy(zero_copy_only=False).copy()
        some = np.flatnonzero(mixed > 0)
        n = words.to_numpy(zero_copy_only=False)
        for i, value in zip(some, pc.take(text, pa.array(some)).to_pylist(), strict=True):
            mixed[i] = len(set(_MIXED_CASE.findall(value))) / n[i]
        return pa.table({
            "obfuscation.mixed_case": mixed,
            "obfuscation.mixed_script": share(_MIXED_SCRIPT_WORDS, words),
            "obfuscation.invisible": share(ZERO_WIDTH, chars),
        })

    def default_rules(self) -> list[Rule]:
        """Remove texts whose share of each trace is far above what real text shows."""
        return [Rule(f"{self.name}.mixed_case", ">", self.max_mixed_case, reason="obfuscation_case"),
                Rule(f"{self.name}.mixed_script", ">", self.max_mixed_script, reason="obfuscation_homoglyph"),
                Rule(f"{self.name}.invisible", ">", self.max_invisible, reason="obfuscation_invisible")]
