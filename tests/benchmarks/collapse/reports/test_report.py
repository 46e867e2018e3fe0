"""The Markdown report of a collapse run: the summary table with survival, delays and benefit."""
from __future__ import annotations

from benchmarks.collapse import CollapseConfig, CollapseRule
from benchmarks.collapse.analysis.summary import summarise
from benchmarks.collapse.reports.report import markdown
from tests.benchmarks.collapse.fakes import curve_records, noisy_curves


def test_the_report_shows_survival_and_the_oracle_benefit_per_arm():
    recs = curve_records(noisy_curves(seeds=4, gens=5, gap=0.2))
    rules = (CollapseRule("test_ce", ">=", 1.2),)
    summary, details = summarise(recs, rules, 5, 4, "test_ce", n_boot=200)
    cfg = CollapseConfig(learner="gaussian", arms=("none", "oracle", "arm"), generations=5, seeds=4, plots=False)
    md = markdown(cfg, summary, details, recs, {}, None, None, rules)
    assert md.startswith("(run through the Python API: benchmarks.collapse.run_collapse)")
    row = next(line for line in md.splitlines() if line.startswith("| oracle |"))
    assert ">5" in row and "1.00 [1.00, 1.00]" in row
    assert "RMST" in md and "KM median" in md
