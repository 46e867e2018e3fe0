"""The shared text defence: the same repairs as the token-list version it replaced, in bounded memory."""
from __future__ import annotations

import random
import tracemalloc
from collections import Counter

import pyarrow as pa

from filterkit.contract import normalize
from filterkit.contract.normalize import defend_texts, repair_case

_VOCABULARY = ("the", "The", "goveRnment", "tHe", "NaSA", "London", "london", "of", "Of", "рassword", "McAllister",
               "McCormack", "iPhone", "URLs", "A320", "#AndInstagram", "@Someone", "x\u200by", "“quoted”", "naïve",
               "I", "i", "a", "A", "cAT", "Cat", "cat", "THe", "dOG", "ÉCOLE", "école", "Straße", "ǅemal", "日本語")
_MARKS = (".", "!", "?", ":", "\n", "(", "“", "‘", '"', ",", ";", "-")


def _document(n_bytes: int, seed: int, swap_rate: float = 0.1) -> str:
    rng = random.Random(seed)
    words, size = [], 0
    while size < n_bytes:
        w = rng.choice(_VOCABULARY)
        if len(w) > 2 and rng.random() < swap_rate:
            j = rng.randrange(len(w))
            w = w[:j] + w[j].swapcase() + w[j + 1:]
        if rng.random() < 0.08:
            w += rng.choice(_MARKS)
        words.append(w)
        size += len(w.encode()) + 1
    return " ".join(words)


def _reference_repair_case(text: str, first_letters: bool = True) -> str:
    """The repair as it was written before #30, holding every token in a list: the outputs must not change."""
    tokens = [(m.start(), m.end(), m.group(0)) for m in normalize._TOKENS.finditer(text)]
    seen = Counter(w for _, _, w in tokens)
    words, opens = [], True
    for start, end, w in tokens:
        if not w[0].isalnum() and w[0] not in "@#":
            opens = True
            continue
        if w.isalpha():
            repaired = w if seen[w] > 1 or normalize._NAME.fullmatch(w) else normalize._repair_word(w)
            words.append((start, end, repaired, opens))
        opens = False
    if first_letters:
        capitalised: Counter = Counter()
        for _, _, w, first in words:
            if not first and (len(w) == 1 or not w.isupper()):
                capitalised[w.lower(), w[0].isupper()] += 1
        repaired_words = []
        for start, end, w, first in words:
            if not first and (len(w) == 1 or not w.isupper()):
                key = w.lower()
                if w[0].isupper() and (capitalised[key, False] > capitalised[key, True]
                                       or key in normalize._function_words() and capitalised[key, True] == 1):
                    w = key
                elif w[0].islower() and capitalised[key, True] > capitalised[key, False]:
                    w = w[0].upper() + w[1:]
            repaired_words.append((start, end, w, first))
        words = repaired_words
    out, last = [], 0
    for start, end, w, _ in words:
        out += [text[last:start], w]
        last = end
    out.append(text[last:])
    return "".join(out)


def test_repair_case_gives_what_the_token_list_version_gave():
    texts = [_document(rng_bytes, seed, rate) for seed, (rng_bytes, rate) in
             enumerate([(60, 0.0), (200, 0.1), (400, 0.5), (2000, 0.3), (50_000, 0.2), (30, 1.0)])]
    texts += ["", "a", ".", "tHe", "The the the. The", "In london, then London and London.", "x" * 10 + "Y"]
    for text in texts:
        for first_letters in (True, False):
            assert repair_case(text, first_letters) == _reference_repair_case(text, first_letters), text[:80]


def test_defence_of_many_rows_unchanged(monkeypatch):
    texts = pa.array([_document(300, seed, 0.3) for seed in range(40)] + [None, "", "plain text", "рassword"])
    defended = defend_texts(texts)
    monkeypatch.setattr(normalize, "repair_case", _reference_repair_case)
    assert defended == defend_texts(texts)
    assert defended[-4:] == ["", "", "plain text", "password"]


def test_defending_a_long_document_takes_a_small_multiple_of_its_size():
    # #30: the token list took ~68 bytes of memory per byte of text (3.4 GB for a 50 MB document).
    text = _document(2_000_000, seed=7, swap_rate=0.3)
    size = len(text.encode())
    texts = pa.array([text, "a Short One"])
    del text
    normalize._function_words()  # its first use imports scikit-learn, which is not the defence's memory
    tracemalloc.start()
    try:
        defended = defend_texts(texts)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(defended[0]) > 0
    assert peak < 10 * size, f"peak {peak / size:.1f} bytes per byte of text"
