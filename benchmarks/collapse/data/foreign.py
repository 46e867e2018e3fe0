"""Synthetic text from models other than the learner, for crawls that look like the web's.

A real crawl's synthetic text does not all come from the model being trained: other vendors' models and older
models write it too. ``shared``: the machine texts of the shared labelled sets (five open base models and four
chat models); ``unseen``: the machine texts of the base-model and ImBD files (five base models; gpt-4o,
gpt-3.5-turbo, Llama-3-8B, Mistral-7B, Qwen2-7B, Deepseek-7b generating, polishing, rewriting and expanding) of the
articles the shipped classifier was not trained on, so that its catch rate on them is not a training score;
``smollm2``: continuations of human training prefixes by the bundled SmolLM2 (generated once and
cached, since a 2-core CPU writes about one document a second); ``older``: samples of the learner's own earlier
generations (drawn by the loop from the lineage's history, not here).
"""
from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

log = logging.getLogger(__name__)
SHARED_FILES = ("detect/open_models.parquet", "detect/chat_models.parquet")


def shared_pool(data_dir: Path, doc_words: int, held_out: np.ndarray) -> np.ndarray:
    """Machine texts of the shared labelled files, whitespace-collapsed and cut to ``doc_words`` words, less those
    that open like a held-out document: they continue the opening of a human twin, and a test article's opening
    in the crawl would leak it into training."""
    openings = {_opening(str(d)) for d in held_out}
    texts: list[str] = []
    for rel in SHARED_FILES:
        path = data_dir / rel
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing (see the shared data README)")
        t = pq.read_table(path, columns=["text", "label"]).to_pylist()
        texts += [" ".join(r["text"].split()[:doc_words]) for r in t if r["label"] == "machine" and r["text"]
                  and _opening(r["text"]) not in openings]
    order = np.random.default_rng(0xF0E1).permutation(len(texts))
    return np.array([texts[i] for i in order if texts[i].strip()], dtype=object)


def unseen_pool(data_dir: Path, doc_words: int, held_out: np.ndarray) -> np.ndarray:
    """``unseen_by_ship`` texts cut to ``doc_words`` words, less those that open like a held-out document."""
    from benchmarks.transfer.protocol_data import unseen_by_ship

    openings = {_opening(str(d)) for d in held_out}
    texts = [" ".join(t.split()[:doc_words]) for t in unseen_by_ship(data_dir) if t.strip()]
    texts = [t for t in texts if _opening(t) not in openings]
    order = np.random.default_rng(0xF0E2).permutation(len(texts))
    return np.array([texts[i] for i in order], dtype=object)


def smollm2_pool(human_train: np.ndarray, size: int, doc_words: int, cache: Path) -> np.ndarray:
    """``size`` SmolLM2 continuations of the openings of human training documents, cached by their inputs."""
    from detectors.classifier.generate import GenerationConfig, generate_continuations

    cfg = GenerationConfig(prompt_words=16, max_new_tokens=max(32, int(doc_words * 1.4)), seed=0)
    prompts = [str(d) for d in human_train[np.random.default_rng(0x5E0).permutation(len(human_train))[:size]]]
    key = hashlib.sha256(json.dumps([prompts, cfg.__dict__, doc_words]).encode()).hexdigest()[:16]
    path = cache / f"smollm2-{key}.parquet"
    if path.is_file():
        return np.array(pq.read_table(path)["text"].to_pylist(), dtype=object)
    log.info("writing %d SmolLM2 documents for the crawls (cached in %s)", len(prompts), path)
    texts = [" ".join(t.split()[:doc_words]) for t in generate_continuations(prompts, cfg)]
    cache.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    pq.write_table(pa.table({"text": texts}), tmp)
    tmp.rename(path)
    return np.array(texts, dtype=object)


def _opening(text: str, words: int = 8) -> str:
    return " ".join(text.lower().split()[:words])


def draw(pool: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` distinct documents of the pool (fewer if it is smaller)."""
    if n <= 0 or not len(pool):
        return np.empty(0, dtype=object)
    return pool[np.sort(rng.choice(len(pool), size=min(n, len(pool)), replace=False))]
