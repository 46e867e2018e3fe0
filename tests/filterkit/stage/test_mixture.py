"""Mixture-proportion estimation: planted machine shares recovered, a lower bound when the classes overlap, and the
estimate in the report of a run."""
import json

import numpy as np
import pyarrow as pa
import pytest

import filterkit
from filterkit import DetectorSpec, FilterConfig
from filterkit.config import MixtureSpec
from filterkit.stage.mixture import machine_share
from filterkit.testing.corpora import write


@pytest.mark.parametrize("share", [0.0, 0.05, 0.2, 0.5])
def test_planted_shares_are_recovered_when_machine_text_stands_apart(share):
    rng = np.random.default_rng(int(share * 100))
    n = 4000
    machine = int(share * n)
    crawl = np.concatenate([rng.normal(0, 1, n - machine), rng.normal(4, 1, machine)])
    est = machine_share(crawl, rng.normal(0, 1, 3000), "x", bootstrap=200)
    assert abs(est.share - share) <= 0.05
    assert est.low <= est.share <= est.high and est.high - est.low < 0.1


def test_overlapping_classes_give_a_lower_bound():
    rng = np.random.default_rng(7)
    crawl = np.concatenate([rng.normal(0, 1, 3000), rng.normal(1, 1, 1000)])  # 25% machine, heavy overlap
    est = machine_share(crawl, rng.normal(0, 1, 3000), "x", bootstrap=200)
    assert est.share < 0.25 and est.low < 0.25


def test_direction_and_too_small_a_reference():
    rng = np.random.default_rng(3)
    crawl = np.concatenate([rng.normal(0, 1, 800), rng.normal(-5, 1, 200)])  # machine scores low (log-likelihood)
    assert abs(machine_share(crawl, rng.normal(0, 1, 2000), "x", machine_high=False, bootstrap=50).share - 0.2) < 0.05
    with pytest.raises(ValueError, match="at least 10 human reference rows"):
        machine_share(crawl, np.zeros(5), "x")


def test_the_report_estimates_the_share_of_a_run(tmp_path):
    plain = [f"The council met on day {i} to discuss the budget for roads and schools." for i in range(300)]
    attacked = [f"The cOuncil mEt on dAy {i} to diScuss the bUdget foR roAds and scHools." for i in range(60)]
    write(tmp_path / "crawl" / "c.parquet", pa.table({"text": plain[:240] + attacked}))
    reference = filterkit.score([str(write(tmp_path / "human" / "h.parquet", pa.table({"text": plain[240:]})))],
                                tmp_path / "ref", FilterConfig(detectors=(DetectorSpec("obfuscation"),)))
    cfg = FilterConfig(detectors=(DetectorSpec("obfuscation"),), rules=(),
                       mixture=MixtureSpec("obfuscation.mixed_case", str(reference.out)))
    result = filterkit.run([str(tmp_path / "crawl")], tmp_path / "o", cfg)
    share = result.report["machine_share"]
    assert abs(share["share"] - 60 / 300) <= 0.05 and share["reference_rows"] == 60
    assert "How much of the input is machine-written" in (result.out / "report" / "report.md").read_text()
    assert json.loads((result.out / "report.json").read_text())["machine_share"]["crawl_rows"] == 300


def test_calibrate_writes_the_reference_and_the_config_points_at_it(tmp_path):
    from typer.testing import CliRunner

    from cli import app

    runner = CliRunner()
    plain = [f"The council met on day {i} to discuss the budget for roads and schools." for i in range(300)]
    attacked = [f"The cOuncil mEt on dAy {i} to diScuss the bUdget foR roAds and scHools." for i in range(100)]
    write(tmp_path / "human" / "h.parquet", pa.table({"text": plain[:150]}))
    write(tmp_path / "crawl" / "c.parquet", pa.table({"text": plain[150:] + attacked}))
    cfg, ref = tmp_path / "cfg.yaml", tmp_path / "reference.parquet"
    done = runner.invoke(app, ["calibrate", str(tmp_path / "human"), "--detectors", "obfuscation", "--column",
                               "obfuscation.mixed_case", "-o", str(cfg), "--mixture-reference", str(ref)])
    assert done.exit_code == 0, done.output
    assert "mixture" in cfg.read_text() and ref.exists()
    run = runner.invoke(app, ["filter", str(tmp_path / "crawl"), "-o", str(tmp_path / "o"), "--config", str(cfg)])
    assert run.exit_code == 0, run.output
    share = json.loads((tmp_path / "o" / "report.json").read_text())["machine_share"]
    assert abs(share["share"] - 0.4) <= 0.05 and share["reference_rows"] == 150
