"""Which texts the classifier can judge: its languages (identified by ``py3langid``) and a minimum length.

A model trained on English n-grams and English LM statistics has nothing to say about German or Japanese text:
its probability there measures the language, not the writer. The detector gives such rows NaN and a reason
(``unsupported_language:<code>``, ``too_short``), so rules abstain and the rows are kept.

``py3langid`` (BSD-3-Clause) ships its model (97 languages, character n-grams, naive Bayes) inside the wheel: it
works offline and downloads nothing. On the shared data (``python -m benchmarks.detect language-id``) it names the
language of every full-length de, fr, es, ja and pt document and of every English one; on the first 60 characters
it is right 93-100% of the time, on the first 30 characters 83-100%.
"""
from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

ANY = "*"
"""In ``languages``: judge text in every language (no language gate)."""
DEFAULT_LANGUAGES = ("en",)
"""The languages of a model whose manifest names none: every model trained before the field existed is English."""
DEFAULT_MIN_CHARS = 40
"""Shorter texts (stripped) get ``too_short``: below this the language itself is a guess (83-100% right at 30
characters on the shared data) and a hashed n-gram head sees a handful of features."""


@lru_cache(maxsize=1)
def _identifier():  # type: ignore[no-untyped-def]
    import py3langid

    return py3langid.classify


def identify(texts: Sequence[str]) -> list[str]:
    """The ISO 639-1 code (``py3langid``'s labels) of each text's most likely language."""
    classify = _identifier()
    return [classify(t)[0] for t in texts]


def unjudged_reasons(texts: Sequence[str], languages: Sequence[str], min_chars: int = DEFAULT_MIN_CHARS,
                     ) -> list[str | None]:
    """Per text, why the classifier cannot judge it (``too_short``, ``unsupported_language:<code>``) or None."""
    reasons: list[str | None] = [None if len(t.strip()) >= min_chars else "too_short" for t in texts]
    if ANY in languages:
        return reasons
    wanted = set(languages)
    rows = [i for i, r in enumerate(reasons) if r is None]
    for i, code in zip(rows, identify([texts[i] for i in rows]), strict=True):
        if code not in wanted:
            reasons[i] = f"unsupported_language:{code}"
    return reasons
