"""RAID-style adversarial attacks on machine text: each is deterministic given a seed."""
from __future__ import annotations

import random
import re
from collections.abc import Callable

Attack = Callable[[str, random.Random], str]

_TO_HOMOGLYPH = {"a": "а", "e": "е", "o": "о", "p": "р", "c": "с", "y": "у", "x": "х", "i": "і", "s": "ѕ",
                 "A": "А", "E": "Е", "O": "О", "P": "Р", "C": "С", "T": "Т", "H": "Н", "K": "К", "M": "М"}
_MISSPELLINGS = {
    "receive": "recieve", "believe": "beleive", "definitely": "definately", "separate": "seperate",
    "occurred": "occured", "until": "untill", "which": "wich", "government": "goverment", "because": "becuase",
    "their": "thier", "friend": "freind", "beginning": "begining", "environment": "enviroment",
    "necessary": "neccessary", "tomorrow": "tommorow", "really": "realy", "different": "diffrent",
    "probably": "probaly", "business": "buisness", "interest": "intrest", "people": "poeple", "said": "siad",
    "would": "woud", "about": "abuot", "there": "ther", "after": "afer", "other": "othr", "first": "frist",
}
_BRITISH = {"color": "colour", "favorite": "favourite", "center": "centre", "organize": "organise",
            "realize": "realise", "analyze": "analyse", "defense": "defence", "traveled": "travelled",
            "program": "programme", "labor": "labour", "neighbor": "neighbour", "honor": "honour",
            "theater": "theatre", "gray": "grey", "license": "licence", "behavior": "behaviour"}
_SYNONYMS = {
    "big": "large", "small": "little", "said": "stated", "good": "fine", "bad": "poor", "new": "fresh",
    "important": "significant", "help": "assist", "show": "display", "make": "create", "use": "employ",
    "get": "obtain", "many": "numerous", "start": "begin", "end": "finish", "fast": "quick", "hard": "difficult",
    "people": "individuals", "change": "alter", "find": "discover", "think": "believe", "also": "additionally",
    "very": "extremely", "but": "however", "buy": "purchase", "need": "require", "try": "attempt",
    "old": "aged", "often": "frequently", "place": "location", "job": "occupation", "happy": "glad",
}
_WORD = re.compile(r"\b\w+\b")


def _per_word(table: dict[str, str], rate: float) -> Attack:
    def attack(text: str, rng: random.Random) -> str:
        def swap(m: re.Match) -> str:
            w = m.group(0)
            new = table.get(w.lower())
            if new is None or rng.random() >= rate:
                return w
            return new.capitalize() if w[0].isupper() else new
        return _WORD.sub(swap, text)
    return attack


def homoglyph(text: str, rng: random.Random, rate: float = 0.5) -> str:
    """Swap Latin letters for Cyrillic look-alikes."""
    return "".join(_TO_HOMOGLYPH[c] if c in _TO_HOMOGLYPH and rng.random() < rate else c for c in text)


def zero_width(text: str, rng: random.Random, rate: float = 0.2) -> str:
    """Insert zero-width spaces between characters."""
    return "".join(c + ("\u200b" if rng.random() < rate else "") for c in text)


def whitespace(text: str, rng: random.Random, rate: float = 0.2) -> str:
    """Double some spaces."""
    return "".join(c + (" " if c == " " and rng.random() < rate else "") for c in text)


def upper_lower(text: str, rng: random.Random, rate: float = 0.05) -> str:
    """Swap the case of some letters."""
    return "".join(c.swapcase() if c.isalpha() and rng.random() < rate else c for c in text)


def article_deletion(text: str, rng: random.Random, rate: float = 0.5) -> str:
    """Drop some of 'a', 'an', 'the'."""
    out = re.sub(r"\b(?:a|an|the|A|An|The) ", lambda m: "" if rng.random() < rate else m.group(0), text)
    return out


def number_swap(text: str, rng: random.Random, rate: float = 0.5) -> str:
    """Replace some digits with other digits."""
    return "".join(str(rng.randrange(10)) if c.isdigit() and rng.random() < rate else c for c in text)


def paragraph_insertion(text: str, rng: random.Random, rate: float = 0.3) -> str:
    """Break the text into paragraphs at some sentence ends (at least one, where there is one)."""
    ends = [m.end() - 1 for m in re.finditer(r"[.!?] ", text)]
    chosen = set(rng.sample(ends, max(1, round(rate * len(ends))))) if ends else set()
    return "".join("\n\n" if i in chosen else c for i, c in enumerate(text))


ATTACKS: dict[str, Attack] = {
    "homoglyph": homoglyph,
    "zero_width": zero_width,
    "whitespace": whitespace,
    "upper_lower": upper_lower,
    "misspelling": _per_word(_MISSPELLINGS, 1.0),
    "article_deletion": article_deletion,
    "number_swap": number_swap,
    "alternative_spelling": _per_word(_BRITISH, 1.0),
    "paragraph_insertion": paragraph_insertion,
    "synonym": _per_word(_SYNONYMS, 0.7),
}
CHARACTER_LEVEL = ("homoglyph", "zero_width", "whitespace", "upper_lower")
ALL_ATTACKS = (*ATTACKS, "paraphrase")


def attack_texts(name: str, texts: list[str], seed: int = 0, paraphrase_model: str = "default") -> list[str]:
    """Apply one attack to every text; the same name, texts and seed always give the same output."""
    if name == "paraphrase":
        return paraphrase(texts, paraphrase_model, seed)
    if name not in ATTACKS:
        raise ValueError(f"unknown attack {name!r}; valid attacks: {', '.join(ALL_ATTACKS)}")
    return [ATTACKS[name](t, random.Random(f"{seed}:{name}:{i}")) for i, t in enumerate(texts)]


def paraphrase(texts: list[str], model: str = "default", seed: int = 0, max_new_tokens: int = 200,
               batch_size: int = 16) -> list[str]:
    """Ask a local instruction-tuned causal LM to paraphrase each text (greedy, so deterministic)."""
    import torch

    from detectors.lm.models import load_causal_lm, resolve_model

    lm, tokenizer = load_causal_lm(resolve_model(model))
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    torch.manual_seed(seed)
    prompts = []
    for text in texts:
        messages = [{"role": "user", "content": f"Paraphrase this text, keeping its meaning:\n\n{text}"}]
        if getattr(tokenizer, "chat_template", None):
            prompts.append(tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))
        else:
            prompts.append(f"Paraphrase this text, keeping its meaning:\n\n{text}\n\nParaphrase:")
    out = list(texts)
    # Batches of similar length waste little on padding; generating a batch at once is what makes this affordable.
    order = sorted(range(len(texts)), key=lambda i: len(prompts[i]))
    for start in range(0, len(order), batch_size):
        chunk = order[start:start + batch_size]
        enc = tokenizer([prompts[i] for i in chunk], return_tensors="pt", padding=True)
        with torch.inference_mode():
            ids = lm.generate(**enc, do_sample=False, max_new_tokens=max_new_tokens,
                              pad_token_id=tokenizer.pad_token_id)
        for i, row in zip(chunk, ids[:, enc["input_ids"].shape[1]:], strict=True):
            out[i] = tokenizer.decode(row, skip_special_tokens=True).strip() or texts[i]
    return out
