"""The paired-drift comparison of two collapse runs."""
from __future__ import annotations

import json

import pytest

from benchmarks.collapse.analysis import drift


def _run(path, ce, params):
    """A run directory holding per-seed test_ce lists (seed -> [g0, g1, ...])."""
    path.mkdir()
    records = [{"arm": "none", "seed": s, "generation": g, "test_ce": v}
               for s, values in enumerate(ce) for g, v in enumerate(values)]
    (path / "results.json").write_text(json.dumps({"records": records}))
    (path / "run.json").write_text(json.dumps({"config": {"learner_params": params}}))
    return path


def test_paired_difference_over_common_seeds_against_the_base_spread(tmp_path):
    base = _run(tmp_path / "base", [[5.0, 6.0], [5.2, 6.4], [5.4, 6.2]], {})
    low = _run(tmp_path / "low", [[5.1, 5.9], [5.3, 6.3]], {"dtype": "bfloat16", "precision": "weights"})
    rows = drift.paired(base, low, "none", "test_ce")
    assert [r["seeds"] for r in rows] == [2, 2]
    assert rows[0]["diff"][0] == pytest.approx(0.1) and rows[1]["diff"][0] == pytest.approx(-0.1)
    assert rows[0]["base_sd"] == pytest.approx(0.2) and rows[0]["base_seeds"] == 3
    assert "bfloat16 weights" in drift.label(low)
    out = tmp_path / "cmp.md"
    drift.main([str(base), str(low), "--out", str(out)])
    assert "| 0 | 2 | +0.1000" in out.read_text() and out.with_suffix(".png").is_file()
    assert f"python -m benchmarks.collapse drift {base} {low} --out {out}" in out.read_text()
