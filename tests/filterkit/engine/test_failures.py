"""A shard that keeps failing: retried, then reported; the run exits non-zero; --resume finishes it."""
import pyarrow as pa
import pytest

import filterkit
from filterkit import DetectorSpec, FilterConfig
from filterkit.engine.executors import LocalExecutor
from filterkit.testing.corpora import read_dir, tree_bytes, write


@pytest.mark.parametrize("workers", [1, 2])
def test_failing_shard_reported_then_resumed(tmp_path, workers):
    write(tmp_path / "in" / "a.parquet", pa.table({"text": ["x", "y", "x"]}))
    write(tmp_path / "in" / "b.parquet", pa.table({"text": ["boom", "y"]}))
    flag = tmp_path / "flag"
    flag.touch()
    # A detector named by import path, so spawned workers find it too.
    cfg = FilterConfig(detectors=(DetectorSpec("tests.support.flaky:Flaky", {"flag": str(flag)}),))
    run = lambda out, **kw: filterkit.run([str(tmp_path / "in")], out, cfg,  # noqa: E731
                                          executor=LocalExecutor(workers, retries=1), **kw)
    first = run(tmp_path / "o")
    assert not first.ok
    (task,) = first.report["failed_tasks"]
    assert "b.parquet" in task["task"] and "keeps failing" in task["error"] and task["attempts"] == 2
    c = first.report["counts"]
    assert c["failed_rows"] == 5 and c["kept"] == 0 and first.report["conservation"]["holds"]
    assert not (tmp_path / "o" / "kept").exists()  # no partial output that looks complete
    flag.unlink()
    second = run(tmp_path / "o", resume=True)
    assert second.ok and second.report["counts"]["failed_rows"] == 0
    run(tmp_path / "clean")
    assert tree_bytes(tmp_path / "o") == tree_bytes(tmp_path / "clean")


def test_a_row_a_detector_cannot_score_is_quarantined_the_rest_scored(tmp_path):
    write(tmp_path / "in" / "a.parquet", pa.table({"text": ["fine text", "poison pill", "also fine"]}))
    cfg = FilterConfig(detectors=(DetectorSpec("tests.support.flaky:Picky"),))
    r = filterkit.run([str(tmp_path / "in")], tmp_path / "o", cfg)
    assert r.ok and r.report["counts"]["kept"] == 2 and r.report["quarantine_reasons"] == {"detector_error": 1}
    (row,) = read_dir(tmp_path / "o" / "quarantine").to_pylist()
    assert row["text"] == "poison pill" and "a.parquet row 1" in row["quarantine_error"]


def test_a_detector_failing_on_every_row_fails_the_task_not_the_rows(tmp_path):
    write(tmp_path / "in" / "a.parquet", pa.table({"text": [f"text {i}" for i in range(10)]}), 10)
    cfg = FilterConfig(detectors=(DetectorSpec("tests.support.flaky:Picky", {"always": True}),))
    r = filterkit.run([str(tmp_path / "in")], tmp_path / "o", cfg)
    assert not r.ok and r.report["counts"]["failed_rows"] == 10 and r.report["counts"]["quarantined"] == 0
    assert "failed on all 10 rows" in r.report["failed_tasks"][0]["error"]
