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


# Latin look-alikes from Cyrillic and Greek: the homoglyph attack swaps these in to break n-gram and token features.
_HOMOGLYPHS = str.maketrans({
    "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x", "і": "i", "ј": "j", "ѕ": "s", "һ": "h",
    "ԁ": "d", "ԛ": "q", "ԝ": "w", "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P",
    "С": "C", "Т": "T", "Х": "X", "І": "I", "Ј": "J", "Ѕ": "S", "α": "a", "ο": "o", "ν": "v", "ρ": "p", "τ": "t",
    "Α": "A", "Β": "B", "Ε": "E", "Ζ": "Z", "Η": "H", "Ι": "I", "Κ": "K", "Μ": "M", "Ν": "N", "Ο": "O", "Ρ": "P",
    "Τ": "T", "Υ": "Y", "Χ": "X",
})


def defend_texts(texts: pa.Array | pa.ChunkedArray) -> list[str]:
    """NFKC, zero-width stripping and homoglyph folding, keeping case: the cheap defence every scorer shares."""
    out = pc.utf8_normalize(texts, form="NFKC")
    out = pc.replace_substring_regex(out, pattern=ZERO_WIDTH, replacement="")
    ascii_only = pc.fill_null(pc.string_is_ascii(out), True).to_numpy(zero_copy_only=False)
    values = out.to_pylist()
    # Homoglyphs are never ASCII: only the (usually few) other rows need the Python-level fold.
    return [(t or "") if plain else t.translate(_HOMOGLYPHS) for t, plain in zip(values, ascii_only, strict=True)]
