"""The transfer protocol's data: the four labelled shared files split by article, and an embedding cache.

Rows carry their source file, domain, generator, generator family, job and language, and an article key: the
opening words of the normalised human text of their pair (the base-model, chat-model and ImBD files share
articles), or the essay's ``pair_id``. ``human/news_wiki_stories`` adds human texts of the same three domains
(keyed the same way, so an article never straddles train and test) and ``human/multilingual`` the non-English
human texts the FPR is checked on.
"""
from __future__ import annotations

import hashlib
import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from detectors.classifier.embed import Encoder, text_key
from detectors.classifier.layout import training_texts
from filterkit.testing.shared import shared_data_dir

log = logging.getLogger("transfer.protocol")
SOURCES = ("open_models", "chat_models", "imbd", "essays")
FAMILIES = {
    "gpt2-xl": "openai", "gpt-3.5-turbo": "openai", "gpt-4": "openai", "gpt-4o": "openai",
    "gpt-3.5-turbo-0613": "openai", "text-davinci-003": "openai",
    "gpt-neo-2.7B": "eleutherai", "gpt-j-6B": "eleutherai", "gpt-neox-20b": "eleutherai",
    "opt-2.7b": "meta", "Llama-3-8B": "meta",
    "claude-3-sonnet-20240229": "anthropic",
    "gemini-1.5-pro": "google", "flan-t5-xxl": "google",
    "Mistral-7B": "mistral", "Qwen2-7B": "alibaba", "Deepseek-7b": "deepseek",
}
"""The 17 generators of the shared files by vendor (the 18th 'generator' is ``human``)."""
OPENING_WORDS = 10
_WORD = re.compile(r"[^\W_]+")


@dataclass
class Rows:
    """Every row as arrays: texts normalised as the classifier sees them."""

    text: list[str]
    y: np.ndarray
    source: np.ndarray
    domain: np.ndarray
    generator: np.ndarray
    family: np.ndarray
    job: np.ndarray
    language: np.ndarray
    article: np.ndarray

    def take(self, idx: np.ndarray) -> Rows:
        """The rows at ``idx``."""
        return Rows(**{k: (v[idx] if isinstance(v, np.ndarray) else [v[i] for i in idx])
                       for k, v in self.__dict__.items()})

    def __len__(self) -> int:
        return len(self.text)


def article_key(text: str) -> str:
    """The first ``OPENING_WORDS`` lower-cased words of a (normalised) human text."""
    return " ".join(_WORD.findall(text.lower())[:OPENING_WORDS])


def _hash(key: str) -> int:
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=7).digest(), "little")


SAMPLED = ("open_models", "imbd")
"""The two large files, of which ``load_rows`` keeps a share of the articles (the encoder runs ~20 texts/s here)."""


def load_rows(shared: Path | None = None, share: float = 0.5) -> tuple[Rows, Rows]:
    """``(labelled rows + extra English humans, non-English human rows)``, texts normalised, articles keyed.

    ``share``: of the base-model and ImBD files, the rows of this share of the articles (chosen by article hash,
    so the same articles every time); the chat-model, essay and extra human files are kept whole.
    """
    shared = Path(shared or shared_data_dir())
    cols: dict[str, list] = {k: [] for k in Rows.__dataclass_fields__}
    for name in SOURCES:
        t = pq.read_table(shared / "detect" / f"{name}.parquet").to_pydict()
        n = len(t["text"])
        texts = training_texts(t["text"])
        human_key: dict[str, str] = {}
        for i in range(n):
            if t["label"][i] == "human":
                human_key[t["pair_id"][i]] = (t["pair_id"][i] if name == "essays"
                                              else article_key(texts[i]))
        for i in range(n):
            article = _hash(human_key[t["pair_id"][i]])
            if name in SAMPLED and (article % 1000) >= share * 1000:
                continue
            cols["text"].append(texts[i])
            cols["y"].append(t["label"][i] == "machine")
            cols["source"].append(name)
            cols["domain"].append("essays" if name == "essays" else t["domain"][i])
            cols["generator"].append(t["generator"][i])
            cols["family"].append(FAMILIES.get(t["generator"][i], "human"))
            cols["job"].append(t["task"][i] if "task" in t else "generation")
            cols["language"].append(t["language"][i] if "language" in t else "en")
            cols["article"].append(article)
    extra = pq.read_table(shared / "human" / "news_wiki_stories.parquet").to_pydict()
    for text, domain in zip(training_texts(extra["text"]), extra["source"], strict=True):
        for k, v in (("text", text), ("y", False), ("source", "news_wiki_stories"), ("domain", domain),
                     ("generator", "human"), ("family", "human"), ("job", "human"), ("language", "en"),
                     ("article", _hash(article_key(text)))):
            cols[k].append(v)
    rows = Rows(**{k: (v if k == "text" else np.asarray(v, dtype=np.uint64 if k == "article" else None))
                   for k, v in cols.items()})
    m = pq.read_table(shared / "human" / "multilingual.parquet").to_pydict()
    n = len(m["text"])
    foreign = Rows(text=training_texts(m["text"]), y=np.zeros(n, bool), source=np.full(n, "multilingual"),
                   domain=np.asarray(m["source"]), generator=np.full(n, "human"), family=np.full(n, "human"),
                   job=np.full(n, "human"), language=np.asarray(m["language"]),
                   article=np.asarray([_hash(f"ml/{i}") for i in m["id"]], dtype=np.uint64))
    return rows, foreign


