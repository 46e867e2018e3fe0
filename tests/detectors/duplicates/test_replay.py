"""The replay index (build, add, load, refuse) and the replay detector, from Python and the command line."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from detectors.duplicates import index as minhash_index
from detectors.duplicates.index import (
    IndexMismatchError,
    IndexParams,
    ReplayIndexError,
    add,
    build,
    build_from_texts,
    load,
)
from detectors.duplicates.replay import ReplayDetector
from filterkit import DetectorSpec, FilterConfig, run
from filterkit.contract import registry

GENERATIONS = [
    "As an AI language model I can summarise the article for you: the council approved a new library after a "
    "long campaign by residents, and construction will begin in the autumn with a traffic plan published first.",
    "Here is a short story about a lighthouse keeper who finds a message in a bottle every morning for a year, "
    "each one written in a different language and signed with the same initial.",
    "The quarterly results show revenue growth of twelve percent driven by strong demand in the cloud division "
    "while operating costs remained flat compared with the same period last year.",
]
HUMAN = ("My grandmother kept bees behind the orchard and every August we spun the honey in the shed, sticky to "
         "the elbows, while she told us which hive had been the angriest that summer.")


def _parquet(path: Path, texts: list[str], **extra: list) -> str:
    pq.write_table(pa.table({"text": texts, **extra}), path)
    return str(path)


@pytest.fixture
def index_dir(tmp_path: Path) -> Path:
    build([_parquet(tmp_path / "gen.parquet", GENERATIONS[:2], gid=["g0", "g1"])], tmp_path / "idx", id_column="gid")
    return tmp_path / "idx"


def test_build_then_load_round_trips(index_dir):
    index = load(index_dir)
    assert index.ids.to_pylist() == ["g0", "g1"]
    assert index.signatures.shape == (2, 128) and index.signatures.dtype == np.uint32
    manifest = json.loads((index_dir / "manifest.json").read_text())
    assert manifest["params"]["num_perm"] == 128 and manifest["params"]["ngram"] == 5
    assert manifest["params"]["seed"] == 1 and manifest["params"]["lowercase"] is True
    assert not list(index_dir.rglob("*.pkl")) and not list(index_dir.rglob("*.pickle"))


def test_detector_scores_copies_near_copies_and_strangers(index_dir):
    det = ReplayDetector(index=str(index_dir))
    batch = pa.table({"text": [GENERATIONS[0], GENERATIONS[1] + " Posted by admin. Share this.", HUMAN, "---",
                               GENERATIONS[2]]})
    out = det.score(batch)
    assert out.column_names == ["replay.max_jaccard", "replay.match_id", "replay.reason"]
    score = out["replay.max_jaccard"].to_pylist()
    assert score[0] == 1.0 and 0.6 <= score[1] < 1.0
    assert score[2] == 0.0 and score[4] == 0.0 and np.isnan(score[3])
    assert out["replay.match_id"].to_pylist() == ["g0", "g1", None, None, None]
    assert out["replay.reason"].to_pylist() == [None, None, None, "no shingles", None]
    assert out.schema.field("replay.max_jaccard").type == pa.float64()


def test_add_extends_the_index(index_dir, tmp_path):
    manifest = add(index_dir, [_parquet(tmp_path / "more.parquet", GENERATIONS[2:])])
    assert manifest["count"] == 3 and len(manifest["parts"]) == 2
    out = ReplayDetector(index=str(index_dir)).score(pa.table({"text": [GENERATIONS[2]]}))
    assert out["replay.max_jaccard"].to_pylist() == [1.0]
    assert out["replay.match_id"].to_pylist() == ["more.parquet:0"]


def test_other_parameters_are_refused(index_dir, tmp_path):
    with pytest.raises(IndexMismatchError, match="ngram"):
        ReplayDetector(index=str(index_dir), ngram=3).setup()
    with pytest.raises(IndexMismatchError, match="num_perm"):
        load(index_dir, expected=IndexParams(num_perm=64))
    with pytest.raises(IndexMismatchError, match="seed"):
        add(index_dir, [_parquet(tmp_path / "x.parquet", ["some more text here to sign"])], IndexParams(seed=2))
    build_from_texts(GENERATIONS, ["a", "b", "c"], tmp_path / "idx3", IndexParams(ngram=3))
    assert ReplayDetector(index=str(tmp_path / "idx3"), ngram=3).score(
        pa.table({"text": [GENERATIONS[1]]}))["replay.max_jaccard"].to_pylist() == [1.0]
    with pytest.raises(IndexMismatchError):
        ReplayDetector(index=str(tmp_path / "idx3"), ngram=5).setup()


def test_corrupt_or_missing_index_gives_a_clear_error(index_dir, tmp_path):
    with pytest.raises(ReplayIndexError, match="does not exist"):
        load(tmp_path / "nowhere")
    part = next((index_dir / "parts").glob("*.parquet"))
    data = bytearray(part.read_bytes())
    data[len(data) // 2] ^= 0xFF
    part.write_bytes(bytes(data))
    with pytest.raises(ReplayIndexError, match="checksum"):
        load(index_dir)
    with pytest.raises(ReplayIndexError, match="checksum"):  # a same-size corruption, found at setup
        ReplayDetector(index=str(index_dir)).setup()
    part.write_bytes(bytes(data[:100]))
    with pytest.raises(ReplayIndexError, match="corrupt"):
        ReplayDetector(index=str(index_dir)).setup()
    (index_dir / "manifest.json").write_text("{not json")
    with pytest.raises(ReplayIndexError, match="not valid JSON"):
        load(index_dir)
    (index_dir / "manifest.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(ReplayIndexError, match="not a filterkit-minhash-index"):
        load(index_dir)
    manifest = {"format": "filterkit-minhash-index", "version": 99, "params": {}, "count": 0, "parts": []}
    (index_dir / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ReplayIndexError, match="version 99"):
        load(index_dir)


def test_build_refuses_to_overwrite_without_being_asked(index_dir, tmp_path):
    source = _parquet(tmp_path / "one.parquet", GENERATIONS[2:])
    with pytest.raises(ReplayIndexError, match="already holds an index"):
        build([source], index_dir)
    assert build([source], index_dir, overwrite=True)["count"] == 1
    assert load(index_dir).ids.to_pylist() == ["one.parquet:0"]
    with pytest.raises(ValueError, match="no column 'body'"):
        build([source], index_dir, text_column="body", overwrite=True)
    assert load(index_dir).ids.to_pylist() == ["one.parquet:0"]  # a refused overwrite keeps the old index


def test_construction_reads_nothing_and_setup_refuses_a_missing_index(tmp_path):
    det = registry.build("replay", {"index": str(tmp_path / "nowhere")})
    assert det.index_ is None and "index_" not in det.get_params()
    with pytest.raises(ReplayIndexError, match="does not exist"):
        det.setup()
    with pytest.raises(ValueError, match="unit"):  # values are still checked when constructed
        ReplayDetector(index=str(tmp_path / "nowhere"), unit="sentence")


def test_setup_then_score_hashes_each_part_once(index_dir, tmp_path, monkeypatch):
    add(index_dir, [_parquet(tmp_path / "more.parquet", GENERATIONS[2:])])
    hashed: list[int] = []
    real = minhash_index._sha256

    def counting(blocks):
        hashed.append(1)
        return real(blocks)

    monkeypatch.setattr(minhash_index, "_sha256", counting)
    batch = pa.table({"text": [GENERATIONS[0], GENERATIONS[2]]})
    det = ReplayDetector(index=str(index_dir))
    assert not hashed  # construction does no I/O
    det.setup()
    det.setup()
    assert len(hashed) == 2  # two parts, each hashed once
    assert det.score(batch)["replay.max_jaccard"].to_pylist() == [1.0, 1.0]
    det.score(batch)
    assert len(hashed) == 2  # loading after setup() trusts the parts it verified
    hashed.clear()
    worker = ReplayDetector(index=str(index_dir))  # another process's instance: no setup() there
    assert worker.score(batch)["replay.match_id"].to_pylist() == ["g0", "more.parquet:0"]
    worker.score(batch)
    assert len(hashed) == 2  # it verifies while loading, once


def test_replay_needs_an_index():
    with pytest.raises(ValueError, match="bad parameters|needs an index"):
        registry.build("replay", {})


def test_pipeline_removes_replayed_generations(index_dir, tmp_path):
    crawl = _parquet(tmp_path / "crawl.parquet", [HUMAN, "Archived copy: " + GENERATIONS[0], GENERATIONS[2], "one"])
    cfg = FilterConfig(detectors=(DetectorSpec("replay", {"index": str(index_dir)}),))
    result = run([crawl], tmp_path / "out", cfg)
    removed = pq.read_table(tmp_path / "out" / "removed").to_pandas()
    assert removed["source_row"].tolist() == [1]
    assert removed["filter_reason"].tolist() == ["replay"] and removed["replay.match_id"].tolist() == ["g0"]
    assert result.report["counts"]["kept"] == 3


def test_jsonl_inputs(tmp_path):
    lines = [json.dumps({"text": t, "id": f"log-{i}"}) for i, t in enumerate(GENERATIONS)]
    (tmp_path / "log.jsonl").write_text("\n".join(lines) + "\n")
    manifest = build([str(tmp_path / "log.jsonl")], tmp_path / "idx", id_column="id")
    assert manifest["count"] == 3 and load(tmp_path / "idx").ids.to_pylist() == ["log-0", "log-1", "log-2"]


def test_command_line_build_add_and_filter(tmp_path):
    from cli import app

    runner = CliRunner()
    gen = _parquet(tmp_path / "gen.parquet", GENERATIONS[:1], body=["unused"])
    res = runner.invoke(app, ["index", "build", gen, "-o", str(tmp_path / "idx")])
    assert res.exit_code == 0, res.output
    more = _parquet(tmp_path / "more.parquet", ["x"], body=[GENERATIONS[1]])
    res = runner.invoke(app, ["index", "add", str(tmp_path / "idx"), more, "--text-column", "body"])
    assert res.exit_code == 0, res.output
    assert load(tmp_path / "idx").ids.to_pylist() == ["gen.parquet:0", "more.parquet:0"]
    crawl = _parquet(tmp_path / "crawl.parquet", [HUMAN, GENERATIONS[1]])
    res = runner.invoke(app, ["filter", crawl, "-o", str(tmp_path / "out"), "--detectors", "replay",
                              "--param", f"replay.index={tmp_path / 'idx'}"])
    assert res.exit_code == 0, res.output
    assert pq.read_table(tmp_path / "out" / "removed")["source_row"].to_pylist() == [1]
    res = runner.invoke(app, ["index", "add", str(tmp_path / "missing"), more])
    assert res.exit_code == 2 and "does not exist" in res.output
