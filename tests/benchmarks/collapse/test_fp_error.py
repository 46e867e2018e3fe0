"""The floating-point-error experiment end to end, and the ``fp-error`` subcommand."""
from __future__ import annotations

import json

from benchmarks.collapse.experiment.fp_replay import FPConfig
from benchmarks.collapse.fp_error import main, run_fp_error
from benchmarks.collapse.learners import precision


def test_fp_error_runs_end_to_end(tmp_path):
    cfg = FPConfig(sizes=(50, 200), means=(0.0, 100.0), rounding_seeds=4, seeds=12, generations=15, samples=30,
                   collapse_means=(0.0, 100.0), gmm_seeds=3, gmm_generations=3, gmm_offsets=(0.0,), bootstrap=20)
    results = run_fp_error(cfg, tmp_path, command="python -m benchmarks.collapse fp-error -o x")
    for f in ("results.json", "results.md", "rounding.png", "km_gaussian.png", "km_gmm.png"):
        assert (tmp_path / f).stat().st_size > 0
    md = (tmp_path / "results.md").read_text()
    assert md.splitlines()[0] == "`python -m benchmarks.collapse fp-error -o x`"
    saved = json.loads((tmp_path / "results.json").read_text())
    assert set(saved["gaussian"]) == {"0.0", "100.0"} and set(saved["gaussian"]["0.0"]) == set(precision.DTYPES)
    assert saved["gaussian"]["0.0"]["float64"]["logrank_p"] == 1.0
    assert len(saved["rounding"]) == 2 * 2 * 4 and results["seconds"]["total"] > 0


def test_the_fp_error_subcommand_writes_its_own_command(tmp_path):
    argv = ["-o", str(tmp_path), "--seeds", "4", "--generations", "3", "--samples", "20", "--rounding-seeds", "3",
            "--sizes", "20", "--gmm-seeds", "2", "--gmm-generations", "2", "--bootstrap", "10", "--no-plots"]
    main(argv)
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["command"] == "python -m benchmarks.collapse fp-error " + " ".join(argv)
    assert saved["config"]["seeds"] == 4 and saved["config"]["sizes"] == [20] and not saved["config"]["plots"]
