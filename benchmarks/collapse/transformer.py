"""A small GPT-2-shaped transformer trained from scratch each generation, with a byte-level BPE tokenizer
trained once on the human training pool (the ``tokenizers`` library).

About a million parameters by default; ``width`` 256, ``layers`` 4, ``heads`` 4, ``block`` 128, ``vocab_size``
4096 make about 4M (train it longer with ``steps`` and ``schedule: cosine``)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from benchmarks.collapse.causal_lm import CausalLMFamily, CausalLMLearner, Codec
from benchmarks.collapse.learners import Kind

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
    _tokenizer: Any = field(default=None, init=False, repr=False)

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

    def new(self, seed: int) -> CausalLMLearner:
        """A learner that starts each fit from a fresh random initialisation drawn from ``seed`` (or, with
        ``warm_start``, from the weights ``init_from`` copies)."""
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
        codec = Codec(encode=lambda docs: [e.ids for e in tok.encode_batch(docs)],
                      decode=lambda rows: tok.decode_batch(rows), bos=special, eos=special, pad=special)
        return model, codec
