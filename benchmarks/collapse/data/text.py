"""Word tokenisation shared by the n-gram learner and every text metric, so they count the same types."""
from __future__ import annotations

import re

_WORD = re.compile(r"<unk>|\w+(?:['’]\w+)*|[^\w\s]")
_WIKI_JOINERS = ((" @-@ ", "-"), (" @,@ ", ","), (" @.@ ", "."))


def words(text: str) -> list[str]:
    """Lower-cased word and punctuation tokens; WikiText's ``<unk>`` stays one token."""
    return _WORD.findall(text.lower())


def clean_wikitext(article: str) -> str:
    """Drop WikiText heading lines and undo its ``@-@`` style number and hyphen splitting."""
    lines = [ln.strip() for ln in article.split("\n")]
    text = " ".join(ln for ln in lines if ln and not ln.startswith("="))
    for old, new in _WIKI_JOINERS:
        text = text.replace(old, new)
    return text


def windows(text: str, size: int) -> list[str]:
    """Cut a long text into consecutive windows of ``size`` whitespace words (a short tail is dropped)."""
    tokens = text.split()
    out = [" ".join(tokens[i:i + size]) for i in range(0, len(tokens), size)]
    if len(out) > 1 and len(out[-1].split()) < size // 2:
        out.pop()
    return out
