"""A random 1-layer BERT with a word-level vocabulary, saved as a Hugging Face directory (no download)."""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path


def save_tiny_bert(path: Path, words: Iterable[str]) -> str:
    """Write the model and tokenizer of ``words`` (plus letters) to ``path``; return it as a string."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    path.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words, *"abcdefghijklmnopqrstuvwxyz.,£"]
    (path / "vocab.txt").write_text("\n".join(vocab) + "\n")
    # transformers 5 takes the vocabulary as ``vocab``; ``vocab_file`` is ignored, leaving every word [UNK].
    tokenizer = BertTokenizerFast(vocab=str(path / "vocab.txt"))
    torch.manual_seed(0)
    model = BertModel(BertConfig(vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                 intermediate_size=32, max_position_embeddings=64))
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)
