"""The texts the shipped classifier never saw are really outside its training rows."""
import pyarrow.parquet as pq

from benchmarks.transfer.protocol_data import load_rows, unseen_by_ship
from detectors.classifier.layout import training_texts


def test_unseen_texts_are_machine_text_outside_the_shipped_training_rows(shared_data):
    unseen = unseen_by_ship(shared_data)
    rows, _ = load_rows(shared_data)
    assert len(unseen) > 1000
    assert not set(unseen) & set(rows.text)
    machine: set[str] = set()
    for name in ("open_models", "imbd"):
        t = pq.read_table(shared_data / "detect" / f"{name}.parquet", columns=["text", "label"]).to_pylist()
        machine |= set(training_texts([r["text"] for r in t if r["label"] == "machine"]))
    assert set(unseen) <= machine
