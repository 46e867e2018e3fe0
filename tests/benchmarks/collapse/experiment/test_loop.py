"""The recursive-training loop: it reproduces known collapse behaviour, records breakdowns instead of silent zeros,
follows each schedule, and carries other models' text and probes in its crawls."""
from __future__ import annotations

import math

import numpy as np
import pytest

from benchmarks.collapse import run_collapse
from benchmarks.collapse.data.human import NotEnoughHumanData
from tests.benchmarks.collapse.fakes import cfg as _cfg
from tests.benchmarks.collapse.fakes import small_ngram as _small
from tests.benchmarks.collapse.fakes import tiny_checkpoint


def _by(records: list[dict], arm: str, metric: str) -> np.ndarray:
    """Per generation, the mean of ``metric`` over seeds for one arm."""
    gens = sorted({r["generation"] for r in records if r["arm"] == arm})
    return np.array([np.mean([r[metric] for r in records if r["arm"] == arm and r["generation"] == g])
                     for g in gens])


def _final(records: list[dict], arm: str, metric: str) -> np.ndarray:
    last = max(r["generation"] for r in records if r["arm"] == arm)
    return np.array([r[metric] for r in records if r["arm"] == arm and r["generation"] == last])


def test_gaussian_sigma_collapses_under_replace(tmp_path):
    """Shumailov et al., Theorem 3.1: refitting on N own samples per generation drives sigma to zero."""
    cfg = _cfg(learner="gaussian", schedule="replace", arms=("none",), generations=200, seeds=8,
               samples=50, numeric_test_size=2000)
    result = run_collapse(cfg, tmp_path)
    final = _final(result["records"], "none", "sigma_ratio")
    assert np.median(final) < 0.35
    assert all(t < 200 for t in result["summary"]["none"]["collapse_time"])


@pytest.mark.parametrize("schedule", ["fixed", "accumulate"])
def test_gaussian_sigma_stays_with_fresh_or_accumulated_data(tmp_path, schedule):
    """10% fresh human data per generation, or keeping all past data, holds sigma near its start."""
    cfg = _cfg(learner="gaussian", schedule=schedule, arms=("none",), generations=200, seeds=8,
               samples=50, alpha=0.1, crawl_rows=50, numeric_test_size=2000)
    records = run_collapse(cfg, tmp_path)["records"]
    final = _final(records, "none", "sigma_ratio")
    assert 0.6 < np.median(final) < 1.6
    assert min(r["sigma_ratio"] for r in records) > 0.3


def test_ngram_loses_rare_types_under_replace(tmp_path):
    """Each generation of the n-gram model can produce fewer human types and less of the rare tail."""
    cfg = _cfg(learner="ngram", schedule="replace", arms=("none",), generations=3, seeds=2,
               samples=80, test_docs=40)
    records = run_collapse(cfg, tmp_path)["records"]
    for metric in ("human_types_kept", "tail_coverage"):
        curve = _by(records, "none", metric)
        assert np.all(np.diff(curve) < 0), (metric, curve)
    assert _by(records, "none", "tail_coverage")[-1] < 0.6 * _by(records, "none", "tail_coverage")[0]
    test_ce = _by(records, "none", "test_ce")
    assert test_ce[-1] > test_ce[0]


def test_ngram_oracle_keeps_rare_types(tmp_path):
    """With fresh human data in each crawl, dropping exactly the synthetic rows keeps the model's human types
    where they started, while training on the whole crawl loses them."""
    cfg = _cfg(learner="ngram", schedule="fixed", alpha=0.25, arms=("none", "oracle"), generations=2,
               seeds=2, samples=80, test_docs=40)
    records = run_collapse(cfg, tmp_path)["records"]
    oracle, none = _by(records, "oracle", "human_types_kept"), _by(records, "none", "human_types_kept")
    assert np.all(oracle[1:] > 0.85 * oracle[0]), oracle
    assert none[-1] < 0.9 * oracle[-1], (none, oracle)
    assert all(r["synthetic_share"] == 0.0 for r in records if r["arm"] == "oracle")
    assert all(r["filter_tpr"] == 1.0 and r["filter_fpr"] == 0.0
               for r in records if r["arm"] == "oracle" and r["generation"] > 0)


