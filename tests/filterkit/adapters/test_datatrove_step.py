"""FilterkitFilter inside a real datatrove pipeline: JsonlReader, the filter with an exclusion writer, JsonlWriter."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("datatrove", reason="the datatrove step needs the 'datatrove' extra")

from datatrove.data import Document
from datatrove.executor import LocalPipelineExecutor
from datatrove.pipeline.readers import JsonlReader
from datatrove.pipeline.writers import JsonlWriter

from filterkit.adapters.datatrove_step import FilterkitFilter
from filterkit.config import DetectorSpec, FilterConfig
from filterkit.stage.rules import Rule

SCORES = ("length.words", "length.chars", "obfuscation.mixed_case", "obfuscation.mixed_script", "obfuscation.invisible")
RULES = (Rule("length.words", "<", 5, reason="too_short"),
         Rule("obfuscation.mixed_case", ">", 0.06, reason="obfuscation_case"))
CONFIG = FilterConfig(detectors=(DetectorSpec("length"), DetectorSpec("obfuscation")), rules=RULES)
DOCS = {
    "plain-1": "The committee met on Tuesday to discuss the budget for the coming year.",
    "plain-2": "Rain is expected over the hills tonight, with clearer skies by the morning.",
    "plain-3": "She planted tomatoes, beans and a row of sunflowers along the back fence.",
    "short": "Too short.",
    "attacked": "The goveRnment annOunced a new plaN to reduCe the cOst of pubLic traNsport next yeAr.",
    "blank": "   \n  ",
}
EXPECTED_REASON = {"short": "too_short", "attacked": "obfuscation_case"}


def _write_inputs(folder: Path, files: int) -> None:
    folder.mkdir()
    items = list(DOCS.items())
    for f in range(files):
        with open(folder / f"part-{f}.jsonl", "w", encoding="utf-8") as out:
            out.writelines(json.dumps({"id": doc_id, "text": text}) + "\n" for doc_id, text in items[f::files])


def _read(folder: Path) -> dict[str, dict]:
    rows = {}
    for path in sorted(folder.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            rows[row["id"]] = row
    return rows


@pytest.mark.parametrize("tasks", [1, 2])
def test_a_pipeline_keeps_plain_documents_and_excludes_removed_and_unscorable_ones(tmp_path: Path, tasks: int):
    pytest.importorskip("orjson", reason="datatrove's JSONL reader and writer need orjson (datatrove[io])")
    _write_inputs(tmp_path / "in", files=tasks)
    step = FilterkitFilter(CONFIG, exclusion_writer=JsonlWriter(str(tmp_path / "excluded"), compression=None),
                           batch_size=2)
    LocalPipelineExecutor(
        [JsonlReader(str(tmp_path / "in")), step, JsonlWriter(str(tmp_path / "kept"), compression=None)],
        tasks=tasks, workers=1, logging_dir=str(tmp_path / "logs"),
    ).run()

    kept, excluded = _read(tmp_path / "kept"), _read(tmp_path / "excluded")
    assert len(kept) + len(excluded) == len(DOCS)
    assert set(kept) == {"plain-1", "plain-2", "plain-3"}
    assert set(excluded) == {"short", "attacked", "blank"}
    for doc_id, row in kept.items():
        assert row["text"] == DOCS[doc_id]
        assert all(isinstance(row["metadata"][c], float) for c in SCORES)
        assert "filter_reason" not in row["metadata"]
    for doc_id, reason in EXPECTED_REASON.items():
        meta = excluded[doc_id]["metadata"]
        assert meta["filter_reason"] == reason
        assert all(isinstance(meta[c], float) for c in SCORES)
    assert excluded["short"]["metadata"]["length.words"] == 2.0
    assert excluded["attacked"]["metadata"]["obfuscation.mixed_case"] > 0.06
    blank = excluded["blank"]["metadata"]
    assert blank["filter_reason"].startswith("quarantined: ") and "empty" in blank["filter_reason"]
    assert blank["quarantine_reason"] == "empty_text" and all(blank[c] is None for c in SCORES)

    stats = json.loads((tmp_path / "logs" / "stats.json").read_text())
    (ours,) = [s for s in stats if s["name"] == str(step)]
    counts = {k: v["total"] if isinstance(v, dict) else v for k, v in ours["stats"].items()}
    assert counts["total"] == len(DOCS) and counts["forwarded"] == 3 and counts["dropped"] == 3
    assert counts["dropped_too_short"] == 1 and counts["dropped_obfuscation_case"] == 1
    assert counts["dropped_quarantined"] == 1 and counts["quarantined_empty_text"] == 1


def test_parquet_in_and_out_with_an_explicit_schema(tmp_path: Path):
    import pyarrow as pa
    import pyarrow.parquet as pq
    from datatrove.pipeline.readers import ParquetReader
    from datatrove.pipeline.writers import ParquetWriter

    (tmp_path / "in").mkdir()
    pq.write_table(pa.table({"id": list(DOCS), "text": list(DOCS.values())}), tmp_path / "in" / "docs.parquet")
    meta = pa.struct([("file_path", pa.string()), *[(c, pa.float64()) for c in SCORES], ("filter_reason", pa.string()),
                      ("quarantine_reason", pa.string())])
    schema = pa.schema([("text", pa.string()), ("id", pa.string()), ("metadata", meta)])
    LocalPipelineExecutor(
        [ParquetReader(str(tmp_path / "in")),
         FilterkitFilter(CONFIG, exclusion_writer=ParquetWriter(str(tmp_path / "excluded"), schema=schema)),
         ParquetWriter(str(tmp_path / "kept"), schema=schema)],
        tasks=1, workers=1, logging_dir=str(tmp_path / "logs"),
    ).run()
    kept = pq.read_table(tmp_path / "kept").to_pylist()
    excluded = {r["id"]: r["metadata"] for r in pq.read_table(tmp_path / "excluded").to_pylist()}
    assert sorted(r["id"] for r in kept) == ["plain-1", "plain-2", "plain-3"]
    assert {k: v["filter_reason"] for k, v in excluded.items() if k in EXPECTED_REASON} == EXPECTED_REASON
    assert excluded["blank"]["quarantine_reason"] == "empty_text" and excluded["blank"]["length.words"] is None
    assert all(r["metadata"]["length.words"] > 5 for r in kept)


def test_the_step_matches_filterkit_scoring_and_quarantines_rows_a_detector_fails_on():
    from filterkit.engine.scoring import load_detectors, score_rows

    config = FilterConfig(detectors=(DetectorSpec("tests.support.flaky:Picky"),), rules=(Rule("length.words", "<", 5),))
    docs = [Document(text=t, id=str(i)) for i, t in enumerate(["one two three four five six", "a poison pill here",
                                                               "tiny", "seven words are enough for this one"])]
    step = FilterkitFilter(config, batch_size=4)
    kept = list(step.run(iter(docs)))
    assert [d.id for d in kept] == ["0", "3"]
    assert docs[1].metadata["filter_reason"].startswith("quarantined: ") and "cannot score this" in docs[1].metadata[
        "filter_reason"]
    assert docs[1].metadata["quarantine_reason"] == "detector_error" and docs[1].metadata["length.words"] is None
    assert docs[2].metadata["filter_reason"] == "length.words<5"
    import pyarrow as pa

    dets = load_detectors(config.detectors)
    scored, _ = score_rows(dets, pa.table({"text": [docs[0].text], "source_row": [0]}), "text", "test")
    assert docs[0].metadata["length.words"] == scored["length.words"][0].as_py() == 6.0


def test_tag_mode_yields_every_scored_document_with_its_decision():
    step = FilterkitFilter(CONFIG.replace(mode="tag"))
    docs = [Document(text=DOCS["plain-1"], id="a"), Document(text=DOCS["short"], id="b")]
    kept = list(step.run(iter(docs)))
    assert [(d.metadata["filter_decision"], d.metadata["filter_reason"]) for d in kept] == [
        ("keep", None), ("remove", "too_short")]


def test_a_corpus_wide_detector_is_refused_on_first_use_and_construction_builds_nothing():
    step = FilterkitFilter(detectors=["length", "exact"])  # no error yet: nothing is built in __init__
    assert step.scorer._dets is None
    with pytest.raises(ValueError, match=r"\['exact'\] are corpus-wide"):
        step.prepare()
    with pytest.raises(ValueError, match="corpus-wide"):
        list(FilterkitFilter(detectors="minhash").run(iter([Document(text="some text here", id="x")])))


def test_bad_arguments_are_refused_at_construction():
    with pytest.raises(ValueError, match="batch_size"):
        FilterkitFilter(CONFIG, batch_size=0)
    with pytest.raises(ValueError, match="row-local detectors"):
        FilterkitFilter()


def test_importing_filterkit_imports_neither_datatrove_nor_datasets():
    code = ("import json, sys, filterkit, filterkit.adapters.hf_datasets; "
            "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('datatrove', 'datasets'))))")
    loaded = json.loads(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout)
    assert loaded == []
