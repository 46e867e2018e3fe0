"""Text normalisation shared by every detector: one place decides what counts as "the same text"."""
from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

# Zero-width and BOM characters are invisible to a reader but change every hash and n-gram.
ZERO_WIDTH = "[\u200b\u200c\u200d\u2060\ufeff\u00ad]"


def normalize_texts(texts: pa.Array | pa.ChunkedArray, *, case: bool = True) -> pa.Array | pa.ChunkedArray:
    """Apply NFKC, strip zero-width characters, fold case and collapse whitespace, vectorised."""
    out = pc.utf8_normalize(texts, form="NFKC")
    out = pc.replace_substring_regex(out, pattern=ZERO_WIDTH, replacement="")
    if case:
        out = pc.utf8_lower(out)
    out = pc.replace_substring_regex(out, pattern=r"\s+", replacement=" ")
    return pc.utf8_trim_whitespace(out)