def test_empty_samples_are_recorded_as_collapse(tmp_path, parrot):
    cfg = _cfg(learner="silent", schedule="replace", arms=("none",), generations=3, seeds=1, samples=30,
               test_docs=10)
    result = run_collapse(cfg, tmp_path)
    records = result["records"]
    assert records[0]["collapsed"] == 1 and records[0]["collapse_reason"] == "every sample was empty"
    assert len(records) == 1
    assert result["summary"]["none"]["collapse_time"] == [0]
    assert math.isnan(records[0]["tail_coverage"])


def test_too_little_human_data_is_a_clear_error(tmp_path):
    cfg = _cfg(learner="ngram", schedule="fixed", alpha=0.5, arms=("none",), generations=10, seeds=1,
               samples=2000)
    with pytest.raises(NotEnoughHumanData, match="the human training pool holds"):
        run_collapse(cfg, tmp_path)


def test_accumulate_keeps_old_rows_and_dedups_new_copies_of_them(tmp_path, parrot):
    cfg = _cfg(learner="parrot", schedule="accumulate", arms=("none", "exact"),
               generations=1, seeds=1, samples=40, test_docs=10)
    records = run_collapse(cfg, tmp_path)["records"]
    none = [r for r in records if r["arm"] == "none"]
    exact = [r for r in records if r["arm"] == "exact" and r["generation"] > 0]
    assert [r["train_size"] for r in none] == [40, 80]
    # Every new synthetic row copies a kept row, so exact dedup (seeing the old rows too) drops all of them.
    assert all(r["filter_tpr"] == 1.0 and r["train_size"] == 40 for r in exact)


def test_subsample_trains_on_a_fixed_budget(tmp_path):
    cfg = _cfg(learner="gaussian", schedule="subsample", arms=("none",), generations=4, seeds=1,
               samples=30, budget=20, numeric_test_size=500)
    records = run_collapse(cfg, tmp_path)["records"]
    assert [r["train_size"] for r in records] == [30, 20, 20, 20, 20]
    assert 0.2 <= records[1]["synthetic_share"] <= 0.8  # 30 human and 30 synthetic rows, subsampled to 20


def test_fixed_with_a_budget_trains_every_arm_on_as_many_rows(tmp_path):
    fields = dict(learner="gaussian", schedule="fixed", arms=("none", "oracle"), generations=2, seeds=1,
                  samples=30, alpha=0.25, numeric_test_size=500)
    records = [r for r in run_collapse(_cfg(budget=30, **fields), tmp_path)["records"] if r["generation"] > 0]
    # A 120-row crawl of 30 human rows: the oracle keeps exactly those, no filter keeps all 120 and trains on 30.
    assert all(r["train_size"] == 30 for r in records)
    assert all(r["synthetic_share"] == 0.0 for r in records if r["arm"] == "oracle")
    assert all(0.5 <= r["synthetic_share"] <= 0.95 for r in records if r["arm"] == "none")
    assert "each model trains on 30 of the kept rows" in (tmp_path / "results.md").read_text()
    unbudgeted = run_collapse(_cfg(**fields), tmp_path / "all")["records"]
    assert {r["train_size"] for r in unbudgeted if r["arm"] == "none" and r["generation"] > 0} == {120}


