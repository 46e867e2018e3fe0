"""How often the classifier's language gate (``py3langid``) names a text's language, by language and length.

A text the gate places outside the model's languages gets NaN and ``unsupported_language:<code>``: a wrong call
on English costs recall (the text is kept unjudged), a wrong "en" on another language lets the English model judge
it. Measured on the shared human multilingual set (de, fr, es, ja, pt), English human and machine texts, and the
non-English polished texts of ``imbd`` (zh, pt, es), each whole and cut to its first 30, 60, 120 and 250 characters:

    python -m benchmarks.detect language-id -o benchmarks/results/language_id.md
"""
from __future__ import annotations

import argparse
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import pyarrow.parquet as pq

from detectors.classifier.language import identify
from filterkit.testing.shared import shared_data_dir

CUTS = (30, 60, 120, 250, None)


def sets(english_sample: int = 1000) -> dict[str, tuple[str, list[str]]]:
    """``{name: (true language, texts)}`` from the shared data."""
    data = shared_data_dir()
    out: dict[str, tuple[str, list[str]]] = {}
    ml = pq.read_table(data / "human" / "multilingual.parquet", columns=["text", "language"]).to_pylist()
    for lang in sorted({r["language"] for r in ml}):
        out[f"{lang} (UD treebanks, human)"] = (lang, [r["text"] for r in ml if r["language"] == lang])
    out["en (news/wiki/stories, human)"] = ("en", pq.read_table(data / "human" / "news_wiki_stories.parquet",
                                                                 columns=["text"])["text"].to_pylist())
    om = pq.read_table(data / "detect" / "open_models.parquet", columns=["text"])["text"].to_pylist()
    out["en (open_models, human+machine)"] = ("en", om[:: max(1, len(om) // english_sample)][:english_sample])
    im = pq.read_table(data / "detect" / "imbd.parquet", columns=["text", "language"]).to_pylist()
    for lang in sorted({r["language"] for r in im} - {"en"}):
        out[f"{lang} (imbd polish, human+machine)"] = (lang, [r["text"] for r in im if r["language"] == lang])
    return out


def main(argv: Sequence[str]) -> None:
    """Write the accuracy table (and print it)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.detect language-id",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("-o", "--out", type=Path, default=Path("benchmarks/results/language_id.md"))
    args = parser.parse_args(argv)
    head = " | ".join(f"first {c} chars" if c else "whole text" for c in CUTS)
    lines = ["# The classifier's language gate: py3langid on the shared data", "", "```",
             "python -m benchmarks.detect language-id " + " ".join(argv), "```", "",
             __doc__.split("\n\n")[1].replace("\n", " "), "",
             f"| set | texts | {head} | most common calls (whole text) |",
             "| --- | ---: |" + " ---: |" * len(CUTS) + " --- |"]
    seconds, count = 0.0, 0
    for name, (truth, texts) in sets().items():
        cells = []
        for cut in CUTS:
            start = time.perf_counter()
            calls = identify([t[:cut] if cut else t for t in texts])
            seconds, count = seconds + time.perf_counter() - start, count + len(texts)
            cells.append(f"{sum(c == truth for c in calls) / len(texts):.1%}")
        common = ", ".join(f"{c} {n}" for c, n in Counter(calls).most_common(3))
        lines.append(f"| {name} | {len(texts)} | {' | '.join(cells)} | {common} |")
    lines += ["", f"Speed: {count / seconds:,.0f} texts per second on one core (all cuts together).",
              "The imbd zh texts called `en` that were read are mostly English (a human post in English "
              "with a Chinese line, a machine answer written in English): the call is right about the text, "
              "not about its label.", ""]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))
