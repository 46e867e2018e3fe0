"""RowScorer builds its columns and types from the detectors' declarations: every column a run writes, no probe."""
from __future__ import annotations

import pyarrow as pa
import pytest

from detectors.duplicates.index import build_from_texts
from filterkit.adapters.row_scorer import RowScorer
from filterkit.config import DetectorSpec, FilterConfig
from filterkit.stage.rules import Rule

KNOWN = ("Here is a short story about a lighthouse keeper who finds a message in a bottle every morning for a year, "
         "each one written in a different language and signed with the same initial.")


@pytest.fixture
def index(tmp_path) -> str:
    build_from_texts([KNOWN], ["known-0"], tmp_path / "index")
    return str(tmp_path / "index")


def test_types_come_from_the_declarations_without_scoring(index, monkeypatch):
    config = FilterConfig(detectors=(DetectorSpec("length"), DetectorSpec("replay", {"index": index})), rules=())
    scorer = RowScorer(config)
    monkeypatch.setattr(scorer, "_tables", lambda *a: pytest.fail("score_types scored a text"))
    assert scorer.score_types() == {"length.words": pa.float64(), "length.chars": pa.float64(),
                                    "replay.max_jaccard": pa.float64(), "replay.match_id": pa.string(),
                                    "replay.reason": pa.string()}


def test_a_rule_may_read_any_declared_column_and_every_one_is_written(index):
    # Thresholds by the id of the matched text: replay.match_id was written by a run but not declared before.
    rule = Rule("replay.max_jaccard", ">=", 0.99, reason="replay", by="replay.match_id", thresholds={"known-0": 0.5})
    scorer = RowScorer(FilterConfig(detectors=(DetectorSpec("replay", {"index": index}),), rules=(rule,)))
    assert scorer.extra_columns == []  # nothing the input must carry
    out = scorer.score([KNOWN + " Posted by admin.", "---", "Something else entirely, nothing like the index."])
    assert out.decision == ["remove", "keep", "keep"]
    assert set(out.scores) == {"replay.max_jaccard", "replay.match_id", "replay.reason"}
    assert out.scores["replay.match_id"] == ["known-0", None, None]
    assert out.scores["replay.reason"] == [None, "no shingles", None]
