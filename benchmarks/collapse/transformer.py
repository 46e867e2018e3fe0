"""A small GPT-2-shaped transformer trained from scratch each generation, with a byte-level BPE tokenizer
trained once on the human training pool (the ``tokenizers`` library)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from benchmarks.collapse.causal_lm import CausalLMLearner, Codec, TrainSettings
from benchmarks.collapse.learners import Family, Kind

SPECIAL = "<|endoftext|>"


@dataclass
class TransformerFamily(Family):
    """Sized for a few generations on a 2-core CPU: about a million parameters by default."""

    kind: ClassVar[Kind] = "text"
    vocab_size: int = 4096
    layers: int = 2
    width: int = 128
    heads: int = 4
    block: int = 256
    batch_size: int = 16
    epochs: float = 3.0
    lr: float = 1e-3
    device: str = "cpu"
    threads: int = 0
    """torch CPU threads (0: torch's default)."""
    _tokenizer: Any = field(default=None, init=False, repr=False)

    def prepare(self, human_train: np.ndarray) -> None:
        """Train the BPE tokenizer on the human training pool (never on test or synthetic text)."""
        from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(vocab_size=self.vocab_size, special_tokens=[SPECIAL], show_progress=False,
                                      initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
        tok.train_from_iterator((str(d) for d in human_train), trainer=trainer)
        self._tokenizer = tok

    def new(self, seed: int) -> CausalLMLearner:
        """A learner that starts each fit from a fresh random initialisation drawn from ``seed``."""
        if self._tokenizer is None:
            raise RuntimeError("call prepare() with the human training pool first: it trains the tokenizer")
        settings = TrainSettings(self.block, self.batch_size, self.epochs, self.lr, device=self.device,
                                 threads=self.threads)
        return CausalLMLearner(self._load, settings, seed)

    def _load(self) -> tuple[Any, Codec]:
        from transformers import GPT2Config, GPT2LMHeadModel

        tok = self._tokenizer
        special = tok.token_to_id(SPECIAL)
        config = GPT2Config(vocab_size=tok.get_vocab_size(), n_positions=self.block, n_embd=self.width,
                            n_layer=self.layers, n_head=self.heads, bos_token_id=special, eos_token_id=special)
        model = GPT2LMHeadModel(config)
        codec = Codec(encode=lambda docs: [e.ids for e in tok.encode_batch(docs)],
                      decode=lambda rows: tok.decode_batch(rows), bos=special, eos=special, pad=special)
        return model, codec