def article_sample(rows: Rows, share: float) -> np.ndarray:
    """Indices of the rows of ``share`` of the articles, chosen by a hash of the article key that no split uses
    (so the sample cuts across the family and job axes' halves and ``load_rows``'s own share alike)."""
    if share >= 1.0:
        return np.arange(len(rows))
    uniq, inv = np.unique(rows.article, return_inverse=True)
    keep = np.array([_hash(f"sample/{a}") % 1000 < share * 1000 for a in uniq.tolist()])
    return np.flatnonzero(keep[inv])


def unseen_by_ship(shared: Path | None = None, share: float = 0.5) -> list[str]:
    """English machine texts of the sampled files (base models, ImBD) whose articles ``load_rows(share=share)``
    leaves out: text the shipped classifier (trained on ``load_rows()``) never saw, normalised as it sees text."""
    rows, _ = load_rows(shared, share=1.0)
    held = np.isin(rows.source, SAMPLED) & (rows.article % np.uint64(1000) >= share * 1000)
    seen = {t for t, h in zip(rows.text, held, strict=True) if not h}  # a text repeated under another article
    return [t for t, h, y, lang in zip(rows.text, held, rows.y, rows.language, strict=True)
            if h and y and lang == "en" and t not in seen]


class EmbeddingCache:
    """Embeddings of normalised texts on disk, keyed by text hash, written in chunks so a long run resumes."""

    def __init__(self, directory: Path, encoder: Encoder, chunk: int = 512) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.encoder, self.chunk = encoder, chunk
        self.vectors: dict[str, np.ndarray] = {}
        for file in sorted(self.directory.glob("emb_*.npz")):
            with np.load(file) as z:
                self.vectors.update(zip(z["keys"].tolist(), z["vectors"], strict=True))

    def get(self, texts: list[str]) -> np.ndarray:
        """Embeddings of ``texts``, encoding (and saving) the ones not cached yet, with progress in the log."""
        keys = [text_key(t) for t in texts]
        todo = list(dict.fromkeys(k for k in keys if k not in self.vectors))
        if todo:
            by_key = dict(zip(keys, texts, strict=True))
            start, done = time.time(), 0
            log.info("encoding %d texts not in the cache (%d cached)", len(todo), len(self.vectors))
            for c in range(0, len(todo), self.chunk):
                part = todo[c:c + self.chunk]
                vec = self.encoder.encode([by_key[k] for k in part])
                file = self.directory / f"emb_{len(list(self.directory.glob('emb_*.npz'))):05d}.npz"
                tmp = file.with_suffix(".tmp.npz")
                np.savez(tmp, keys=np.asarray(part), vectors=vec)
                os.replace(tmp, file)
                self.vectors.update(zip(part, vec, strict=True))
                done += len(part)
                rate = done / (time.time() - start)
                log.info("encoded %d/%d rows, %.1f rows/s, %.1f min left", done, len(todo), rate,
                         (len(todo) - done) / rate / 60)
        return np.stack([self.vectors[k] for k in keys]) if keys else np.zeros((0, self.encoder.dim), np.float32)
