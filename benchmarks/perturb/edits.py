"""Realistic near-duplicate edits, each with a strength knob, for building a labelled dedup benchmark.

Every edit takes the text, a strength in [0, 1] and a random generator, and returns the edited text. The
strength is not the Jaccard: the benchmark measures each pair's exact word 5-gram Jaccard afterwards.
"""
from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np

BOILERPLATE = [
    "Share this article on Facebook Twitter WhatsApp Email",
    "Copyright 2024 Media Group Ltd. All rights reserved.",
    "Sign up for our daily newsletter to get the latest headlines delivered to your inbox every morning.",
    "We use cookies to improve your experience on our site. By continuing to browse you agree to our use of cookies.",
    "Home | News | Sport | Business | Culture | Travel | Weather | Contact us",
    "Read more: related stories from around the world",
    "Advertisement",
    "This article was originally published on our partner website and is republished with permission.",
    "Follow us on social media for breaking news and updates.",
    "Image caption: file photo. Image copyright: Getty Images",
]
_OCR = {"m": "rn", "l": "1", "o": "0", "e": "c", "i": "l", "s": "5", "h": "b", "u": "v", "n": "ri", "a": "o"}
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def sentences(text: str) -> list[str]:
    """Split on sentence-ending punctuation followed by whitespace."""
    return [s for s in _SENTENCE.split(text.strip()) if s]


def boilerplate_add(text: str, strength: float, rng: np.random.Generator) -> str:
    """Crawl boilerplate (share lines, copyright, menus, cookie notices) around the article."""
    k = max(1, int(round(strength * 4)))
    picks = rng.choice(len(BOILERPLATE), size=k, replace=False)
    head = [BOILERPLATE[i] for i in picks[: k // 2]]
    tail = [BOILERPLATE[i] for i in picks[k // 2:]]
    return " ".join([*head, text, *tail])


def sentence_drop(text: str, strength: float, rng: np.random.Generator) -> str:
    """Some sentences left out (an excerpt, a paywall cut, a removed paragraph)."""
    parts = sentences(text)
    if len(parts) < 3:
        return text
    k = min(len(parts) - 2, max(1, int(round(strength * len(parts) * 0.4))))
    drop = set(rng.choice(len(parts), size=k, replace=False).tolist())
    return " ".join(p for i, p in enumerate(parts) if i not in drop)


def sentence_reorder(text: str, strength: float, rng: np.random.Generator) -> str:
    """Sentences or paragraphs moved (templates that put the same blocks in another order)."""
    parts = sentences(text)
    if len(parts) < 3:
        return text
    swaps = max(1, int(round(strength * len(parts) * 0.5)))
    for _ in range(swaps):
        i, j = rng.choice(len(parts), size=2, replace=False)
        parts[i], parts[j] = parts[j], parts[i]
    return " ".join(parts)


def _edit_words(text: str, rate: float, rng: np.random.Generator,
                edit: Callable[[str, np.random.Generator], str]) -> str:
    """``edit`` applied to each word drawn with probability ``rate``, in order."""
    words = text.split()
    for i in np.flatnonzero(rng.random(len(words)) < rate):
        words[i] = edit(words[i], rng)
    return " ".join(words)


def _typo(w: str, rng: np.random.Generator) -> str:
    if len(w) < 3:
        return w
    p = int(rng.integers(1, len(w) - 1))
    kind = rng.integers(4)
    if kind == 0:
        return w[:p] + w[p + 1:]
    if kind == 1:
        return w[:p] + w[p] + w[p:]
    if kind == 2:
        return w[: p - 1] + w[p] + w[p - 1] + w[p + 1:]
    return w[:p] + chr(ord("a") + int(rng.integers(26))) + w[p + 1:]


def typos(text: str, strength: float, rng: np.random.Generator) -> str:
    """Keyboard typos: a letter dropped, doubled, swapped with its neighbour or replaced."""
    return _edit_words(text, 0.12 * strength, rng, _typo)


def _ocr(w: str, rng: np.random.Generator) -> str:
    kind = rng.integers(3)
    letters = [k for k, c in enumerate(w) if c.lower() in _OCR]
    if kind == 0 and letters:
        k = letters[int(rng.integers(len(letters)))]
        return w[:k] + _OCR[w[k].lower()] + w[k + 1:]
    if kind == 1 and len(w) > 3:
        k = int(rng.integers(1, len(w) - 1))
        return w[:k] + " " + w[k:]
    if len(w) > 2:
        k = int(rng.integers(len(w)))
        return w[:k] + w[k + 1:]
    return w


def ocr_noise(text: str, strength: float, rng: np.random.Generator) -> str:
    """OCR confusions (m/rn, l/1, o/0), words split by a stray space, characters lost."""
    return _edit_words(text, 0.1 * strength, rng, _ocr)


def rewrap(text: str, strength: float, rng: np.random.Generator) -> str:
    """Line breaks at another width, some words hyphenated across a break (``exam-\\nple``)."""
    width = int(rng.integers(40, 90))
    lines, line = [], ""
    hyphen_rate = 0.5 * strength
    for w in text.split():
        if len(line) + len(w) + 1 > width:
            if len(w) > 6 and rng.random() < hyphen_rate:
                cut = len(w) // 2
                lines.append(f"{line} {w[:cut]}-".strip())
                line = w[cut:]
                continue
            lines.append(line)
            line = w
        else:
            line = f"{line} {w}".strip()
    lines.append(line)
    return "\n".join(lines)


def truncation(text: str, strength: float, rng: np.random.Generator) -> str:
    """The end cut off (a snippet, a teaser, a truncated crawl)."""
    words = text.split()
    keep = max(5, int(round(len(words) * (1 - 0.5 * strength))))
    return " ".join(words[:keep])


def boilerplate_remove(text: str, strength: float, rng: np.random.Generator) -> str:
    """The reverse of ``boilerplate_add``: the benchmark gives the boilerplate to the original instead."""
    return text


EDITS: dict[str, Callable[[str, float, np.random.Generator], str]] = {
    "boilerplate_add": boilerplate_add,
    "boilerplate_remove": boilerplate_remove,
    "sentence_drop": sentence_drop,
    "sentence_reorder": sentence_reorder,
    "typos": typos,
    "ocr_noise": ocr_noise,
    "rewrap": rewrap,
    "truncation": truncation,
}


def crawled_copy(text: str, rng: np.random.Generator) -> str:
    """The issue's anchor case: a share/copyright line added and a few words edited."""
    words = text.split()
    for i in rng.choice(len(words), size=min(3, len(words)), replace=False):
        words[i] = words[i] + "s"
    return " ".join(words) + " Share this article. Copyright 2024 Media Group Ltd. All rights reserved."
