"""Tiny random causal LMs (llama or gpt2) with a byte-level BPE tokenizer trained on a few sentences (no download)."""
from __future__ import annotations

from pathlib import Path

CORPUS = [
    "The council approved the new library after a long campaign by residents.",
    "Construction will begin in the autumn, and a traffic plan will be published first.",
    "She walked to the lighthouse every morning and found a message in a bottle.",
    "def add(a, b):\n    return a + b\n",
    "Prices rose by 3.5% in March, the statistics office said on Tuesday.",
]


def tiny_tokenizer(bos: bool = False):
    """A 400-token byte-level BPE tokenizer trained on ``CORPUS``, with ``<eos>`` (and with ``bos``, a ``<bos>`` it
    puts before every text, as Gemma's and Llama's do)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["<eos>", "<bos>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(CORPUS * 20, trainer)
    if not bos:
        return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<eos>")
    tok.post_processor = processors.TemplateProcessing(single="<bos> $A", special_tokens=[("<bos>", 1)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<eos>", bos_token="<bos>")


def save_tiny_causal_lm(path: Path, arch: str, seed: int, tokenizer) -> Path:
    """Write a 2-layer ``llama`` (or ``gpt2``) seeded with ``seed``, and ``tokenizer``, to ``path``; return it."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    vocab = len(tokenizer)
    if arch == "llama":
        model = LlamaForCausalLM(LlamaConfig(vocab_size=vocab, hidden_size=32, intermediate_size=64,
                                             num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                             max_position_embeddings=512, tie_word_embeddings=True))
    else:
        model = GPT2LMHeadModel(GPT2Config(vocab_size=vocab, n_embd=32, n_layer=2, n_head=4, n_positions=512))
    with torch.no_grad():  # larger weights than the init, so distributions are far from uniform
        for p in model.parameters():
            p.mul_(4.0)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
