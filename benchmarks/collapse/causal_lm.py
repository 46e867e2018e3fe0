"""Training, sampling and scoring a torch causal LM on documents: shared by the from-scratch transformer learner
and the pretrained (``hf``) learner, which differ only in where the model and tokenizer come from."""
from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Codec:
    """How documents become token ids and back, and the special ids the model uses."""

    encode: Callable[[list[str]], list[list[int]]]
    decode: Callable[[list[list[int]]], list[str]]
    bos: int
    eos: int
    pad: int


@dataclass(frozen=True)
class TrainSettings:
    """Optimisation and length settings."""

    block: int = 256
    """Longest sequence, in tokens, for training, scoring and sampling."""
    batch_size: int = 16
    epochs: float = 3.0
    lr: float = 1e-3
    weight_decay: float = 0.01
    device: str = "cpu"
    threads: int = 0
    """CPU threads for torch (0: torch's default); 1 is much faster on a machine other jobs keep busy."""


@dataclass
class CausalLMLearner:
    """A learner around a torch causal LM; ``load`` makes the starting model (random init or pretrained) and is
    called under a torch generator seeded with ``seed``."""

    load: Callable[[], tuple[Any, Codec]]
    settings: TrainSettings
    seed: int
    _model: Any = field(default=None, init=False, repr=False)
    _codec: Codec | None = field(default=None, init=False, repr=False)

    def _sequences(self, docs: list[str]) -> list[list[int]]:
        codec = self._codec
        assert codec is not None
        limit = self.settings.block - 2
        return [[codec.bos] + ids[:limit] + [codec.eos] for ids in codec.encode(docs)]

    def _batch(self, seqs: list[list[int]]) -> tuple[Any, Any, Any]:
        import torch

        width = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), width), self._codec.pad, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for i, s in enumerate(seqs):
            ids[i, :len(s)] = torch.tensor(s)
            mask[i, :len(s)] = 1
        labels = ids.masked_fill(mask == 0, -100)
        dev = self.settings.device
        return ids.to(dev), mask.to(dev), labels.to(dev)

    def fit(self, data: np.ndarray) -> None:
        """Load the starting model and train it for ``epochs`` over the documents (AdamW, shuffled, seeded)."""
        import torch

        # Initialisation and dropout draw from torch's global generator: seed a fork of it, leave the caller's be.
        with self._threads(), torch.random.fork_rng(devices=[] if self.settings.device == "cpu" else None):
            torch.manual_seed(self.seed % 2**63)
            self._fit(data)

    def _fit(self, data: np.ndarray) -> None:
        import torch

        self._model, self._codec = self.load()
        seqs = [s for s in self._sequences([str(d) for d in data]) if len(s) > 2]
        if not seqs:
            raise ValueError("no non-empty documents to train on")
        model, s = self._model, self.settings
        model.to(s.device).train()
        opt = torch.optim.AdamW(model.parameters(), lr=s.lr, weight_decay=s.weight_decay)
        order_rng = np.random.default_rng(self.seed)
        steps = max(1, math.ceil(s.epochs * len(seqs) / s.batch_size))
        order: list[int] = []
        for step in range(steps):
            if len(order) < s.batch_size:
                order += order_rng.permutation(len(seqs)).tolist()
            batch, order = order[:s.batch_size], order[s.batch_size:]
            ids, mask, labels = self._batch([seqs[i] for i in batch])
            loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            if step % 50 == 0 and log.isEnabledFor(logging.DEBUG):
                log.debug("step %d/%d loss %.3f", step, steps, float(loss.detach()))
        model.eval()

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` documents sampled from the start token at temperature 1 (no top-k or top-p truncation)."""
        import torch

        codec, s = self._codec, self.settings
        gen = torch.Generator(device=s.device).manual_seed(int(rng.integers(2**62)))
        out: list[str] = []
        with self._threads():
            for lo in range(0, n, s.batch_size * 4):
                rows = self._sample_batch(min(s.batch_size * 4, n - lo), gen)
                out += [t.strip() for t in codec.decode([r[:r.index(codec.eos)] if codec.eos in r else r
                                                         for r in rows])]
        return np.array(out, dtype=object)

    def _sample_batch(self, b: int, gen: Any) -> list[list[int]]:
        # A plain cached loop: every row starts at the same token, so no padding or mask is needed, and it costs
        # a third of what transformers' generate() does for a model this small.
        import torch

        codec, s = self._codec, self.settings
        ids = torch.full((b, 1), codec.bos, dtype=torch.long, device=s.device)
        done = torch.zeros(b, dtype=torch.bool, device=s.device)
        steps, past = [], None
        with torch.inference_mode():
            for _ in range(s.block - 2):
                o = self._model(input_ids=ids, past_key_values=past, use_cache=True)
                past = o.past_key_values
                ids = torch.multinomial(torch.softmax(o.logits[:, -1].float(), dim=-1), 1, generator=gen)
                steps.append(ids)
                done |= ids[:, 0] == codec.eos
                if bool(done.all()):
                    break
        return torch.cat(steps, dim=1).tolist()

    @contextmanager
    def _threads(self) -> Iterator[None]:
        # torch's thread count is process-wide: set it for this call only, and put the caller's back.
        import torch

        before = torch.get_num_threads()
        if self.settings.threads:
            torch.set_num_threads(self.settings.threads)
        try:
            yield
        finally:
            torch.set_num_threads(before)

    def evaluate(self, human_test: np.ndarray) -> dict[str, float]:
        """Mean negative log-likelihood per token of the test documents (end token included)."""
        import torch

        seqs = self._sequences([str(d) for d in human_test])
        nll, count = 0.0, 0
        with self._threads(), torch.inference_mode():
            for lo in range(0, len(seqs), self.settings.batch_size * 2):
                ids, mask, labels = self._batch(seqs[lo:lo + self.settings.batch_size * 2])
                logits = self._model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
                target = labels[:, 1:]
                logp = torch.log_softmax(logits, dim=-1)
                valid = target != -100
                picked = logp.gather(-1, target.clamp(min=0).unsqueeze(-1)).squeeze(-1)
                nll -= float(picked[valid].sum())
                count += int(valid.sum())
        return {"test_ce": nll / max(count, 1)}
