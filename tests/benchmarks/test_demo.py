"""The demo on the shared data: it runs, and what it prints is measured, not assumed."""
import pytest

import benchmarks.demo
from benchmarks.demo import DemoSizes, run_demo
from benchmarks.demo.__main__ import main

SMALL = DemoSizes(human=120, machine=40, exact_copies=15, near_copies=10, bad_rows=4, files=2,
                  classifier_training_rows=0)


def test_demo_catches_planted_copies(tmp_path, shared_data):
    result = run_demo(tmp_path, SMALL)
    assert result["documents_in"] == 120 + 40 + 15 + 10 + 4
    assert result["quarantined"] == 4
    assert result["exact_copies_removed"] == "15/15"
    assert result["near_copies_removed"] == "10/10"
    assert result["human_documents_lost"] == "0/120"
    assert "kept" in result["conservation"]


def test_entry_point_prints_every_measure_as_a_table(tmp_path, shared_data, monkeypatch, capsys):
    monkeypatch.setattr(benchmarks.demo, "run_demo", lambda out, progress: run_demo(out, SMALL, progress))
    main(["-o", str(tmp_path / "demo")])
    printed = capsys.readouterr().out
    assert "filterkit demo" in printed and "documents in" in printed and "exact copies removed" in printed
    assert (tmp_path / "demo" / "filtered" / "report" / "report.md").is_file()


@pytest.mark.slow
def test_demo_with_classifier_lowers_machine_share(tmp_path, shared_data):
    result = run_demo(tmp_path, DemoSizes(human=300, machine=100, exact_copies=10, near_copies=10,
                                          classifier_training_rows=1500))
    assert result["machine_share_after"] < result["machine_share_before"]
    assert "classifier" in result["detectors"] and result["classifier_threshold"]
