"""The command-line contract scripts rely on: commands, exit codes and messages."""
import hashlib
import json
import os
import random

import pyarrow as pa
import pytest
from typer.testing import CliRunner

import cli
from cli import app
from filterkit.testing.corpora import messy_corpus, write

runner = CliRunner()


@pytest.fixture(autouse=True)
def _progress_bar_settings(monkeypatch):
    """The CLI turns other libraries' progress bars off when stderr is no terminal (as under CliRunner): undo it."""
    for name in ("TQDM_DISABLE", "HF_HUB_DISABLE_PROGRESS_BARS"):
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)


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


def test_filter_clean_input_exits_zero_and_a_rerun_says_it_is_finished(tmp_path):
    write(tmp_path / "in" / "x.parquet", pa.table({"text": ["a", "b", "a"]}))
    args = ["filter", str(tmp_path / "in"), "-o", str(tmp_path / "o")]
    first = runner.invoke(app, args)
    assert first.exit_code == 0
    # The same command again does nothing: it says the run is finished and where its report is, shows the same
    # results, and exits as the run did (#30: it said "pass --resume to finish it").
    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    assert "already holds this run, finished" in again.stderr and "finish it" not in again.output
    assert f"{tmp_path / 'o' / 'report' / 'report.md'}" in again.stderr
    assert again.stdout == first.stdout
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
    # The detectors' other default rules stay (the second "same" is an exact copy); the calibrated one removes nothing.
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    assert report["counts"]["removed"] == 1 and set(report["filter_reasons"]) == {"exact_duplicate"}
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


def test_bad_key_value_options_are_usage_errors(tmp_path):
    write(tmp_path / "in" / "x.parquet", pa.table({"text": ["a"]}))
    unconfigured = runner.invoke(app, ["score", str(tmp_path / "in"), "-o", str(tmp_path / "o"), "--lm-model", "m"])
    assert unconfigured.exit_code == 2 and "detector 'lm' is not configured" in unconfigured.output
    lm = runner.invoke(app, ["train-detector", "--data", str(tmp_path / "in"), "-o", str(tmp_path / "m"),
                             "--lm-param", "x"])
    assert lm.exit_code == 2 and "--lm-param 'x': expected KEY=VALUE" in lm.output
    assert not (tmp_path / "o").exists() and not (tmp_path / "m").exists()


def _one_line_error(result, status: int, *fragments: str) -> None:
    assert result.exit_code == status, result.output
    assert "Traceback" not in result.output and result.stdout == ""
    # (a run without --detectors first says which it runs: a note, not part of the error)
    lines = [line for line in result.stderr.strip().splitlines() if not line.startswith("detectors: exact (")]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


@pytest.mark.parametrize("extra,message", [
    (["--detectors", "exakt"], "unknown detector 'exakt'"),
    (["--text-column", "body"], "no column 'body'"),
    (["--detectors", "minhash", "--param", "minhash.threshold=2"], "threshold must be in (0, 1]"),
    (["--detectors", "nosuch:X"], "No module named 'nosuch'"),
])
def test_a_usage_error_writes_nothing_so_the_corrected_command_runs(tmp_path, extra, message):
    # #30: each of these wrote _run.json, and the corrected command was refused ("holds a different run").
    write(tmp_path / "in" / "x.parquet", pa.table({"text": ["a", "b", "a"]}))
    args = ["filter", str(tmp_path / "in"), "-o", str(tmp_path / "o")]
    _one_line_error(runner.invoke(app, [*args, *extra]), 2, message)
    assert not (tmp_path / "o").exists()
    assert runner.invoke(app, args).exit_code == 0


def test_a_usage_error_with_overwrite_leaves_the_old_run_in_place(tmp_path):
    write(tmp_path / "in" / "x.parquet", pa.table({"text": ["a", "b", "a"]}))
    args = ["filter", str(tmp_path / "in"), "-o", str(tmp_path / "o")]
    assert runner.invoke(app, args).exit_code == 0
    before = {p: p.read_bytes() for p in (tmp_path / "o").rglob("*") if p.is_file()}
    _one_line_error(runner.invoke(app, [*args, "--overwrite", "--detectors", "exakt"]), 2, "unknown detector")
    assert {p: p.read_bytes() for p in (tmp_path / "o").rglob("*") if p.is_file()} == before


def test_an_output_directory_that_cannot_be_written_is_one_line(tmp_path, monkeypatch):
    write(tmp_path / "in" / "x.parquet", pa.table({"text": ["a"]}))
    (tmp_path / "file").write_text("not a directory")
    through_a_file = runner.invoke(app, ["filter", str(tmp_path / "in"), "-o", str(tmp_path / "file" / "o")])
    _one_line_error(through_a_file, 2, "cannot write to the output directory")
    # Read-only (the tests may run as root, whom permissions do not stop): the first write is refused.
    import filterkit.io.storage

    def refuse(data, uri):
        raise PermissionError(13, "Permission denied", uri)

    monkeypatch.setattr(filterkit.io.storage, "_write_bytes", refuse)
    read_only = runner.invoke(app, ["filter", str(tmp_path / "in"), "-o", str(tmp_path / "ro")])
    _one_line_error(read_only, 2, "cannot write to the output directory", "Permission denied")