@pytest.mark.parametrize("source", ["shared", "older"])
def test_crawls_carry_synthetic_rows_of_other_models(tmp_path, source):
    result = run_collapse(_small(arms=("none", "oracle"), foreign_share=0.5, foreign_source=source, seeds=1),
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

    corpus = pq.read_table(shared_data / "human" / "news_wiki_stories.parquet")["text"].to_pylist()[:200]
    lm = {"model": str(tiny_checkpoint(tmp_path / "ckpt", corpus)), "min_tokens": 2, "max_tokens": 64}
    result = run_collapse(_small(arms=("none", "oracle"), seeds=1, generations=2, probes=("lm",), probe_rows=20,
                               detector_params={"lm": lm}), tmp_path / "o")
    none = [r for r in result["records"] if r["arm"] == "none" and r["generation"] > 0]
    assert all(r["probe_lm_rows"] == 20 and 0 <= r["probe_lm_fpr"] <= 1 and 0 <= r["probe_lm_tpr"] <= 1
               for r in none)
    assert not any("probe_lm_rows" in r for r in result["records"] if r["arm"] == "oracle")
    # The run's calibrate direction turns the probe round: same rows, the complementary ranking.
    flipped = run_collapse(_small(arms=("none",), seeds=1, generations=2, probes=("lm",), probe_rows=20,
                                detector_params={"lm": lm}, calibrate={"lm.fastdetect": "<="}), tmp_path / "f")
    low = [r for r in flipped["records"] if r["generation"] > 0]
    assert [r["probe_lm_auroc"] for r in low] == pytest.approx([1 - r["probe_lm_auroc"] for r in none])
    with pytest.raises(ValueError, match="direction must be"):
        run_collapse(_small(arms=("none",), probes=("lm",), detector_params={"lm": lm},
                          calibrate={"lm.fastdetect": ">"}), tmp_path / "bad")
    with pytest.raises(ValueError, match="probes score text"):
        run_collapse(_small(learner="gaussian", probes=("lm",)), tmp_path / "g")


def test_foreign_sources_joined_by_plus_share_the_foreign_rows(tmp_path):
    """``older+shared``: half of the foreign rows each; at generation 1 nothing is older than the previous model."""
    result = run_collapse(_small(arms=("none",), foreign_share=0.5, foreign_source="older+shared", seeds=1),
                          tmp_path)
    later = [r for r in result["records"] if r["generation"] > 0]
    assert [r["crawl_foreign_rows"] for r in later] == [7, 15, 15]  # 15 foreign rows: 8 older, 7 shared


def test_common_draws_give_arms_that_keep_the_same_rows_the_same_training_draw(tmp_path):
    # The random arm at no filter's retain rate (1.0) keeps every row, as no filter does: with common draws both
    # train on the same budget draw, so their lineages are identical; drawn apart, they differ from generation 1.
    fields = dict(learner="gaussian", schedule="fixed", arms=("none", "random"), random_reference="none",
                  generations=3, seeds=2, samples=30, alpha=0.25, budget=30, numeric_test_size=500)

    def sigma(records: list[dict], arm: str) -> list[float]:
        return [r["sigma_ratio"] for r in records if r["arm"] == arm and r["generation"] > 0]

    common = run_collapse(_cfg(common_draws=True, **fields), tmp_path / "common")["records"]
    assert sigma(common, "none") == sigma(common, "random")
    apart = run_collapse(_cfg(**fields), tmp_path / "apart")["records"]
    assert sigma(apart, "none") != sigma(apart, "random")


def test_the_practitioner_can_fold_its_classifier_by_trusted_article(tmp_path, monkeypatch):
    """``practitioner_folds: article`` hands the classifier's training the trusted texts' articles as CV groups."""
    from detectors.classifier import train

    seen = []
    real = train.train_detector

    def recording(table, cfg, *args, **kwargs):
        seen.append(None if cfg.group_column is None else table[cfg.group_column].to_pylist())
        return real(table, cfg, *args, **kwargs)

    monkeypatch.setattr(train, "train_detector", recording)
    run_collapse(_small(arms=("classifier",), generations=1, seeds=1, trusted_by="article", trusted_fraction=0.03,
                        practitioner_folds="article"), tmp_path)
    assert len(seen) == 2 and seen[0] == seen[1]  # raw and TF-IDF n-grams
    humans = {g for g in seen[0] if g.startswith("human:")}
    own = [g for g in seen[0] if g.startswith("own:")]
    assert 1 < len(humans) < len(seen[0]) - len(own)  # whole articles, several windows each
    assert len(own) == len(set(own)) > 0
