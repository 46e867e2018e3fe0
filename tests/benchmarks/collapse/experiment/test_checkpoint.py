"""A collapse run continues from its per-generation checkpoints: killed or extended, it gives the same records."""
from __future__ import annotations

import json
import shutil

import pytest

from benchmarks.collapse import run_collapse
from benchmarks.collapse.experiment.checkpoint import ResumeError
from tests.benchmarks.collapse.fakes import small_ngram as _cfg


def _records(result: dict) -> list[dict]:
    return json.loads(json.dumps(result["records"], default=str))


def test_an_extended_run_continues_and_matches_a_fresh_one(tmp_path):
    fresh = run_collapse(_cfg(generations=3), tmp_path / "fresh")
    run_collapse(_cfg(generations=1, seeds=1), tmp_path / "grown")
    first = json.loads((tmp_path / "grown" / "run.json").read_text())["seconds"]
    grown = run_collapse(_cfg(generations=3), tmp_path / "grown", resume=True)
    assert _records(grown) == _records(fresh)
    # the continued run's time adds to the first invocation's, which it keeps
    timing = json.loads((tmp_path / "grown" / "run.json").read_text())
    assert timing["seconds_per_invocation"][0] == first and len(timing["seconds_per_invocation"]) == 2
    assert timing["seconds"] == pytest.approx(sum(timing["seconds_per_invocation"]), abs=0.11)


def test_a_killed_run_resumes_from_its_last_generation(tmp_path):
    fresh = run_collapse(_cfg(), tmp_path / "fresh")
    run_collapse(_cfg(), tmp_path / "killed")
    state = tmp_path / "killed" / "_state"
    # As if killed during generation 3 of one lineage and before any of seed 1's: those checkpoints are missing.
    for lineage in (state / "seed0").iterdir():
        shutil.rmtree(lineage / "g003", ignore_errors=True)
    shutil.rmtree(state / "seed1")
    (state / "seed0" / "start" / ".g001.tmp").mkdir()  # a half-written generation is ignored
    assert _records(run_collapse(_cfg(), tmp_path / "killed", resume=True)) == _records(fresh)


def test_a_resumed_runs_progress_counts_only_the_generations_it_trains(tmp_path):
    run_collapse(_cfg(), tmp_path / "o")
    shutil.rmtree(tmp_path / "o" / "_state" / "seed1")  # seed 1's 3 arms x 3 generations are left to train
    calls: list[tuple[int, int]] = []
    run_collapse(_cfg(), tmp_path / "o", resume=True, progress=lambda phase, done, total: calls.append((done, total)))
    assert {total for _, total in calls} == {9}
    # the start (so the rate counts the first generation), one call per trained generation, then the end
    assert [done for done, _ in calls] == [0, *range(1, 10), 9]


def test_resume_refuses_another_config_and_a_rerun_needs_resume(tmp_path):
    run_collapse(_cfg(generations=1, seeds=1), tmp_path / "o")
    with pytest.raises(ResumeError, match="pass --resume"):
        run_collapse(_cfg(generations=1, seeds=1), tmp_path / "o")
    with pytest.raises(ResumeError, match=r"differs in \['samples'\]"):
        run_collapse(_cfg(generations=1, seeds=1, samples=31), tmp_path / "o", resume=True)


def test_only_the_latest_model_of_a_lineage_is_kept(tmp_path):
    run_collapse(_cfg(learner="gaussian", schedule="replace", generations=3, seeds=1, samples=20,
                      numeric_test_size=200), tmp_path / "o")
    lineage = next(p for p in (tmp_path / "o" / "_state" / "seed0").iterdir() if p.name != "start")
    assert sorted(p.name for p in lineage.iterdir()) == ["g001", "g002", "g003"]


@pytest.mark.parametrize("warm", [False, True])
def test_a_torch_learner_resumes_from_its_saved_weights(tmp_path, warm):
    tiny = {"vocab_size": 300, "layers": 1, "width": 16, "heads": 2, "block": 32, "epochs": 1, "threads": 1,
            "batch_size": 8, "warm_start": warm}
    cfg = _cfg(learner="transformer", schedule="replace", arms=("none",), seeds=1, samples=16, test_docs=8,
               doc_words=20, learner_params=tiny)
    fresh = run_collapse(cfg, tmp_path / "fresh")
    run_collapse(cfg.replace(generations=2), tmp_path / "grown")
    lineage = next(p for p in (tmp_path / "grown" / "_state" / "seed0").iterdir() if p.name != "start")
    assert (lineage / "g002" / "model" / "model.safetensors").is_file()
    assert not (lineage / "g001" / "model").exists()
    assert _records(run_collapse(cfg, tmp_path / "grown", resume=True)) == _records(fresh)
    assert all("nll_per_word" in r and "nll_tail" in r for r in fresh["records"])


def test_a_continued_run_may_add_arms_but_never_drop_one_that_ran(tmp_path):
    fresh = run_collapse(_cfg(generations=2), tmp_path / "fresh")
    run_collapse(_cfg(generations=2, arms=("none", "oracle")), tmp_path / "grown")
    grown = run_collapse(_cfg(generations=2), tmp_path / "grown", resume=True)
    assert _records(grown) == _records(fresh)
    with pytest.raises(ResumeError, match=r"differs in \['arms'\]"):
        run_collapse(_cfg(generations=2, arms=("oracle", "random")), tmp_path / "grown", resume=True)
    # An arm named but never run (its lineage is not on disk) may be dropped again.
    marker = tmp_path / "grown" / "_state" / "config.json"
    saved = json.loads(marker.read_text())
    marker.write_text(json.dumps(saved | {"arms": [*saved["arms"], "replay"]}))
    assert _records(run_collapse(_cfg(generations=2), tmp_path / "grown", resume=True)) == _records(fresh)
