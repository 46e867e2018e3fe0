"""The transfer set: chat-model pairs, open-model pairs of the same and other articles, and non-English human text.

    python -m benchmarks.transfer data texts -o transfer_texts.parquet     # the distinct texts, to score once
    filterkit score transfer_texts.parquet --detectors lm --rows-per-shard 200 -o transfer_lm   # ~40 min on 2 cores
    python -m benchmarks.transfer data gather transfer_lm -o transfer_scored.parquet   # every row with its scores
    python -m benchmarks.transfer data abstain transfer_scored.parquet -o benchmarks/results/lm_unjudgeable.md

Rows come from ``detect/chat_models.parquet`` (all of it: 300 articles of xsum and writing, four chat models),
``detect/open_models.parquet`` (for each chat article, the pairs of two of the five base models; and 150 squad
articles, two base models each) and ``human/multilingual.parquet`` (up to 80 texts per language). Every row
is whitespace-collapsed (``flat``: in the shared files only machine texts have line breaks) and carries its
``article``: a hash of the first 12 normalised words of its pair's human text (``benchmarks.articles.twin_articles``;
a chat model need not repeat the opening it wrote on from), so splits by article keep twins and re-cut copies
together.
A chat article's human text appears under all four chat models in the shared file; one copy per article is
kept. ``tid`` (a hash of the text) lets each distinct text be scored once.
"""
from __future__ import annotations

import argparse
import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from benchmarks.articles import twin_articles
from benchmarks.scored import read_scored
from detectors.classifier.train import opening_groups
from filterkit.testing.shared import shared_data_dir

COLUMNS = ("text", "label", "generator", "domain", "family", "article", "source", "language")
OPEN_PER_ARTICLE = 2
SQUAD_ARTICLES = 150
PER_LANGUAGE = 80


def text_id(texts: list[str]) -> pa.Array:
    """A stable id per distinct text."""
    return pa.array([hashlib.blake2b(t.encode(), digest_size=8).hexdigest() for t in texts], pa.string())


def input_note(path: Path) -> str:
    """A result's line naming the scored transfer set it read (rows, hash, the commands that build it), since that
    file is a work file outside the repository."""
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return (f"Input: `{path}` ({pq.ParquetFile(path).metadata.num_rows:,} rows, sha256 `{digest[:16]}`), the scored "
            "transfer set that `data texts`, `filterkit score --detectors lm --param 'lm.hidden_layers=[10, 20, 30]'` "
            "and `data gather` build (the README's \"Transfer to unseen generators and domains\").")


def flat(texts: list[str]) -> list[str]:
    """Whitespace collapsed to single spaces: no human text of the shared files has a line break, and about 90%
    of their machine texts do, so any feature that sees layout (an n-gram, the LM's newline tokens) would separate
    them by it, which no crawl allows."""
    return [" ".join(t.split()) for t in texts]


def _with_article(table: pa.Table, source: str) -> pa.Table:
    texts = flat(table["text"].to_pylist())
    kind = "chat" if source == "chat" else "base"
    family = ["human" if g == "human" else kind for g in table["generator"].to_pylist()]
    return pa.table({
        "text": texts, "label": table["label"], "generator": table["generator"], "domain": table["domain"],
        "family": pa.array(family),
        "article": pa.array(twin_articles(texts, table["label"].to_pylist(), table["pair_id"].to_pylist())),
        "source": pa.array([source] * len(texts)), "language": pa.array(["en"] * len(texts)),
    })


