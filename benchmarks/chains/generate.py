"""Markovian chains: a local causal LM rephrases the previous step's text with a fixed prompt and no history.

Chains of one temperature advance together, one step at a time, in batches (left padding) sorted by prompt length;
each batch's sampling seed derives from (seed, temperature, step, batch), so a rerun, or a resumed run that
regenerates a step, gives the same texts on the same machine.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from benchmarks.chains.config import ChainsConfig
from benchmarks.chains.state import read_table, step_path, write_table
from detectors.lm.models import torch_threads

log = logging.getLogger(__name__)


@dataclass
class Rephraser:
    """The model, its tokenizer and how a text becomes a prompt (the chat template where the tokenizer has one)."""

    model: Any
    tokenizer: Any
    prompt: str
    threads: int = 0
    """Torch threads while generating (0: leave torch's count)."""

    @classmethod
    def load(cls, spec: str, prompt: str, threads: int = 0) -> Rephraser:
        """Resolve and load ``spec`` (``default`` = SmolLM2) through the repo's model loader."""
        import torch

        from detectors.lm.models import load_causal_lm, resolve_model

        model, tokenizer = load_causal_lm(resolve_model(spec), dtype=torch.float32)
        tokenizer.padding_side = "left"  # decoder-only: every prompt must end where generation starts
        return cls(model, tokenizer, prompt, threads)

    @property
    def chat(self) -> bool:
        """Whether prompts go through the tokenizer's chat template."""
        return bool(getattr(self.tokenizer, "chat_template", None))

    def render(self, text: str) -> str:
        """The exact model input for one text."""
        content = self.prompt.replace("{text}", text)
        if self.chat:
            return self.tokenizer.apply_chat_template([{"role": "user", "content": content}], tokenize=False,
                                                      add_generation_prompt=True)
        return content + "\n\n"

    def rephrase(self, texts: list[str], temperature: float, max_new_tokens: int, top_p: float,
                 seed: int) -> tuple[list[str], list[bool]]:
        """One step for a batch: the outputs and whether each hit ``max_new_tokens`` (cut off)."""
        import torch

        enc = self.tokenizer([self.render(t) for t in texts], return_tensors="pt", padding=True,
                             add_special_tokens=not self.chat)
        torch.manual_seed(seed)
        sample = temperature > 0
        kwargs: dict[str, Any] = {"do_sample": sample, "max_new_tokens": max_new_tokens,
                                  "pad_token_id": self.tokenizer.pad_token_id}
        if sample:
            kwargs |= {"temperature": temperature, "top_p": top_p, "top_k": 0}
        else:  # the model's generation_config may carry sampling settings that greedy decoding would warn about
            kwargs |= {"temperature": None, "top_p": None, "top_k": None}
        with torch.inference_mode(), torch_threads(self.threads):
            ids = self.model.generate(**enc, **kwargs)
        new = ids[:, enc["input_ids"].shape[1]:]
        eos = self.tokenizer.eos_token_id
        cut = [bool(len(row) >= max_new_tokens and eos not in row.tolist()) for row in new]
        outs = self.tokenizer.batch_decode(new, skip_special_tokens=True)
        return [clean(o) for o in outs], cut


def clean(text: str) -> str:
    """Strip the output, and a leading "Here is the rephrased text:" line, which is not part of the rephrasing."""
    text = text.strip()
    first, sep, rest = text.partition("\n")
    if sep and first.rstrip().endswith(":") and len(first.split()) <= 12 and rest.strip():
        text = rest.strip()
    return text


def batch_seed(seed: int, temperature: float, step: int, batch: int) -> int:
    """A torch seed per (run seed, temperature, step, batch)."""
    return int(np.random.SeedSequence([seed, round(temperature * 1000), step, batch]).generate_state(1)[0])


def _step_table(texts: list[str], cut: list[bool], copied: list[bool]) -> pa.Table:
    return pa.table({"chain": pa.array(range(len(texts)), pa.int32()), "text": pa.array(texts, pa.string()),
                     "truncated": pa.array(cut, pa.bool_()), "copied": pa.array(copied, pa.bool_())})


def _cycle_successor(history: list[list[str]], chain: int) -> str | None:
    """At temperature 0: the known next text when the chain's last text equals an earlier one exactly."""
    last = history[-1][chain]
    for s in range(len(history) - 1):
        if history[s][chain] == last:
            return history[s + 1][chain]
    return None


def advance(rephraser: Rephraser | Callable[[], Rephraser], history: list[list[str]], temperature: float,
            cfg: ChainsConfig, root: Path) -> Rephraser | Callable[[], Rephraser]:
    """Append the next step of every chain to ``history`` (texts per step, 0 = start), from the state if saved.

    ``rephraser`` may be a factory, so that a step already saved never loads the model; returns what to pass next.
    """
    step = len(history)
    path = step_path(root, temperature, step)
    saved = read_table(path)
    if saved is None:
        if not isinstance(rephraser, Rephraser):
            rephraser = rephraser()
        saved = _generate_step(rephraser, history, temperature, step, cfg)
        write_table(path, saved)
    history.append(saved["text"].to_pylist())
    return rephraser


def _generate_step(rephraser: Rephraser, history: list[list[str]], temperature: float, step: int,
                   cfg: ChainsConfig) -> pa.Table:
    n = len(history[0])
    texts: list[str | None] = [None] * n
    cut, copied = [False] * n, [False] * n
    if temperature == 0 and cfg.reuse_greedy_cycles:
        for c in range(n):
            nxt = _cycle_successor(history, c)
            if nxt is not None:
                texts[c], copied[c] = nxt, True
    todo = [c for c in range(n) if texts[c] is None]
    # Similar lengths share a batch, so little padding; the order is fixed by the texts alone.
    lengths = {c: len(rephraser.tokenizer(history[-1][c])["input_ids"]) for c in todo}
    todo.sort(key=lambda c: (lengths[c], c))
    for b, lo in enumerate(range(0, len(todo), cfg.batch_size)):
        chunk = todo[lo:lo + cfg.batch_size]
        outs, cuts = rephraser.rephrase([history[-1][c] for c in chunk], temperature, cfg.max_new_tokens, cfg.top_p,
                                        batch_seed(cfg.seed, temperature, step, b))
        for c, o, k in zip(chunk, outs, cuts, strict=True):
            texts[c], cut[c] = o, k
    log.info("T=%g step %d: %d generated, %d copied from a greedy cycle", temperature, step, len(todo), n - len(todo))
    return _step_table([t or "" for t in texts], cut, copied)


def load_history(root: Path, starts: list[str], temperature: float, steps: int) -> tuple[list[list[str]], dict]:
    """Saved texts per step and per-step flags (``truncated``, ``copied``) of one temperature."""
    history, flags = [list(starts)], {"truncated": [], "copied": []}
    for step in range(1, steps + 1):
        table = read_table(step_path(root, temperature, step))
        if table is None:
            raise FileNotFoundError(f"step {step} of T={temperature:g} is not in {root}")
        history.append(table["text"].to_pylist())
        for key, values in flags.items():
            values.append(table[key].to_pylist())
    return history, flags
