"""What the end-to-end cascade benchmark reads from a filter run's output."""
from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from benchmarks.transfer.cascade_run import outcome


def _write(directory, rows):
    directory.mkdir(parents=True)
    labels, languages, heads = zip(*rows, strict=True)
    pq.write_table(pa.table({"label": list(labels), "language": list(languages), "classifier.head": list(heads)}),
                   directory / "part.parquet")


def test_rows_the_language_gate_left_unjudged_are_not_counted_as_sent_to_the_lm(tmp_path):
    _write(tmp_path / "kept", [("human", "en", "stacked"), ("human", "en", "not_routed"),
                               ("machine", "en", "not_routed"), ("human", "de", "unsupported_language:de"),
                               ("human", "en", "too_short"), ("machine", "en", "lm_abstained")])
    _write(tmp_path / "removed", [("machine", "en", "stacked"), ("human", "en", "stacked")])
    got = outcome(tmp_path)
    assert got["rows"] == 8 and got["share_to_lm"] == pytest.approx(4 / 8)
    assert got["tpr"] == pytest.approx(1 / 3) and got["fpr"] == pytest.approx(1 / 4) and got["foreign_removed"] == 0
