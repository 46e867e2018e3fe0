"""Splits by article keep a machine row with its human twin (``pair_id``), even where a chat model did not repeat
the opening it wrote on from."""
import numpy as np
import pyarrow.parquet as pq
import pytest

from benchmarks.articles import twin_articles
from benchmarks.classifier.run import splits
from benchmarks.transfer.data import _with_article
from detectors.classifier.train import opening_groups
from filterkit.testing.shared import shared_data_dir


@pytest.fixture(scope="module")
def chat():
    try:
        data = shared_data_dir()
    except FileNotFoundError:
        pytest.skip("shared data not found")
    path = data / "detect" / "chat_models.parquet"
    if not path.exists():
        pytest.skip(f"{path} not found")
    return pq.read_table(path)


def test_twin_articles_give_each_machine_row_its_human_rows_key():
    texts = ["the cat sat on the mat today", "the cat sat on the mat and then", "Sure! Here is a story", "a dog"]
    key = twin_articles(texts, ["human", "machine", "machine", "human"], ["p1", "p1", "p1", "p2"], words=3)
    own = opening_groups(texts, 3)
    assert key[1] == key[2] == own[0] != own[2]
    assert key[3] == own[3]


def test_machine_rows_land_in_their_human_twins_transfer_half(chat):
    half = (np.asarray(_with_article(chat, "chat")["article"].to_numpy(), np.uint64) >> np.uint64(20)) % 2
    pairs, labels = chat["pair_id"].to_pylist(), chat["label"].to_pylist()
    human_half = {p: h for p, h, label in zip(pairs, half, labels, strict=True) if label == "human"}
    machine = [i for i, label in enumerate(labels) if label == "machine"]
    assert len(machine) == 1200
    assert all(half[i] == human_half[pairs[i]] for i in machine)
    # The case the key exists for: machine rows whose own opening words put them in the other half.
    own = (opening_groups([" ".join(t.split()) for t in chat["text"].to_pylist()], 12) >> np.uint64(20)) % 2
    assert sum(own[i] != human_half[pairs[i]] for i in machine) > 0


def test_classifier_generator_splits_keep_pairs_together(chat):
    for split, _, train, test in splits(chat):
        if split != "leave_one_generator_out":
            continue
        for part in (train, test):
            rows = list(zip(part["pair_id"].to_pylist(), part["label"].to_pylist(), strict=True))
            assert {p for p, label in rows if label == "machine"} <= {p for p, label in rows if label == "human"}
