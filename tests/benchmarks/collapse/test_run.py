"""``run_collapse`` and the ``run`` subcommand: the outputs a run writes, and what it refuses."""
from __future__ import annotations

import json

import pytest

from benchmarks.collapse import CollapseConfig, run_collapse
from benchmarks.collapse.run import main
from tests.benchmarks.collapse.fakes import cfg as _cfg
from tests.benchmarks.collapse.fakes import small_ngram as _small


def test_results_json_has_the_issue_shape(tmp_path):
    cfg = CollapseConfig(learner="gmm", schedule="replace", arms=("none", "oracle", "random"), generations=3,
                         seeds=2, samples=40, numeric_test_size=2000)
    result = run_collapse(cfg, tmp_path, command="python -m benchmarks.collapse run --learner gmm")
    on_disk = json.loads((tmp_path / "results.json").read_text())
    assert set(on_disk) == {"records", "summary"}
    assert set(on_disk["summary"]) == {"none", "oracle", "random"}
    for arm in on_disk["summary"].values():
        assert {"collapse_time", "delay", "oracle_benefit", "survival"} <= set(arm)
        assert set(arm["delay"]) == {"median", "ci_low", "ci_high"}
        assert len(arm["collapse_time"]) == 2
    first = on_disk["records"][0]
    assert {"arm", "seed", "generation", "test_ce", "sigma_ratio", "w2"} <= set(first)
    assert len(result["records"]) == len(on_disk["records"])
    # Under replace the oracle drops every row: recorded as a collapse, never a silent zero.
    oracle = [r for r in on_disk["records"] if r["arm"] == "oracle" and r["generation"] == 1]
    assert all(r["collapsed"] == 1 and r["train_size"] == 0 and r.get("test_ce") is None for r in oracle)
    md = (tmp_path / "results.md").read_text()
    assert md.startswith("`python -m benchmarks.collapse run --learner gmm`")
    assert (tmp_path / "results.png").stat().st_size > 1000
    assert not (tmp_path / "_work").exists()


def test_runs_repeat_exactly(tmp_path):
    cfg = _cfg(learner="gmm", schedule="fixed", arms=("none", "random", "oracle"), generations=3, seeds=2,
               samples=30, learner_params={"components": 1})
    a = run_collapse(cfg, tmp_path / "a")["records"]
    b = run_collapse(cfg, tmp_path / "b")["records"]
    assert a == b


def test_the_run_subcommand_writes_every_output_and_its_own_command(tmp_path, capsys):
    out = tmp_path / "run"
    main(["--learner", "gmm", "--schedule", "fixed", "--arms", "none,oracle,random", "--generations", "2", "--seeds",
          "2", "--samples", "30", "--crawl-rows", "30", "--learner-param", "components=1", "-o", str(out)])
    for name in ("results.json", "results.md", "results.png", "run.json"):
        assert (out / name).is_file()
    run = json.loads((out / "run.json").read_text())
    assert run["config"]["learner_params"] == {"components": 1}
    command = ("python -m benchmarks.collapse run --learner gmm --schedule fixed --arms none,oracle,random "
               f"--generations 2 --seeds 2 --samples 30 --crawl-rows 30 --learner-param components=1 -o {out}")
    assert run["command"] == command
    assert (out / "results.md").read_text().startswith(f"`{command}`")
    assert "collapse T per seed" in capsys.readouterr().out


def test_the_run_subcommand_takes_a_config_set_and_detector_params(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("learner: gaussian\nschedule: replace\narms: [none]\ngenerations: 1\nseeds: 1\n"
                      "numeric_test_size: 100\nplots: false\n")
    out = tmp_path / "run"
    main(["--config", str(config), "--set", "bootstrap=10", "--param", "exact.x=1", "--keep-work", "-o", str(out)])
    run = json.loads((out / "run.json").read_text())
    assert run["config"]["bootstrap"] == 10 and run["config"]["detector_params"] == {"exact": {"x": 1}}
    assert run["config"]["keep_work"] is True
    assert run["command"].endswith(f"--param exact.x=1 --set bootstrap=10 --keep-work -o {out}")


def test_the_run_subcommand_reports_bad_input_as_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--learner", "lstm", "-o", str(tmp_path / "a")])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "unknown learner 'lstm'" in err and "ngram" in err
    with pytest.raises(SystemExit) as exit_:
        main(["--learner-param", "x", "-o", str(tmp_path / "b")])
    assert exit_.value.code == 2 and "--learner-param 'x': expected KEY=VALUE" in capsys.readouterr().err
    assert not (tmp_path / "b").exists()


def test_checkpointing_can_be_switched_off_for_cheap_runs(tmp_path):
    run_collapse(_small(learner="gaussian", schedule="replace", seeds=1, numeric_test_size=100, checkpoint=False),
                 tmp_path)
    assert not (tmp_path / "_state").exists()


def test_a_run_refused_for_its_settings_leaves_no_state(tmp_path):
    with pytest.raises(ValueError, match="foreign synthetic rows are text"):
        run_collapse(_small(learner="gaussian", foreign_share=0.5), tmp_path)
    assert not (tmp_path / "_state").exists()
