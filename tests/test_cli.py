"""The command-line contract scripts rely on: commands, exit codes and messages."""
import json

import pyarrow as pa
from typer.testing import CliRunner

from cli import app
from filterkit.testing.corpora import messy_corpus, write

runner = CliRunner()


def test_help_lists_commands():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("filter", "score", "calibrate", "report", "train-detector", "train-router", "index"):
        assert command in result.output


def test_benchmarks_and_the_demo_are_not_filterkit_commands():
    # They run from a checkout, as python -m benchmarks.<family> (the wheel holds no benchmarks to import).
    for args in (["demo"], ["bench", "detect", "--help"], ["bench", "chains", "--help"], ["bench", "collapse"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 2 and "No such command" in result.output, args


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


def _options(command: str) -> set[str]:
    import typer.main

    params = typer.main.get_command(app).commands[command].params  # type: ignore[attr-defined]
    return {d for p in params if p.param_type_name == "option" for d in p.opts}


def test_filter_and_score_share_their_options():
    shared = {"-o", "--out", "--config", "--detectors", "--text-column", "--id-column", "--workers", "--resume",
              "--overwrite", "--param", "--executor", "--ray-address", "--lm-model", "--lm-observer",
              "--classifier-model", "--replay-index", "--rows-per-shard", "--reuse-scores", "--output-format",
              "--work-dir"}
    assert _options("score") == shared
    assert _options("filter") == shared | {"--mode"}


def test_one_parser_for_every_key_value_option():
    from cli import _parse_params
    from filterkit.engine.pipeline import UsageError

    assert _parse_params(["a.b=1", "a.c=[x]", "d.e=no"], "--param", dotted=True) == {"a": {"b": 1, "c": ["x"]},
                                                                                      "d": {"e": False}}
    assert _parse_params(["k=0.5", "k=2", "s=text"], "--lm-param", dotted=False) == {"k": 2, "s": "text"}
    for items, dotted, known, message in ((["lm=1"], True, None, "--param 'lm=1': expected DETECTOR.NAME=VALUE"),
                                          (["k"], False, None, "--x 'k': expected KEY=VALUE"),
                                          (["=1"], False, None, "--x '=1': expected KEY=VALUE"),
                                          (["lm.m=1"], True, {"exact"}, "detector 'lm' is not configured"),
                                          (["a=["], False, None, "VALUE is not YAML")):
        try:
            _parse_params(items, "--param" if dotted else "--x", dotted, known)
        except UsageError as exc:
            assert message in str(exc)
        else:
            raise AssertionError(f"{items} parsed")


def test_bad_key_value_options_are_usage_errors(tmp_path):
    write(tmp_path / "in" / "x.parquet", pa.table({"text": ["a"]}))
    unconfigured = runner.invoke(app, ["score", str(tmp_path / "in"), "-o", str(tmp_path / "o"), "--lm-model", "m"])
    assert unconfigured.exit_code == 2 and "detector 'lm' is not configured" in unconfigured.output
    lm = runner.invoke(app, ["train-detector", "--data", str(tmp_path / "in"), "-o", str(tmp_path / "m"),
                             "--lm-param", "x"])
    assert lm.exit_code == 2 and "--lm-param 'x': expected KEY=VALUE" in lm.output
    assert not (tmp_path / "o").exists() and not (tmp_path / "m").exists()
