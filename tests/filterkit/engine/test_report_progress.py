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
