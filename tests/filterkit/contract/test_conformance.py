"""check_detector over every registered detector, each built from small local parts (a tiny LM, a tiny classifier,
a tiny replay index), and the check failing where a detector breaks the contract."""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from filterkit.contract import registry
from filterkit.contract.detector import TEXT, Column, Detector, RowDetector
from filterkit.testing import check_detector

WORDS = ("council library residents autumn traffic plan lighthouse morning bottle message prices march office "
         "tuesday river bridge garden school market harbour").split()
CORPUS = [
    "The council approved the new library after a long campaign by residents.",
    "She walked to the lighthouse every morning and found a message in a bottle.",
    "Prices rose by 3.5% in March, the statistics office said on Tuesday.",
]


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory) -> str:
    """A two-layer llama with a 400-token BPE vocabulary, built from a config (as tests/detectors/lm does)."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(CORPUS * 20, trainers.BpeTrainer(vocab_size=400, special_tokens=["<eos>"],
                                                             initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<eos>")
    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64,
                                         num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                         max_position_embeddings=512, tie_word_embeddings=True))
    path = tmp_path_factory.mktemp("lm") / "llama"
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


@pytest.fixture(scope="module")
def tiny_classifier(tmp_path_factory) -> str:
    """Text and stacked heads trained in seconds on 48 made-up texts (LM columns that carry the label)."""
    from detectors.classifier.train import LM_FEATURES, TrainConfig, train_detector

    rng = np.random.default_rng(0)
    texts, labels = [], []
    for i in range(48):
        machine = i % 2 == 1
        words = " ".join(rng.choice(WORDS, size=14))
        texts.append(f"{'As an AI language model, I note that' if machine else 'Honestly, my neighbour says'} "
                     f"{words} number {i}.")
        labels.append("machine" if machine else "human")
    y = np.array([label == "machine" for label in labels])
    table = pa.table({"text": texts, "label": labels})
    for k, column in enumerate(LM_FEATURES[:4]):
        table = table.append_column(column, pa.array(rng.normal(y * (k + 1), 1.0)))
    model = train_detector(table, TrainConfig(stack="lm", folds=3))
    return str(model.save(tmp_path_factory.mktemp("clf") / "model"))


@pytest.fixture(scope="module")
def tiny_index(tmp_path_factory) -> str:
    """A replay index of two texts, one of them among check_detector's own."""
    from detectors.duplicates.index import build_from_texts
    from filterkit.testing import DEFAULT_TEXTS

    out = tmp_path_factory.mktemp("replay") / "index"
    build_from_texts([DEFAULT_TEXTS[2], CORPUS[2] * 3], ["known-0", "known-1"], out)
    return str(out)


def _variants(name: str, request: pytest.FixtureRequest) -> list[dict]:
    """The parameter sets to check for a registered detector: defaults unless it needs a model or an index, and
    one set that turns on every column a parameter turns on."""
    if name == "lm":
        model = request.getfixturevalue("tiny_lm")
        return [{"model": model},
                {"model": model, "observer": model, "perplexity_cutoffs": [50.0, 500.0], "hidden_layers": [1, -1],
                 "min_tokens": 4}]
    if name == "classifier":
        model_dir = request.getfixturevalue("tiny_classifier")
        lm = {"model": request.getfixturevalue("tiny_lm")}
        variants = [{"model_dir": model_dir, "head": "text"},
                    {"model_dir": model_dir, "head": "cascade", "band": [0.0, 1.0], "lm": lm}]
        return [*variants, {}]  # {}: the default model shipped in the package (detectors/classifier/default)
    if name == "replay":
        return [{"index": request.getfixturevalue("tiny_index")}]
    return [{}]


@pytest.mark.parametrize("name", sorted(registry.available()))
def test_every_registered_detector_passes_check_detector(name, request, tmp_path):
    for i, params in enumerate(_variants(name, request)):
        check_detector(registry.build(name, params), workdir=tmp_path / str(i))


def test_the_second_lm_variant_writes_every_column_the_lm_detector_declares(request):
    det = registry.build("lm", _variants("lm", request)[-1])
    assert det.columns == [f"lm.{c.name}" for c in det.scores]


# Detectors that break the contract, one way each. Module-level, so that a run can rebuild them by module path.


@dataclass
class Undeclared(RowDetector):
    name = "undeclared"
    scores = (Column("chars"),)

    def score(self, batch: pa.Table) -> pa.Table:
        chars = [float(len(t)) for t in batch[TEXT].to_pylist()]
        return pa.table({"undeclared.chars": chars, "undeclared.extra": chars})


@dataclass
class WrongType(RowDetector):
    name = "wrongtype"
    scores = (Column("chars", pa.int64()),)

    def score(self, batch: pa.Table) -> pa.Table:
        return pa.table({"wrongtype.chars": pa.array([float(len(t)) for t in batch[TEXT].to_pylist()], pa.float64())})


@dataclass
class SilentNaN(RowDetector):
    name = "silent"
    scores = (Column("ratio"), Column("reason", pa.string(), reason=True))

    def score(self, batch: pa.Table) -> pa.Table:
        texts = batch[TEXT].to_pylist()
        return pa.table({"silent.ratio": [1.0 / len(t) if t else math.nan for t in texts],
                         "silent.reason": pa.nulls(len(texts), pa.string())})


@dataclass
class Mutating(RowDetector):
    name = "mutating"
    scores = (Column("chars"),)
    seen: int = 0

    def score(self, batch: pa.Table) -> pa.Table:
        self.seen += batch.num_rows  # state belongs in a field ending in _, never in a parameter
        return pa.table({"mutating.chars": [float(len(t)) for t in batch[TEXT].to_pylist()]})


@dataclass
class Rewriting(RowDetector):
    name = "rewriting"
    scores = (Column("chars"),)
    weights: tuple[float, ...] = (1.0,)

    def __post_init__(self) -> None:
        self.weights = [w * 2 for w in self.weights]  # a rewritten parameter: the copy's differs from the original

    def score(self, batch: pa.Table) -> pa.Table:
        return pa.table({"rewriting.chars": [float(len(t)) for t in batch[TEXT].to_pylist()]})


@pytest.mark.parametrize("detector,match", [
    (Undeclared(), r"detector undeclared: score\(\): column 'undeclared.extra' is returned but not declared"),
    (WrongType(), r"detector wrongtype: score\(\): column 'wrongtype.chars' has type double, declared int64"),
    (SilentNaN(), r"detector silent: column 'silent.ratio' is NaN in rows \[\d+\] where 'silent.reason' gives no"),
    (Mutating(), r"detector mutating: scoring changed the parameters \['seen'\]"),
    (Rewriting(), r"detector rewriting: construction rewrites the parameters \['weights'\]"),
], ids=["undeclared-column", "declared-type-differs", "nan-without-reason", "parameter-changed", "rewrite"])
def test_the_check_fails_a_detector_that_breaks_the_contract(detector: Detector, match: str, tmp_path: Path):
    with pytest.raises(AssertionError, match=match):
        check_detector(detector, workdir=tmp_path)
