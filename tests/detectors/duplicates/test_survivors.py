"""A duplicate cluster never vanishes whole because of its survivor: dedup keeps a member that no other rule removes.

In the demo, a human original was removed as a near-duplicate of its planted copy, which was kept as the survivor
and then removed by the classifier. Row-local rules are known at map time; the reduce chooses among the rows they
keep, and removes the cluster only when they remove every member.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
from hypothesis import given
from hypothesis import strategies as st

import filterkit
from detectors.duplicates.minhash import MinHashDuplicates
from filterkit import DetectorSpec, FilterConfig, Rule
from filterkit.contract.detector import REMOVED_ANYWAY, ROW, SHARD, ReduceContext
from filterkit.testing.corpora import read_dir, write
from tests.support.props import prop_settings

DOCS = ["the first story about a quiet harbour town at dawn", "a second and unrelated text on grain prices in spring",
        "third text that tells of mountains rivers and old roads"]
DEDUP = {"exact": Rule("exact.is_duplicate", ">=", 1.0, reason="exact_duplicate"),
         "minhash": Rule("minhash.is_duplicate", ">=", 1.0, reason="near_duplicate")}
MACHINE = Rule("p_machine", ">=", 0.5, reason="machine_text")


def _config(detector: str, keep: str = "first", combine: str = "any", rows_per_shard: int = 3) -> FilterConfig:
    params = {"keep": keep} if detector == "minhash" else {}
    return FilterConfig(detectors=(DetectorSpec(detector, params),), rules=(DEDUP[detector], MACHINE),
                        combine=combine, rows_per_shard=rows_per_shard, batch_size=2)


def _kept(out: Path) -> list[tuple[str, int]]:
    kept = read_dir(out / "kept")
    return sorted(zip(kept["source_file"].to_pylist(), kept["source_row"].to_pylist(), strict=True)) \
        if kept.num_rows else []


def test_a_cluster_whose_first_member_another_rule_removes_keeps_the_next(tmp_path):
    # The planted copy comes first and the classifier removes it; the human original must stay.
    write(tmp_path / "in" / "a.parquet", pa.table({"text": [DOCS[0], DOCS[1], DOCS[0]], "p_machine": [0.9, 0.1, 0.1]}))
    for detector in ("exact", "minhash"):
        result = filterkit.run([str(tmp_path / "in")], tmp_path / detector, _config(detector))
        assert _kept(tmp_path / detector) == [("a.parquet", 1), ("a.parquet", 2)], detector
        dedup = DEDUP[detector].reason
        assert result.report["filter_reasons"] == {dedup: 1, "machine_text": 1}, detector  # the copy: both


def test_a_cluster_other_rules_remove_whole_is_removed_and_all_keeps_corpus_order(tmp_path):
    write(tmp_path / "in" / "a.parquet", pa.table({"text": [DOCS[0], DOCS[0], DOCS[1]], "p_machine": [0.9, 0.8, 0.1]}))
    gone = filterkit.run([str(tmp_path / "in")], tmp_path / "any", _config("exact"))
    assert _kept(tmp_path / "any") == [("a.parquet", 2)]
    assert gone.report["filter_reasons"] == {"exact_duplicate": 1, "machine_text": 2}
    # With combine: all no rule removes a row alone, so the survivor is the first in corpus order, as before.
    both = filterkit.run([str(tmp_path / "in")], tmp_path / "all", _config("exact", combine="all"))
    assert _kept(tmp_path / "all") == [("a.parquet", 0), ("a.parquet", 2)]
    assert both.report["filter_reasons"] == {"exact_duplicate": 1, "machine_text": 1}


# No shrinking: each example is a whole pipeline run, and the failing example is printed either way.
@prop_settings(12, shrink=False)
@given(files=st.lists(st.lists(st.tuples(st.integers(0, 2), st.booleans()), min_size=1, max_size=6), min_size=1,
                      max_size=3),
       detector=st.sampled_from(["exact", "minhash"]), rows_per_shard=st.integers(1, 4))
def test_each_cluster_keeps_its_first_member_no_other_rule_removes(files, detector, rows_per_shard):
    with tempfile.TemporaryDirectory() as tmp:
        for i, rows in enumerate(files):
            write(Path(tmp) / "in" / f"f{i}.parquet",
                  pa.table({"text": [DOCS[d] for d, _ in rows], "p_machine": [0.9 if m else 0.1 for _, m in rows]}), 2)
        cfg = _config(detector, rows_per_shard=rows_per_shard)
        result = filterkit.run([str(Path(tmp) / "in")], Path(tmp) / "out", cfg)
        assert result.ok
        expected = []
        for doc in range(len(DOCS)):
            members = [(f"f{i}.parquet", j, m) for i, rows in enumerate(files) for j, (d, m) in enumerate(rows)
                       if d == doc]
            human = [(f, j) for f, j, m in members if not m]
            expected += human[:1]  # the first member no other rule removes, or none when it removes them all
        assert _kept(Path(tmp) / "out") == sorted(expected)


def test_minhash_parallel_reduce_prefers_the_same_survivors(tmp_path):
    det = MinHashDuplicates()
    texts = [DOCS[0], DOCS[1], DOCS[0], DOCS[0], DOCS[1]]
    removed = [True, True, False, True, False]
    keys = det.map(pa.table({"text": texts}))
    keys = keys.append_column(SHARD, pa.array([0] * 5, pa.int32())).append_column(ROW, pa.array(range(5), pa.int64()))
    write(tmp_path / "keys" / "part-000000.parquet", keys.append_column(REMOVED_ANYWAY, pa.array(removed)), 2)
    files = (str(tmp_path / "keys" / "part-000000.parquet"),)
    serial = det.reduce(ds.dataset(list(files), format="parquet"))
    (tmp_path / "scratch").mkdir()
    spread = det.reduce_parallel(ReduceContext(files, tmp_path / "scratch", 2, lambda fn, ts: [fn(t) for t in ts]))
    assert serial.equals(spread)
    assert np.flatnonzero(~serial["minhash.is_duplicate"].to_numpy(zero_copy_only=False)).tolist() == [2, 4]
