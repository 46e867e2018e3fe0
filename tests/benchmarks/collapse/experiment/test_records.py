"""The typed records serialise to exactly the JSON the loop has always written: key for key, in the same order."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from benchmarks.collapse import CollapseConfig, run_collapse
from benchmarks.collapse.analysis.metrics import FilterStats
from benchmarks.collapse.experiment.probes import ProbeStats
from benchmarks.collapse.experiment.records import CrawlOutcome, Record, StartRecord, Verdict
from benchmarks.collapse.reports.json_file import clean

RESULTS = Path(__file__).resolve().parents[4] / "benchmarks" / "results"


def _items(record: dict) -> list:
    """A record's (key, value) pairs in order, NaN made comparable."""
    return [(k, "nan" if isinstance(v, float) and math.isnan(v) else v) for k, v in record.items()]


@pytest.mark.parametrize("path", sorted(RESULTS.glob("collapse_*/results.json")), ids=lambda p: p.parent.name)
def test_every_committed_record_reads_back_to_the_same_json(path):
    records = json.loads(path.read_text())["records"]
    assert records
    for data in records:
        assert _items(Record.from_dict(data).to_dict()) == _items(data)


def test_a_generation_lists_crawl_training_metrics_and_verdict_in_that_order():
    crawl = CrawlOutcome(FilterStats(60, 0.5, 1.0, 0.0, 0.5, tpr_foreign_own=(1.0, 1.0)), 15,
                         (ProbeStats("lm", 20, 0.9, 0.1, 0.95),), {"fit_classifier_tfidf": 1.0})
    rec = Record("oracle", 1, 2, 30, 0.0, {"test_ce": 4.5}, Verdict(False), crawl)
    assert list(rec.to_dict()) == [
        "arm", "seed", "generation", "crawl_rows", "crawl_synthetic_share", "filter_tpr", "filter_fpr", "retain_rate",
        "filter_tpr_foreign", "filter_tpr_own", "probe_lm_rows", "probe_lm_tpr", "probe_lm_fpr", "probe_lm_auroc",
        "fit_classifier_tfidf", "crawl_foreign_rows", "train_size", "synthetic_share", "test_ce", "collapsed"]
    assert Record.from_dict(rec.to_dict()) == rec
    start = Record("none", 0, 0, 30, 0.0, {"test_ce": 4.0}, Verdict(True, "every sample was empty"))
    assert list(start.to_dict()) == ["arm", "seed", "generation", "test_ce", "train_size", "synthetic_share",
                                     "collapsed", "collapse_reason"]
    assert StartRecord.from_dict(StartRecord({"test_ce": 4.0}, math.nan).to_dict()).metrics == {"test_ce": 4.0}


def test_a_run_writes_typed_records_to_results_and_checkpoints_alike(tmp_path):
    cfg = CollapseConfig(learner="gaussian", schedule="replace", arms=("none", "oracle"), generations=2, seeds=1,
                         samples=20, numeric_test_size=100, plots=False, bootstrap=10)
    records = run_collapse(cfg, tmp_path)["records"]
    none = [r for r in records if r["arm"] == "none"]
    assert list(none[0])[:4] == ["arm", "seed", "generation", "test_ce"] and "crawl_rows" not in none[0]
    assert list(none[1])[:4] == ["arm", "seed", "generation", "crawl_rows"]
    # Under replace the oracle drops every row: the record keeps the crawl, has no metrics, and says why.
    failed = next(r for r in records if r["arm"] == "oracle" and r["generation"] == 1)
    assert failed["collapsed"] == 1 and failed["collapse_reason"] == "no training data left after filtering"
    assert "test_ce" not in failed and failed["train_size"] == 0
    state = tmp_path / "_state" / "seed0"
    saved = [clean(json.loads(p.read_text())) for p in sorted(state.glob("arm-*/g*/record.json"))]  # NaN as null
    on_disk = json.loads((tmp_path / "results.json").read_text())["records"]
    assert sorted(map(json.dumps, saved)) == sorted(json.dumps(r) for r in on_disk if r["generation"] > 0)
