"""Progress a run reports (#30): rows, not shards, batch by batch where tasks run in this process."""
from __future__ import annotations

import pyarrow as pa

import filterkit
from filterkit import DetectorSpec, FilterConfig
from filterkit.engine.executors import LocalExecutor
from filterkit.testing.corpora import write


def _calls(tmp_path, executor=None, rows: int = 120, **config):
    texts = [f"text {i % 100}" for i in range(rows)]
    write(tmp_path / "in" / "a.parquet", pa.table({"text": texts}), row_group_size=rows)
    calls: list[tuple[str, int, int]] = []
    cfg = FilterConfig(detectors=(DetectorSpec("exact"), DetectorSpec("length")), **config)
    filterkit.run([str(tmp_path / "in")], tmp_path / "o", cfg, executor=executor,
                  progress=lambda phase, done, total: calls.append((phase, done, total)))
    return calls


def _phase(calls, phase):
    return [(done, total) for p, done, total in calls if p == phase]


def test_progress_counts_rows_batch_by_batch_in_process(tmp_path):
    # One shard of 120 rows in batches of 25: "score 0/1" for the whole shard before.
    calls = _calls(tmp_path, batch_size=25)
    score = _phase(calls, "score")
    assert {total for _, total in score} == {120}
    assert [done for done, _ in score] == [0, 25, 50, 75, 100, 120, 120]
    assert _phase(calls, "decide") == [(0, 120), (120, 120)]
    assert _phase(calls, "dedup") == [(0, 1), (1, 1)]  # corpus-wide steps count detectors


def test_progress_counts_each_shards_rows_across_processes(tmp_path):
    # In a pool a shard's rows count when it ends (the worker has no channel back to the driver).
    calls = _calls(tmp_path, LocalExecutor(workers=2), rows_per_shard=60, batch_size=25)
    score = _phase(calls, "score")
    assert score[0] == (0, 120) and sorted(done for done, _ in score) == [0, 60, 120]


def test_a_resumed_run_starts_from_the_rows_already_done(tmp_path):
    calls = _calls(tmp_path, rows_per_shard=40)
    assert _phase(calls, "score")[-1] == (120, 120)
    (tmp_path / "o" / "_work" / "done" / "map-part-000001").unlink()
    (tmp_path / "o" / "_work" / "done" / "decide-part-000001").unlink()
    again: list[tuple[str, int, int]] = []
    cfg = FilterConfig(detectors=(DetectorSpec("exact"), DetectorSpec("length")), rows_per_shard=40)
    filterkit.run([str(tmp_path / "in")], tmp_path / "o", cfg, resume=True,
                  progress=lambda phase, done, total: again.append((phase, done, total)))
    assert _phase(again, "score")[0] == (80, 120) and _phase(again, "score")[-1] == (120, 120)


def _counting_calls(tmp_path, executor=None, rows: int = 20, **config):
    write(tmp_path / "in" / "a.parquet", pa.table({"text": [f"text {i}" for i in range(rows)]}), row_group_size=rows)
    calls: list[tuple[str, int, int]] = []
    cfg = FilterConfig(detectors=(DetectorSpec("tests.support.slow_detector:Counting"),), **config)
    filterkit.run([str(tmp_path / "in")], tmp_path / "o", cfg, executor=executor,
                  progress=lambda phase, done, total: calls.append((phase, done, total)))
    return [done for done, _ in _phase(calls, "score")]


def test_a_detector_that_reports_progress_moves_the_count_within_a_batch(tmp_path):
    # One batch of 20 rows: without the hook the count would stay at 0 until the batch ends.
    assert _counting_calls(tmp_path, batch_size=1024) == [0, *range(1, 21), 20, 20]


def test_within_batch_counts_add_to_the_rows_of_earlier_batches(tmp_path):
    done = _counting_calls(tmp_path, batch_size=8)
    assert done == sorted(done) and {3, 11, 19} <= set(done) and done[-1] == 20


def test_two_detectors_that_report_progress_share_the_count(tmp_path):
    from filterkit.engine.scoring import _within_batch
    from tests.support.slow_detector import Counting

    heard: list[int] = []
    first, second = _within_batch((Counting(), Counting()), 10, heard.append).values()
    for i in range(1, 11):
        first(i)
    second(4)
    second(12)  # more than the batch: counted as the batch
    assert heard == [1, 2, 3, 4, 5, 7, 10]


def test_a_pool_gets_no_callback_and_counts_shards(tmp_path):
    done = _counting_calls(tmp_path, LocalExecutor(workers=2), rows=40, rows_per_shard=20)
    assert sorted(done) == [0, 20, 40]
