"""The schedule comparison reads finished runs and shows how far each no-filter arm drifts."""
from __future__ import annotations

from benchmarks.collapse import run_collapse
from benchmarks.collapse.analysis import compare
from tests.benchmarks.collapse.fakes import small_ngram as _cfg


def test_the_schedule_comparison_reads_runs_and_shows_replace_drifting_more(tmp_path):
    for schedule in ("replace", "accumulate"):
        run_collapse(_cfg(schedule=schedule, arms=("none",), generations=3), tmp_path / schedule)
    compare.main([str(tmp_path / "replace"), str(tmp_path / "accumulate"), "--out", str(tmp_path / "c.md")])
    text = (tmp_path / "c.md").read_text()
    assert f"python -m benchmarks.collapse compare {tmp_path / 'replace'} " in text  # the command that made it
    assert "| replace | 2 | 3 |" in text and "| accumulate | 2 | 3 |" in text and (tmp_path / "c.png").is_file()
    runs = [compare.summarise(tmp_path / s, "none") for s in ("replace", "accumulate")]
    assert runs[0]["ratio_last"][0] > runs[1]["ratio_last"][0]  # replace loses more than accumulate


def test_runs_of_one_schedule_are_told_apart_by_their_directory(tmp_path):
    for name, samples in (("a", 30), ("b", 40)):
        run_collapse(_cfg(schedule="replace", arms=("none",), generations=2, samples=samples), tmp_path / name)
    compare.main([str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "c.md")])
    text = (tmp_path / "c.md").read_text()
    assert "| replace (a) | 2 | 2 |" in text and "| replace (b) | 2 | 2 |" in text
    assert text.startswith("# Runs of one schedule, differing in another setting")
