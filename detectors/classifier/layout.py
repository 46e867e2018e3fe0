"""Layout normalisation the classifier applies before training and before scoring, in one place.

Line breaks, repeated spaces and encoding damage are labels in disguise in the shared data (no human text of the
base- and chat-model sets has a line break, most machine texts do; XSum's human texts carry mojibake such as
``Â£`` that machine rewrites repair). A model that saw them would learn the layout, not the writing, so both are
removed: encoding repaired by ``ftfy``, every run of whitespace collapsed to one space.
"""
from __future__ import annotations

from collections.abc import Iterable

import ftfy
import pyarrow as pa

from filterkit.contract.normalize import defend_texts


def layout_text(text: str) -> str:
    """One text with its encoding repaired and its whitespace collapsed."""
    return " ".join(ftfy.fix_text(text).split())


def layout_texts(texts: Iterable[str]) -> list[str]:
    """``layout_text`` of each text (what the detector applies to the pipeline's defended text)."""
    return [layout_text(t) for t in texts]


def training_texts(texts: list[str] | pa.Array | pa.ChunkedArray) -> list[str]:
    """What a model is trained on: the pipeline's text defences, then the layout normalisation."""
    column = texts if isinstance(texts, (pa.Array, pa.ChunkedArray)) else pa.array(texts, pa.string())
    return layout_texts(defend_texts(column))
