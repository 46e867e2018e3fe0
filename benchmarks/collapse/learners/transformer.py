"""A small GPT-2-shaped transformer trained each generation, with a byte-level BPE tokenizer trained once on the
human training pool (the ``tokenizers`` library).

About a million parameters by default; ``width`` 256, ``layers`` 4, ``heads`` 4, ``block`` 128, ``vocab_size``
4096 make about 4M (train it longer with ``steps`` and ``schedule: cosine``). Each generation starts from a
random initialisation, or with ``pretrain_steps`` from weights pretrained once on the human pool (cached on disk,
keyed by everything that determines them), as a pretrained LM is fine-tuned in Shumailov et al."""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from benchmarks.collapse.learners.base import Kind
from benchmarks.collapse.learners.causal_lm import CausalLMFamily, CausalLMLearner, Codec
from filterkit.io.storage import write_file

log = logging.getLogger(__name__)

SPECIAL = "<|endoftext|>"


@dataclass
class TransformerFamily(CausalLMFamily):
    """Sized for a few generations on a 2-core CPU: about a million parameters by default. Training, decoding
    and warm-start parameters are those of ``CausalLMFamily``."""

    kind: ClassVar[Kind] = "text"
    vocab_size: int = 4096
    layers: int = 2
    width: int = 128
    heads: int = 4
    pretrain_steps: int = 0
    """Optimizer steps of pretraining on the whole human pool before generation 0 (0: start from scratch)."""
    pretrain_batch_size: int = 32
    pretrain_lr: float = 2e-3
    pretrain_seed: int = 0
    """Seed of the pretraining's initialisation and batch order: every seed of a run starts from this one
    pretraining, so a run's intervals over seeds are conditional on it; runs that differ only here measure its
    spread (``python -m benchmarks.collapse pretraining``)."""
    pretrain_cache: str = "~/.cache/filterkit/collapse"
    """Where pretrained weights are kept between runs (a file per tokenizer, model shape, settings and pool)."""
    _tokenizer: Any = field(default=None, init=False, repr=False)
    _pretrained: dict[str, Any] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        if min(self.pretrain_steps, self.pretrain_batch_size - 1, self.pretrain_seed) < 0 or not self.pretrain_lr > 0:
            raise ValueError("need pretrain_steps >= 0, pretrain_batch_size >= 1, pretrain_seed >= 0 and "
                             "pretrain_lr > 0")

    def prepare(self, human_train: np.ndarray) -> None:
        """Train the BPE tokenizer on the human training pool (never on test or synthetic text), and keep the pool."""
        from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

        super().prepare(human_train)
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=self.vocab_size, special_tokens=[SPECIAL], show_progress=False,
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
        tok.train_from_iterator((str(d) for d in human_train), trainer=trainer)
        self._tokenizer = tok
        self._pretrained = None
        if self.pretrain_steps:
            self._pretrained = self._pretrain(human_train)

    def _pretrain(self, human_train: np.ndarray) -> dict[str, Any]:
        """Weights trained on the pool with ``pretrain_seed`` (cosine schedule), from the cache when it has them."""
        from safetensors.torch import load_file, save

        settings = {"tokenizer": self._tokenizer.to_str(), "shape": [self.vocab_size, self.layers, self.width,
                    self.heads, self.block], "steps": self.pretrain_steps, "batch": self.pretrain_batch_size,
                    "lr": self.pretrain_lr, "warmup": self.warmup, "dtype": self.dtype, "precision": self.precision,
                    "pool": hashlib.sha256("\x00".join(map(str, human_train)).encode()).hexdigest(),
                    "seed": self.pretrain_seed}
        key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:20]
        path = Path(self.pretrain_cache).expanduser() / f"transformer-{key}.safetensors"
        if path.is_file():
            log.info("pretrained weights from %s", path)
            return load_file(str(path))
        log.info("pretraining for %d steps on %d documents (cached at %s)", self.pretrain_steps, len(human_train), path)
        base = self.learner(self._load, self.pretrain_seed)
        base.settings = replace(base.settings, steps=self.pretrain_steps, batch_size=self.pretrain_batch_size,
                                lr=self.pretrain_lr, schedule="cosine")
        base.fit(human_train)
        state = {k: v.detach().contiguous().clone() for k, v in base._model.state_dict().items()}
        write_file(save(state), path)
        return state

    def new(self, seed: int) -> CausalLMLearner:
        """A learner that starts each fit from a fresh random initialisation drawn from ``seed``, or the pretrained
        weights (or, with ``warm_start``, from the weights ``init_from`` copies)."""
        if self._tokenizer is None:
            raise RuntimeError("call prepare() with the human training pool first: it trains the tokenizer")
        return self.learner(self._load, seed)

    def _load(self) -> tuple[Any, Codec]:
        from transformers import GPT2Config, GPT2LMHeadModel

        tok = self._tokenizer
        special = tok.token_to_id(SPECIAL)
        config = GPT2Config(vocab_size=tok.get_vocab_size(), n_positions=self.block, n_embd=self.width,
                            n_layer=self.layers, n_head=self.heads, bos_token_id=special, eos_token_id=special)
        model = GPT2LMHeadModel(config)
        if self._pretrained is not None:
            model.load_state_dict(self._pretrained)
        codec = Codec(encode=lambda docs: [e.ids for e in tok.encode_batch(docs)],
                      decode=lambda rows: tok.decode_batch(rows), bos=special, eos=special, pad=special)
        return model, codec