def test_a_model_file_that_is_not_a_skops_zip_is_one_line(tmp_path):
    from detectors.classifier.train import TrainConfig, train_detector

    rng = random.Random(0)
    human = "the a cat dog house river walked slowly under bright morning sky old town market".split()
    machine = "furthermore moreover delve tapestry crucial landscape intricate notably overall robust".split()
    texts = [" ".join(rng.choice(vocabulary + human) for _ in range(40)) for _ in range(60)
             for vocabulary in (human, machine)]
    labels = ["human", "machine"] * 60
    model = train_detector(pa.table({"text": texts, "label": labels}), TrainConfig(folds=3)).save(tmp_path / "m")
    junk = b"not a zip file"
    (model / "text.skops").write_bytes(junk)
    manifest = json.loads((model / "manifest.json").read_text())
    manifest["files"]["text"]["sha256"] = hashlib.sha256(junk).hexdigest()
    (model / "manifest.json").write_text(json.dumps(manifest))
    write(tmp_path / "in" / "x.parquet", pa.table({"text": texts[:4]}))
    result = runner.invoke(app, ["filter", str(tmp_path / "in"), "-o", str(tmp_path / "o"), "--detectors",
                                 "classifier", "--classifier-model", str(model)])
    _one_line_error(result, 2, "text.skops: not a skops file")
    assert not (tmp_path / "o").exists()


def test_names_with_escape_sequences_and_markup_are_shown_escaped(tmp_path):
    # #30: a file name's escape sequences reached the terminal and report.md raw, and "[/red]" crashed the summary
    # (rich.errors.MarkupError) after the report was written.
    write(tmp_path / "in" / "good.parquet", pa.table({"text": ["a", "b"]}))
    # "[/red]" holds a slash: a directory "evil...[" and a file "red]...parquet" in it.
    evil = "evil\x1b]0;owned\x07\x1b[2J[/red][bold]\u202e.parquet"
    (tmp_path / "in" / evil).parent.mkdir()
    (tmp_path / "in" / evil).write_bytes(b"PAR1 not parquet at all")
    result = runner.invoke(app, ["filter", str(tmp_path / "in"), "-o", str(tmp_path / "o")])
    assert result.exit_code == 1, result.output
    assert "\x1b" not in result.output and "\x07" not in result.output and "\u202e" not in result.output
    assert "evil\\x1b]0;owned\\x07\\x1b[2J[/red][bold]\\u202e.parquet" in result.stdout
    md = (tmp_path / "o" / "report" / "report.md").read_text()
    assert "\x1b" not in md and "\x07" not in md and "\u202e" not in md and "\\x1b" in md


def test_escaped_log_lines(tmp_path, caplog):
    import logging

    from cli import _Printable

    record = logging.LogRecord("x", logging.WARNING, "f", 1, "file %s failed", ("a\x1b[31mb\u202e",), None)
    assert _Printable("%(message)s").format(record) == "file a\\x1b[31mb\\u202e failed"


def test_results_go_to_stdout_and_progress_to_stderr(tmp_path):
    write(tmp_path / "in" / "x.parquet", pa.table({"text": ["a", "b", "a"]}))
    result = runner.invoke(app, ["score", str(tmp_path / "in"), "-o", str(tmp_path / "o")])
    assert result.exit_code == 0, result.output
    assert "rows_in" in result.stdout and "report:" in result.stdout
    assert "score: 3/3 rows" in result.stderr and "rows_in" not in result.stderr
    # Without --detectors the run says which detectors it runs.
    assert "detectors: exact (the default" in result.stderr


def test_help_states_the_default_detectors():
    from filterkit import FilterConfig
    from filterkit.contract.registry import available

    assert [s.name for s in FilterConfig().detectors] == cli.DEFAULT_DETECTORS.split(",")
    import typer.main

    for command in ("filter", "score"):
        click_command = typer.main.get_command(app).commands[command]  # type: ignore[attr-defined]
        (option,) = [p for p in click_command.params if p.name == "detectors"]
        assert "Default: the config's, or without --config exact alone" in option.help
        assert all(name in option.help for name in available())
        assert "Without --detectors or --config it runs exact" in click_command.help
        assert "exact" in runner.invoke(app, [command, "--help"]).output


def test_removal_reasons_say_they_overlap_and_paths_are_never_cut(tmp_path):
    # #30: counts per reason added up to more than the rows removed, with nothing saying that reasons overlap; the
    # report's path was cut off at 80 columns.
    texts = [f"document number {i} about a river and a town and the market square" for i in range(6)]
    write(tmp_path / "in" / "x.parquet", pa.table({"text": texts + texts[:2] + [texts[3] + " too"]}))
    out = tmp_path / ("a-long-output-directory-name-" * 4) / "o"
    result = runner.invoke(app, ["filter", str(tmp_path / "in"), "-o", str(out), "--detectors", "exact,minhash"])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    overlap = report["reason_overlap"]
    assert report["filter_reasons"] == {"exact_duplicate": 2, "near_duplicate": 3}
    assert overlap["rows_one_reason"] + overlap["rows_several_reasons"] == report["counts"]["removed"] == 3
    assert overlap["rows_several_reasons"] == 2 and overlap["alone"] == {"near_duplicate": 1}
    assert "removed 3 rows: 1 for one reason, 2 for several (so the reasons below add up to 5)" in result.stdout
    assert f"report: {out}/report/report.md\n" in result.stdout
    md = (out / "report" / "report.md").read_text()
    assert "**1** rows were removed for exactly one reason and **2** for several" in md


def test_third_party_progress_bars_are_silenced_off_a_terminal(tmp_path):
    assert "TQDM_DISABLE" not in os.environ and "HF_HUB_DISABLE_PROGRESS_BARS" not in os.environ
    write(tmp_path / "in" / "x.parquet", pa.table({"text": ["a"]}))
    assert runner.invoke(app, ["filter", str(tmp_path / "in"), "-o", str(tmp_path / "o")]).exit_code == 0
    assert os.environ["TQDM_DISABLE"] == "1" and os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] == "1"