def _pick(seed_key: np.ndarray, generators: list[str], k: int) -> dict[int, set[str]]:
    """``k`` of the base models for each article, chosen by the article's hash (deterministic, spread evenly)."""
    return {int(a): {generators[(int(a) // 7 + j) % len(generators)] for j in range(k)} for a in seed_key}


def transfer_set() -> pa.Table:
    """Every row of the benchmark, with the columns in ``COLUMNS``."""
    data = shared_data_dir()
    chat = _with_article(pq.read_table(data / "detect" / "chat_models.parquet"), "chat")
    # Each chat article's human text appears under all four chat models, cut at slightly different lengths: one
    # copy per article is enough to judge every generator against, and saves scoring the others.
    seen: set[int] = set()
    first = [g != "human" or not (a in seen or seen.add(a)) for a, g in
             zip(chat["article"].to_pylist(), chat["generator"].to_pylist(), strict=True)]
    chat = chat.filter(pa.array(first))
    base = _with_article(pq.read_table(data / "detect" / "open_models.parquet"), "open")
    pair = pq.read_table(data / "detect" / "open_models.parquet")["pair_id"].to_pylist()
    base_gen = [p.split("/")[1] for p in pair]  # a pair's generator, on its human row too
    generators = sorted(set(base_gen))
    # Both rows of a pair carry the human row's article, so the pair's rows stay together.
    chat_articles = set(chat["article"].to_pylist())
    squad = sorted({a for a, d in zip(base["article"].to_pylist(), base["domain"].to_pylist(), strict=True)
                    if d == "squad"})[:SQUAD_ARTICLES]
    wanted = chat_articles | set(squad)
    picks = _pick(np.array(sorted(wanted), dtype=np.uint64), generators, OPEN_PER_ARTICLE)
    keep = [a in wanted and g in picks[a] for a, g in zip(base["article"].to_pylist(), base_gen, strict=True)]
    base = base.filter(pa.array(keep))
    multi = pq.read_table(data / "human" / "multilingual.parquet")
    rows = []
    for lang in sorted(set(multi["language"].to_pylist())):
        part = multi.filter(pc.equal(multi["language"], lang)).slice(0, PER_LANGUAGE)
        rows += [(t, lang) for t in part["text"].to_pylist()]
    texts = flat([t for t, _ in rows])
    multi = pa.table({
        "text": texts, "label": ["human"] * len(rows), "generator": ["human"] * len(rows),
        "domain": ["multilingual"] * len(rows), "family": ["human"] * len(rows),
        "article": pa.array(opening_groups(texts, 12)), "source": ["multilingual"] * len(rows),
        "language": [lang for _, lang in rows],
    })
    table = pa.concat_tables([chat, base, multi.cast(chat.schema)])
    return table.append_column("tid", text_id(table["text"].to_pylist()))


def abstain_report(table: pa.Table, args: str) -> str:
    """Markdown: how many rows of each kind the LM left unjudged (``lm.reason``) and their tokens per character."""
    lines = ["# Where the LM detector abstains on the transfer set", "", "```",
             f"python -m benchmarks.transfer data {args}", "```", "",
             "| rows | count | unjudgeable | too_short | tokens per character: median, 99th, 99.9th percentile |",
             "|---|---:|---:|---:|---|"]
    source, label = table["source"].to_pylist(), table["label"].to_pylist()
    reason = table["lm.reason"].to_pylist()
    ratio = table["lm.tokens_per_char"].to_numpy(zero_copy_only=False)
    groups = {"English human": [s != "multilingual" and lab == "human" for s, lab in zip(source, label, strict=True)],
              "English machine": [lab == "machine" for lab in label],
              "non-English human": [s == "multilingual" for s in source]}
    for name, mask in groups.items():
        idx = np.flatnonzero(mask)
        share = {r: sum(reason[i] == r for i in idx) / len(idx) for r in ("unjudgeable", "too_short")}
        q = np.nanpercentile(ratio[idx], [50, 99, 99.9])
        lines.append(f"| {name} | {len(idx)} | {share['unjudgeable']:.2%} | {share['too_short']:.2%} | "
                     f"{q[0]:.3f}, {q[1]:.3f}, {q[2]:.3f} |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str]) -> None:
    """``texts``: write the distinct texts to score; ``gather``: join scores from a ``filterkit score`` output."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.transfer data", description=__doc__.split("\n")[0])
    parser.add_argument("step", choices=["texts", "gather", "abstain"])
    parser.add_argument("scored", nargs="?", type=Path, help="gather: the filterkit score output directory")
    parser.add_argument("-o", "--out", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.step == "abstain":
        args.out.write_text(abstain_report(pq.read_table(args.scored), " ".join(argv)), encoding="utf-8")
        return
    table = transfer_set()
    if args.step == "texts":
        _, first = np.unique(np.array(table["tid"].to_pylist()), return_index=True)
        pq.write_table(table.take(pa.array(np.sort(first))).select(["tid", "text"]), args.out)
        return
    scored = read_scored(args.scored)
    score_cols = [c for c in scored.column_names if c.startswith("lm.")]
    index = {t: i for i, t in enumerate(scored["tid"].to_pylist())}
    missing = [t for t in table["tid"].to_pylist() if t not in index]
    if missing:
        raise ValueError(f"{len(missing)} texts were not scored, e.g. {missing[:3]}")
    order = pa.array([index[t] for t in table["tid"].to_pylist()])
    for c in score_cols:
        table = table.append_column(c, scored[c].take(order))
    pq.write_table(table, args.out)

