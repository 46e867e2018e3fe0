"""Text normalisation shared by every detector: one place decides what counts as "the same text"."""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from functools import cache

import numpy as np
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
_HOMOGLYPH_CLASS = "[" + "".join(chr(c) for c in _HOMOGLYPHS) + "]"


# A letter-case change inside a word ("tHe", "goveRnment", "NaSA") is how the upper/lower attack breaks tokens.
# Every such word is repaired. First letters are guessed only in rows where more than REPAIR_SHARE of the words
# change case inside: real text has a few (names, brands: "McAllister", "iPhone") and its capitals are meant.
# Finding the rows is a cheap vectorised test (RE2 syntax; a word is matched whole, so these count words).
WORDS = r"\p{L}+"
_MIXED_CASE = r"\p{Ll}\p{Lu}|\p{Lu}\p{Lu}\p{Ll}"
MIXED_CASE_WORDS = rf"\p{{L}}*(?:{_MIXED_CASE})\p{{L}}*"
REPAIR_SHARE = 0.02
# Words (with digits, "A320", or a handle, "#AndInstagram", left alone) and marks a capital letter may follow.
_TOKENS = re.compile(r"[@#]?[^\W_]+|[.!?:\n\"“‘(]")
_NAME = re.compile(r"(?:Mc|Mac)[A-Z][a-z]+")


@cache
def _function_words() -> frozenset[str]:
    """Words written in lower case mid-sentence unless they begin a title or a name ("I" aside)."""
    # Imported on first use: scikit-learn would triple the start-up time of every process importing this module.
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(ENGLISH_STOP_WORDS - {"i"})


def _repair_word(word: str) -> str:
    tail = word[1:]
    if tail.islower() or word.isupper() or (word[:-1].isupper() and word[-1] == "s"):
        return word  # lower, Title, UPPER or a plural acronym ("URLs"): written that way on purpose
    if word[0].islower():
        return word.lower()  # "tHe", "oF": a lower-case word with letters swapped
    # An upper-case head: an acronym if most of the rest is upper ("NaSA"), else a capitalised word ("THe").
    upper = sum(c.isupper() for c in tail)
    return word.upper() if upper > len(tail) - upper else word[0] + tail.lower()


def repair_case(text: str, first_letters: bool = True) -> str:
    """Undo letter-case swaps: inside a word by its letters, on a first letter by how the text writes it elsewhere."""
    # Two passes over the words that keep counts per distinct form, never a list of every token: a long document
    # costs its repaired copy and a small bounded overhead (#30: a list of tokens took about 68 bytes per byte).
    seen: Counter[str] = Counter()  # mixed-case forms: one written twice ("McCormack ... McCormack") is meant
    deferred: Counter[tuple[str, bool]] = Counter()  # mixed-case forms by whether they open a sentence
    written: tuple[Counter[str], Counter[str]] = (Counter(), Counter())  # mid-sentence words, lower-cased, by case
    for _, _, w, first in _words(text):
        if _repair_word(w) != w:
            seen[w] += 1
            deferred[w, first] += 1
        elif first_letters:
            _count(written, w, first, 1)
    # A mixed-case form written twice or a Mc/Mac name is meant that way; every other one is repaired inside.
    fixed = {w: w if n > 1 or _NAME.fullmatch(w) else _repair_word(w) for w, n in seen.items()}
    if first_letters:
        for (w, first), n in deferred.items():
            _count(written, fixed[w], first, n)
    out = _Splice(text)
    for start, end, w, first in _words(text):
        new = fixed.get(w, w)
        if first_letters:
            new = _first_letter(new, first, written)
        if new != w:
            out.replace(start, end, new)
    return out.result()


def _words(text: str) -> Iterator[tuple[int, int, str, bool]]:
    """Each word's start, end, the word, and whether it opens a sentence (follows a mark, or starts the text)."""
    opens = True
    for m in _TOKENS.finditer(text):
        w = m.group(0)
        if not w[0].isalnum() and w[0] not in "@#":
            opens = True
            continue
        if w.isalpha():
            yield m.start(), m.end(), w, opens
        opens = False


def _judged(w: str, first: bool) -> bool:
    """Whether a word's first letter is judged by the text's other spellings: mid-sentence, and not an acronym."""
    return not first and (len(w) == 1 or not w.isupper())


def _count(written: tuple[Counter[str], Counter[str]], w: str, first: bool, n: int) -> None:
    if _judged(w, first):
        written[w[0].isupper()][w.lower()] += n


def _first_letter(w: str, first: bool, written: tuple[Counter[str], Counter[str]]) -> str:
    """Mid-sentence, "The" among many "the" (or "london" among "London") is a swapped first letter."""
    if not _judged(w, first):
        return w
    lower, upper = written[False][w.lower()], written[True][w.lower()]
    if w[0].isupper() and (lower > upper or w.lower() in _function_words() and upper == 1):
        return w.lower()
    if w[0].islower() and upper > lower:
        return w[0].upper() + w[1:]
    return w


class _Splice:
    """A text with some of its spans replaced, built in pieces joined as they accumulate (a bounded overhead)."""

    _JOIN_EVERY = 4096

    def __init__(self, text: str) -> None:
        self.text, self.last = text, 0
        self.pieces: list[str] = []
        self.chunks: list[str] = []

    def replace(self, start: int, end: int, word: str) -> None:
        self.pieces += [self.text[self.last:start], word]
        self.last = end
        if len(self.pieces) >= self._JOIN_EVERY:
            self.chunks.append("".join(self.pieces))
            self.pieces = []

    def result(self) -> str:
        if not self.pieces and not self.chunks:
            return self.text
        self.chunks.append("".join([*self.pieces, self.text[self.last:]]))
        self.pieces = []
        return "".join(self.chunks) if len(self.chunks) > 1 else self.chunks[0]


def defend_texts(texts: pa.Array | pa.ChunkedArray) -> list[str]:
    """NFKC, zero-width stripping, homoglyph folding and case repair where case swaps abound: the shared defence."""
    out = pc.utf8_normalize(texts, form="NFKC")
    out = pc.replace_substring_regex(out, pattern=ZERO_WIDTH, replacement="")
    homoglyphs = pc.fill_null(pc.match_substring_regex(out, _HOMOGLYPH_CLASS), False).to_numpy(zero_copy_only=False)
    mixed = pc.fill_null(pc.match_substring_regex(out, _MIXED_CASE), False).to_numpy(zero_copy_only=False)
    swapped = np.zeros_like(mixed)
    if mixed.any():  # count words only in the (few) rows with any mixed-case word
        some = np.flatnonzero(mixed)
        rows = pc.take(out, pa.array(some))
        counts = pc.count_substring_regex(rows, MIXED_CASE_WORDS).to_numpy(zero_copy_only=False)
        swapped[some] = counts > REPAIR_SHARE * pc.count_substring_regex(rows, WORDS).to_numpy(zero_copy_only=False)
    values = [t or "" for t in out.to_pylist()]
    del out
    # Rows with a homoglyph or a case swap are found above: only those (usually few) rows need Python. Each row's
    # text is held once while it is repaired (the list lets go of it), so a long text costs about two copies.
    for i in (homoglyphs | mixed).nonzero()[0]:
        text, values[i] = values[i], ""
        if homoglyphs[i]:
            text = text.translate(_HOMOGLYPHS)
        values[i] = repair_case(text, first_letters=swapped[i]) if mixed[i] else text
    return values
