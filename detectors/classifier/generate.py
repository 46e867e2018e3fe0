"""Machine examples for training without labels: a local causal LM continues the opening of trusted human texts."""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GenerationConfig:
    """Decoding settings; match them to the generators you expect in your crawl."""

    model: str = "default"
    prompt_words: int = 30
    max_new_tokens: int = 160
    temperature: float = 0.8
    top_p: float = 0.95
    top_k: int = 0
    repetition_penalty: float = 1.1
    batch_size: int = 8
    seed: int = 0


def generate_continuations(texts: list[str], cfg: GenerationConfig,
                           progress: Callable[[int, int], None] | None = None) -> list[str]:
    """For each text, its first ``prompt_words`` words followed by the model's continuation."""
    import torch

    from detectors.lm.models import load_causal_lm, resolve_model

    model, tokenizer = load_causal_lm(resolve_model(cfg.model))
    tokenizer.padding_side = "left"  # decoder-only models continue from the right edge
    prompts = [" ".join(t.split()[: cfg.prompt_words]) for t in texts]
    out: list[str] = []
    # generate() samples from torch's global generator: seed a fork of it, so the caller's stream is left as it was.
    with torch.random.fork_rng(devices=[] if model.device.type == "cpu" else None):
        torch.manual_seed(cfg.seed)
        for start in range(0, len(prompts), cfg.batch_size):
            out += _continue(model, tokenizer, prompts[start: start + cfg.batch_size], cfg)
            if progress:
                progress(len(out), len(prompts))
    return out


def _continue(model: Any, tokenizer: Any, chunk: list[str], cfg: GenerationConfig) -> list[str]:
    """One batch of prompts, each followed by the model's continuation."""
    import torch

    enc = tokenizer(chunk, return_tensors="pt", padding=True)
    with torch.inference_mode():
        ids = model.generate(**enc, do_sample=cfg.temperature > 0, temperature=cfg.temperature or None,
                             top_p=cfg.top_p, top_k=cfg.top_k or None, repetition_penalty=cfg.repetition_penalty,
                             max_new_tokens=cfg.max_new_tokens, pad_token_id=tokenizer.pad_token_id)
    new = tokenizer.batch_decode(ids[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
    return [f"{p} {n.strip()}" for p, n in zip(chunk, new, strict=True)]
