"""The side-by-side benefit table reads finished runs, and its numbers are the runs' own."""
from __future__ import annotations

import json

from benchmarks.collapse import run_collapse
from benchmarks.collapse.analysis import benefit
from tests.benchmarks.collapse.fakes import small_ngram as _cfg


def test_the_benefit_table_reports_each_runs_arms_with_their_own_numbers(tmp_path):
    run_collapse(_cfg(arms=("none", "oracle", "random"), budget=30), tmp_path / "budget")
    run_collapse(_cfg(arms=("none", "oracle")), tmp_path / "plain")
    out = tmp_path / "b.md"
    benefit.main([str(tmp_path / "budget"), str(tmp_path / "plain"), "--out", str(out)])
    text = out.read_text()
    assert f"python -m benchmarks.collapse benefit {tmp_path / 'budget'} " in text  # the command that made it
    assert (tmp_path / "b.png").is_file()
    summary = json.loads((tmp_path / "budget" / "results.json").read_text())["summary"]
    rows = {r["arm"]: r for r in benefit.arm_rows(tmp_path / "budget")}
    assert rows["oracle"]["benefit"] == 1.0 and rows["oracle"]["share"] == 0.0
    assert rows["random"]["area"] == summary["random"]["area"]
    assert f"| budget | random | {summary['random']['area']:.3f} [" in text
    assert 0.0 <= rows["random"]["fpr_mean"] <= rows["random"]["fpr_max"] <= 1.0
    assert sum(line.startswith("| plain |") for line in text.splitlines()) == 2
    # Each arm against random dropping, seed by seed: the oracle's lead is its area less random's.
    lead, (low, high) = rows["oracle"]["vs_random"]
    assert abs(lead - (summary["oracle"]["area"] - summary["random"]["area"])) < 1e-9 and low <= lead <= high
    assert rows["random"]["vs_random"] is None and rows["none"]["vs_random"][0] == -summary["random"]["area"]
    assert all(r["vs_random"] is None for r in benefit.arm_rows(tmp_path / "plain"))
