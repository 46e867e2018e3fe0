"""score_dataset on real ``datasets`` objects: score columns, decisions as the engine makes them, quarantine."""
from __future__ import annotations

import pyarrow as pa
import pytest

datasets = pytest.importorskip("datasets", reason="score_dataset needs the 'hf' extra (datasets)")

from filterkit.adapters.hf_datasets import score_dataset  # noqa: E402  (after the importorskip)
from filterkit.config import DetectorSpec, FilterConfig  # noqa: E402
from filterkit.engine.pipeline import filter_stage  # noqa: E402
from filterkit.engine.scoring import load_detectors, score_rows, with_defended_text  # noqa: E402
from filterkit.stage.rules import Rule  # noqa: E402

SCORES = ["length.words", "length.chars", "obfuscation.mixed_case", "obfuscation.mixed_script", "obfuscation.invisible"]
CONFIG = FilterConfig(detectors=(DetectorSpec("length"), DetectorSpec("obfuscation")),
                      rules=(Rule("length.words", "<", 5, reason="too_short"),
                             Rule("obfuscation.mixed_case", ">", 0.06, reason="obfuscation_case")))
TEXTS = [
    "The committee met on Tuesday to discuss the budget for the coming year.",
    "Too short.",
    None,
    "The goveRnment annOunced a new plaN to reduCe the cOst of pubLic traNsport next yeAr.",
    "",
    "Rain is expected over the hills tonight, with clearer skies by the morning.",
]


def _dataset() -> datasets.Dataset:
    return datasets.Dataset.from_dict({"id": list(range(len(TEXTS))), "text": TEXTS})


def test_scores_and_decisions_match_filterkit_scoring_run_directly():
    out = score_dataset(_dataset(), CONFIG, batch_size=4)
    assert out.column_names == ["id", "text", *SCORES, "filter_decision", "filter_reason", "quarantine_reason",
                                "quarantine_error"]
    assert out["id"] == list(range(len(TEXTS))) and out["text"] == TEXTS
    assert out["filter_decision"] == ["keep", "remove", "quarantine", "remove", "quarantine", "keep"]
    assert out["filter_reason"] == [None, "too_short", None, "obfuscation_case", None, None]
    assert out["quarantine_reason"] == [None, None, "null_text", None, "empty_text", None]
    assert "row 2" in out["quarantine_error"][2] and "row 4" in out["quarantine_error"][4]

    valid = [i for i, t in enumerate(TEXTS) if t]
    table = pa.table({"text": [TEXTS[i] for i in valid], "source_row": valid})
    dets = load_detectors(CONFIG.detectors)
    scored, failed = score_rows(dets, with_defended_text(table, "text"), "text", "direct")
    assert not failed.num_rows
    decision = filter_stage(CONFIG, dets).decide(scored)
    for column in SCORES:
        got = out[column]
        assert [got[i] for i in valid] == scored[column].to_pylist()
        assert got[2] is None and got[4] is None
    assert [out["filter_decision"][i] == "remove" for i in valid] == decision.remove.tolist()


def test_default_rules_apply_when_the_config_names_only_detectors_and_a_detector_failure_is_quarantined():
    ds = datasets.Dataset.from_dict({"body": ["one two three four five six", "a poison pill here", "seven more words"]})
    out = score_dataset(ds, detectors=["tests.support.flaky:Picky"], text_column="body", batch_size=8)
    assert out["filter_decision"] == ["keep", "quarantine", "keep"]  # Length has no default rule
    assert out["quarantine_reason"][1] == "detector_error" and "cannot score this" in out["quarantine_error"][1]
    assert out["length.words"] == [6.0, None, 3.0]


def test_scoring_a_scored_dataset_again_replaces_its_columns():
    first = score_dataset(_dataset(), CONFIG)
    again = score_dataset(first, CONFIG.replace(rules=(Rule("length.words", "<", 3, reason="under_3"),)))
    assert again.column_names == first.column_names
    assert again["filter_reason"] == [None, "under_3", None, None, None, None]
    assert again["length.words"] == first["length.words"]


def test_a_dataset_dict_is_scored_split_by_split_and_num_proc_gives_the_same_answer():
    splits = datasets.DatasetDict({"train": _dataset(), "test": _dataset().select([0, 1])})
    out = score_dataset(splits, CONFIG, batch_size=2)
    assert out["test"]["filter_decision"] == ["keep", "remove"]
    parallel = score_dataset(_dataset(), CONFIG, batch_size=2, num_proc=2)
    assert parallel["filter_decision"] == out["train"]["filter_decision"]
    assert parallel["quarantine_error"] == out["train"]["quarantine_error"]


def test_an_iterable_dataset_is_scored_lazily():
    out = score_dataset(_dataset().to_iterable_dataset(), CONFIG, batch_size=4)
    assert [row["filter_decision"] for row in out] == ["keep", "remove", "quarantine", "remove", "quarantine", "keep"]


def test_corpus_wide_detectors_and_bad_inputs_are_refused():
    with pytest.raises(ValueError, match=r"\['exact'\] are corpus-wide"):
        score_dataset(_dataset(), detectors=["length", "exact"])
    with pytest.raises(ValueError, match="corpus-wide"):
        score_dataset(_dataset(), FilterConfig())  # its default detector is exact
    with pytest.raises(ValueError, match="not in the dataset"):
        score_dataset(_dataset(), CONFIG, text_column="content")
    with pytest.raises(ValueError, match="not string"):
        score_dataset(_dataset(), CONFIG, text_column="id")
    with pytest.raises(ValueError, match="row-local detectors"):
        score_dataset(_dataset())
