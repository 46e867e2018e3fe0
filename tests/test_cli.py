"""The command-line contract scripts rely on: commands, exit codes and messages."""
import json

import pyarrow as pa
from typer.testing import CliRunner

from cli import app

from .corpus import messy_corpus, write

runner = CliRunner()


def test_help_lists_commands():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("filter", "score", "calibrate", "report", "demo"):
        assert command in result.output


def test_filter_clean_input_exits_zero_and_refuses_rerun(tmp_path):
    write(tmp_path / "in" / "x.parquet", pa.table({"text": ["a", "b", "a"]}))
    args = ["filter", str(tmp_path / "in"), "-o", str(tmp_path / "o")]
    assert runner.invoke(app, args).exit_code == 0
    again = runner.invoke(app, args)
    assert again.exit_code == 2 and "--resume" in again.output
    assert runner.invoke(app, [*args, "--resume"]).exit_code == 0
    assert runner.invoke(app, [*args, "--overwrite", "--mode", "tag"]).exit_code == 0
    assert json.loads((tmp_path / "o" / "report.json").read_text())["mode"] == "tag"


def test_filter_exits_one_when_a_file_failed(tmp_path):
    messy = messy_corpus(tmp_path / "in")
    result = runner.invoke(app, ["filter", str(messy), "-o", str(tmp_path / "o"), "--param", "exact.fold_case=false"])
    assert result.exit_code == 1
    assert "corrupt.parquet" in result.output
    assert json.loads((tmp_path / "o" / "report.json").read_text())["detectors"][0]["params"] == {"fold_case": False}


def test_clear_errors(tmp_path):
    write(tmp_path / "in" / "x.parquet", pa.table({"body": ["a"]}))
    missing = runner.invoke(app, ["filter", str(tmp_path / "in"), "-o", str(tmp_path / "o")])
    assert missing.exit_code == 2 and "no column 'text'" in missing.output and "['body']" in missing.output
    unknown = runner.invoke(app, ["score", str(tmp_path / "in"), "-o", str(tmp_path / "o2"), "--text-column", "body",
                                  "--detectors", "exact,bogus"])
    assert unknown.exit_code == 2 and "known detectors" in unknown.output
    bad_param = runner.invoke(app, ["filter", str(tmp_path / "in"), "-o", str(tmp_path / "o3"), "--param", "lm=1"])
    assert bad_param.exit_code == 2 and "DETECTOR.NAME=VALUE" in bad_param.output


def test_calibrate_and_report(tmp_path):
    write(tmp_path / "h" / "h.parquet", pa.table({"text": [f"doc {i}" for i in range(50)] + ["same"] * 2}))
    out_cfg = tmp_path / "calibrated.yaml"
    result = runner.invoke(app, ["calibrate", str(tmp_path / "h"), "--column", "exact.cluster_size",
                                 "--max-fpr", "0.01", "-o", str(out_cfg)])
    assert result.exit_code == 0, result.output
    assert "exact.cluster_size" in out_cfg.read_text()
    run = runner.invoke(app, ["filter", str(tmp_path / "h"), "-o", str(tmp_path / "o"), "--config", str(out_cfg)])
    assert run.exit_code == 0
    assert json.loads((tmp_path / "o" / "report.json").read_text())["counts"]["removed"] == 0
    (tmp_path / "o" / "report" / "report.md").unlink()
    assert runner.invoke(app, ["report", str(tmp_path / "o")]).exit_code == 0
    assert (tmp_path / "o" / "report" / "report.md").exists()


def test_unreachable_ray_address_is_a_clear_error_before_work(tmp_path):
    write(tmp_path / "in" / "x.parquet", pa.table({"text": ["a"]}))
    result = runner.invoke(app, ["filter", str(tmp_path / "in"), "-o", str(tmp_path / "o"), "--executor", "ray",
                                 "--ray-address", "127.0.0.1:1"])
    assert result.exit_code == 2 and "cannot be reached" in result.output
    assert not (tmp_path / "o").exists()
