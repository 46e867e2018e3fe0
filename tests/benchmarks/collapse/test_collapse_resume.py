"""A collapse run continues from its per-generation checkpoints: killed or extended, it gives the same records."""
from __future__ import annotations

import json
import shutil

import pytest

from benchmarks.collapse import CollapseConfig, run_collapse
from benchmarks.collapse.checkpoint import ResumeError


def _cfg(**fields) -> CollapseConfig:
    base = dict(learner="ngram", schedule="fixed", alpha=0.5, arms=("none", "oracle", "random"), generations=3,
                seeds=2, samples=30, test_docs=20, doc_words=40, plots=False)
    return CollapseConfig(**(base | fields))


def _records(result: dict) -> list[dict]:
    return json.loads(json.dumps(result["records"], default=str))


def test_an_extended_run_continues_and_matches_a_fresh_one(tmp_path):
    fresh = run_collapse(_cfg(generations=3), tmp_path / "fresh")
    run_collapse(_cfg(generations=1, seeds=1), tmp_path / "grown")
    grown = run_collapse(_cfg(generations=3), tmp_path / "grown", resume=True)
    assert _records(grown) == _records(fresh)


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


@pytest.mark.parametrize("source", ["shared", "older"])
def test_crawls_carry_synthetic_rows_of_other_models(tmp_path, source):
    result = run_collapse(_cfg(arms=("none", "oracle"), foreign_share=0.5, foreign_source=source, seeds=1),
                          tmp_path)
    later = [r for r in result["records"] if r["generation"] > 0]
    crawl_synthetic = 30  # samples / alpha * (1 - alpha): half of each 60-row crawl
    expected = [15] * 3 if source == "shared" else [0, 15, 15]  # nothing older than the previous model at g1
    assert [r["crawl_foreign_rows"] for r in later if r["arm"] == "none"] == expected
    assert all(r["crawl_synthetic_share"] == 0.5 for r in later)
    assert all(r["filter_tpr"] == 1.0 for r in later if r["arm"] == "oracle")  # foreign rows are synthetic too
    assert crawl_synthetic == later[0]["crawl_rows"] // 2


def test_a_probe_scores_each_crawl_of_the_none_arm_at_a_trusted_threshold(tmp_path, shared_data):
    import pyarrow.parquet as pq

    from tests.benchmarks.collapse.test_collapse import _tiny_checkpoint

    corpus = pq.read_table(shared_data / "human" / "news_wiki_stories.parquet")["text"].to_pylist()[:200]
    lm = {"model": str(_tiny_checkpoint(tmp_path / "ckpt", corpus)), "min_tokens": 2, "max_tokens": 64}
    result = run_collapse(_cfg(arms=("none", "oracle"), seeds=1, generations=2, probes=("lm",), probe_rows=20,
                               detector_params={"lm": lm}), tmp_path / "o")
    none = [r for r in result["records"] if r["arm"] == "none" and r["generation"] > 0]
    assert all(r["probe_lm_rows"] == 20 and 0 <= r["probe_lm_fpr"] <= 1 and 0 <= r["probe_lm_tpr"] <= 1
               for r in none)
    assert not any("probe_lm_rows" in r for r in result["records"] if r["arm"] == "oracle")
    # The run's calibrate direction turns the probe round: same rows, the complementary ranking.
    flipped = run_collapse(_cfg(arms=("none",), seeds=1, generations=2, probes=("lm",), probe_rows=20,
                                detector_params={"lm": lm}, calibrate={"lm.fastdetect": "<="}), tmp_path / "f")
    low = [r for r in flipped["records"] if r["generation"] > 0]
    assert [r["probe_lm_auroc"] for r in low] == pytest.approx([1 - r["probe_lm_auroc"] for r in none])
    with pytest.raises(ValueError, match="direction must be"):
        run_collapse(_cfg(arms=("none",), probes=("lm",), detector_params={"lm": lm},
                          calibrate={"lm.fastdetect": ">"}), tmp_path / "bad")
    with pytest.raises(ValueError, match="probes score text"):
        run_collapse(_cfg(learner="gaussian", probes=("lm",)), tmp_path / "g")


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


def test_every_shipped_collapse_config_loads_and_builds_its_learner():
    from pathlib import Path

    from benchmarks.collapse import learners, load

    configs = sorted((Path(__file__).resolve().parents[3] / "benchmarks" / "collapse" / "configs").glob("*.yaml"))
    assert {"neural.yaml", "gpu_smollm2.yaml"} <= {c.name for c in configs}
    for path in configs:
        cfg = load(path)
        learners.build(cfg.learner, cfg.learner_params)


def test_every_shipped_text_config_fits_the_shared_human_pool():
    # A config that asks for more fresh human documents than the pool holds fails only after its model loads.
    from pathlib import Path

    from benchmarks.collapse import load, schedules
    from benchmarks.collapse.human import load_text_split
    from filterkit.testing.shared import shared_data_dir

    splits: dict[tuple[int, str], object] = {}
    for path in sorted((Path(__file__).resolve().parents[3] / "benchmarks" / "collapse" / "configs").glob("*.yaml")):
        cfg = load(path)
        if cfg.learner not in ("ngram", "transformer", "hf"):
            continue
        key = (cfg.doc_words, cfg.trusted_by)
        if key not in splits:
            splits[key] = load_text_split(shared_data_dir(), cfg.doc_words, cfg.test_fraction, cfg.trusted_fraction,
                                          cfg.trusted_by)
        split = splits[key]
        schedule = schedules.build(cfg.schedule, cfg.samples, cfg.alpha, cfg.budget, cfg.crawl())
        need = cfg.samples + schedule.human_per_generation() * cfg.generations
        assert need <= len(split.train), f"{path.name} needs {need} human documents, the pool holds {len(split.train)}"
        assert (cfg.test_docs or 0) <= len(split.test), f"{path.name}: test_docs {cfg.test_docs} > {len(split.test)}"


def test_the_schedule_comparison_reads_runs_and_shows_replace_drifting_more(tmp_path):
    from benchmarks.collapse import compare

    for schedule in ("replace", "accumulate"):
        run_collapse(_cfg(schedule=schedule, arms=("none",), generations=3), tmp_path / schedule)
    compare.main([str(tmp_path / "replace"), str(tmp_path / "accumulate"), "--out", str(tmp_path / "c.md")])
    text = (tmp_path / "c.md").read_text()
    assert "| replace | 2 | 3 |" in text and "| accumulate | 2 | 3 |" in text and (tmp_path / "c.png").is_file()
    runs = [compare.summarise(tmp_path / s, "none") for s in ("replace", "accumulate")]
    assert runs[0]["ratio_last"][0] > runs[1]["ratio_last"][0]  # replace loses more than accumulate


def test_checkpointing_can_be_switched_off_for_cheap_runs(tmp_path):
    run_collapse(_cfg(learner="gaussian", schedule="replace", seeds=1, numeric_test_size=100, checkpoint=False),
                 tmp_path)
    assert not (tmp_path / "_state").exists()


def test_a_run_refused_for_its_settings_leaves_no_state(tmp_path):
    with pytest.raises(ValueError, match="foreign synthetic rows are text"):
        run_collapse(_cfg(learner="gaussian", foreign_share=0.5), tmp_path)
    assert not (tmp_path / "_state").exists()
