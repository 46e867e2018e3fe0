"""The arms: filters that run the real filterkit pipeline on each crawl, arms that cannot run, and the ``weight``
arm's capped importance resampling without replacement (Drayson et al.)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from benchmarks.collapse import run_collapse
from benchmarks.collapse.analysis.metrics import filter_metrics
from benchmarks.collapse.data.rows import Rows
from benchmarks.collapse.experiment.arms import ArmContext, ArmSettings, WeightArm, capped_weighted_draw
from benchmarks.collapse.experiment.practitioner import FitContext
from filterkit.contract import registry
from tests.benchmarks.collapse.fakes import cfg as _cfg


def test_exact_arm_runs_the_pipeline_and_drops_duplicate_copies(tmp_path, parrot):
    cfg = _cfg(learner="parrot", schedule="fixed", alpha=0.5,
               arms=("none", "exact", "random"), generations=1, seeds=1, samples=60, test_docs=10)
    result = run_collapse(cfg, tmp_path)
    rows = [r for r in result["records"] if r["arm"] == "exact" and r["generation"] > 0]
    for r in rows:
        # 60 synthetic copies of 60 training documents repeat some; dedup removes all but one copy of each.
        assert 0.05 < r["filter_tpr"] < 0.9
        assert r["filter_fpr"] == 0.0
    randoms = [r for r in result["records"] if r["arm"] == "random" and r["generation"] > 0]
    assert [r["retain_rate"] for r in randoms] == pytest.approx([r["retain_rate"] for r in rows], abs=0.01)
    assert all(r["filter_tpr"] == 0.0 for r in result["records"] if r["arm"] == "none" and r["generation"] > 0)


def test_weight_arm_resamples_by_score_column(tmp_path, parrot):
    cfg = _cfg(learner="parrot", schedule="fixed", alpha=0.5, arms=("none", "weight"), generations=1,
               seeds=1, samples=60, test_docs=10, weight_column="exact.is_duplicate", weight_power=1.0)
    records = run_collapse(cfg, tmp_path)["records"]
    weight = next(r for r in records if r["arm"] == "weight" and r["generation"] == 1)
    none = next(r for r in records if r["arm"] == "none" and r["generation"] == 1)
    assert weight["train_size"] == none["train_size"]  # resampled back to the crawl's size
    assert weight["synthetic_share"] < none["synthetic_share"]


@pytest.mark.skipif("replay" not in registry.available(), reason="replay detector not registered")
def test_replay_arm_catches_the_models_own_output(tmp_path, parrot):
    cfg = _cfg(learner="parrot", schedule="fixed", alpha=0.5, arms=("none", "replay"),
               generations=1, seeds=1, samples=40, test_docs=10)
    result = run_collapse(cfg, tmp_path)
    rows = [r for r in result["records"] if r["arm"] == "replay" and r["generation"] > 0]
    assert rows and all(r["filter_tpr"] == 1.0 and r["filter_fpr"] == 0.0 for r in rows)


def test_unavailable_arm_is_skipped_with_its_reason(tmp_path):
    cfg = _cfg(learner="ngram", schedule="replace", arms=("none", "weight"), generations=1, seeds=1,
               samples=30, test_docs=10, weight_column="nosuchdetector.p_machine")
    run_collapse(cfg, tmp_path)
    run = json.loads((tmp_path / "run.json").read_text())
    assert "weight" in run["skipped"] and "nosuchdetector" in run["skipped"]["weight"]
    assert "weight" in (tmp_path / "results.md").read_text()


def test_combined_filter_leaves_out_unusable_detectors_and_says_why(tmp_path, parrot, monkeypatch):
    cheap = {k: v for k, v in registry.available().items() if k in ("exact", "length", "lm")}
    if set(cheap) != {"exact", "length", "lm"}:
        pytest.skip("needs the exact, length and lm detectors registered")
    monkeypatch.setattr(registry, "available", lambda: cheap)  # keep `filter` to three cheap-to-build detectors
    cfg = _cfg(learner="parrot", schedule="fixed", alpha=0.5, arms=("none", "filter"), generations=1, seeds=1,
               samples=30, test_docs=10, detector_params={"lm": {"model": str(tmp_path / "no-model")}})
    result = run_collapse(cfg, tmp_path / "out")
    run = json.loads((tmp_path / "out" / "run.json").read_text())
    left_out = run["detectors_left_out"]["filter"]
    assert "does not exist" in left_out["lm"]
    assert run["arm_rules"]["filter"] and all(r.startswith("exact.") for r in run["arm_rules"]["filter"])
    assert "no default rules" in left_out["length"]
    assert "exact" not in left_out and "filter" in result["summary"]
    assert "filter (detector lm)" in (tmp_path / "out" / "results.md").read_text()


def test_bad_parameters_for_a_named_detector_arm_are_an_error(tmp_path, parrot):
    if "lm" not in registry.available():
        pytest.skip("lm detector not registered")
    cfg = _cfg(learner="parrot", schedule="fixed", alpha=0.5, arms=("none", "lm"), generations=1, seeds=1,
               samples=20, test_docs=5, detector_params={"lm": {"model": str(tmp_path / "no-model")}})
    with pytest.raises(ValueError, match="does not exist"):
        run_collapse(cfg, tmp_path / "out")


def test_unknown_arm_lists_valid_arms(tmp_path):
    with pytest.raises(ValueError, match=r"unknown arm 'magic'; valid arms: none, oracle, random, filter"):
        run_collapse(_cfg(learner="gaussian", arms=("none", "magic"), generations=1, seeds=1), tmp_path)


def test_text_arm_with_numeric_learner_is_refused(tmp_path):
    with pytest.raises(ValueError, match="numeric learner"):
        run_collapse(_cfg(learner="gaussian", arms=("none", "exact"), generations=1, seeds=1), tmp_path)


def _draw(weights, size, cap, seed=0):
    return capped_weighted_draw(np.asarray(weights, dtype=float), size, cap, np.random.default_rng(seed))


def _counts(positions, n):
    return np.bincount(positions, minlength=n)


@pytest.mark.parametrize("cap", [1, 2, 5])
def test_no_row_is_drawn_more_than_cap_times(cap):
    rng = np.random.default_rng(1)
    weights = rng.random(40) ** 4  # skewed, so the heavy rows would repeat past the cap if it were not enforced
    for seed in range(50):
        drawn = _draw(weights, 30 * cap // 2, cap, seed)
        assert _counts(drawn, 40).max() <= cap


def test_zero_weight_rows_are_never_drawn_even_when_short_of_draws():
    weights = np.array([0.0, 1.0, 0.0, 0.3, 0.0, 1e-300])
    for seed in range(50):
        drawn = _draw(weights, 5, 2, seed)
        assert not np.isin(drawn, [0, 2, 4]).any()
    # 3 rows of weight > 0 with cap 2 give 6 copies: asking for 100 draws takes all of them and no more.
    assert _counts(_draw(weights, 100, 2), 6).tolist() == [0, 2, 0, 2, 0, 2]


def test_a_perfect_detector_draws_no_synthetic_row():
    synthetic = np.array([True, False] * 25)
    weights = (1.0 - synthetic.astype(float)) ** 1.0  # p_machine = 1 exactly on the synthetic rows
    for seed in range(20):
        drawn = _draw(weights, 50, 3, seed)
        assert len(drawn) == 50 and not synthetic[drawn].any()


@pytest.mark.parametrize("size,cap", [(0, 1), (7, 1), (20, 1), (35, 2), (60, 3)])
def test_draw_count_equals_the_requested_size(size, cap):
    drawn = _draw(np.linspace(0.05, 1.0, 20), size, cap)
    assert len(drawn) == size
    assert np.all(np.diff(drawn) >= 0)  # sorted positions, repeats adjacent


def test_cap_one_and_full_size_keeps_every_positive_row_once():
    assert _draw([0.2, 0.0, 0.9, 0.5], 4, 1).tolist() == [0, 2, 3]


def test_same_generator_seed_gives_the_same_draws():
    weights = np.random.default_rng(3).random(100)
    a, b = _draw(weights, 80, 3, seed=42), _draw(weights, 80, 3, seed=42)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, _draw(weights, 80, 3, seed=43))


def test_higher_weight_rows_are_drawn_more_often():
    # 25 rows of weight 1 and 25 of weight 0.2; 40 draws with cap 2, over 400 fixed seeds (so the check is
    # deterministic). The heavy rows' mean count is about 3.6x the light rows' here; requiring 2x leaves a wide
    # margin should the generator's stream ever change.
    weights = np.repeat([1.0, 0.2], 25)
    total = np.zeros(50)
    for seed in range(400):
        total += _counts(_draw(weights, 40, 2, seed), 50)
    heavy, light = total[:25].mean() / 400, total[25:].mean() / 400
    assert heavy > 2.0 * light
    assert heavy + light == pytest.approx(40 / 25)  # every draw is counted once
    assert total.min() > 0  # without replacement over copies, the light rows are still drawn


def test_same_law_as_numpy_choice_without_replacement_on_copies():
    """Drayson et al. draw with np.random.choice(replace=False) over the rows repeated cap times; the mean count
    of each row must agree with that (fixed seeds: deterministic, with a tolerance of several standard errors)."""
    weights, cap, size, reps = np.array([1.0, 0.6, 0.3, 0.1, 0.05, 0.0]), 2, 5, 3000
    ours, theirs = np.zeros(6), np.zeros(6)
    expanded = np.repeat(np.arange(6), cap)
    p = weights[expanded] / weights[expanded].sum()
    for seed in range(reps):
        ours += _counts(_draw(weights, size, cap, seed), 6)
        theirs += _counts(np.random.default_rng(10_000 + seed).choice(expanded, size, replace=False, p=p), 6)
    # Each mean has a standard error of at most ~0.015 (counts lie in [0, 2]), their difference ~0.02: 0.08 is ~4.
    assert np.abs(ours / reps - theirs / reps).max() < 0.08
    assert ours[5] == 0 and theirs[5] == 0


def test_bad_weights_or_arguments_are_refused():
    with pytest.raises(ValueError, match="finite values"):
        _draw([0.5, -0.1], 1, 1)
    with pytest.raises(ValueError, match="finite values"):
        _draw([0.5, np.nan], 1, 1)
    with pytest.raises(ValueError, match="cap >= 1"):
        _draw([0.5], 1, 0)
    with pytest.raises(ValueError, match="weight_cap"):
        ArmSettings(weight_cap=0)
    with pytest.raises(ValueError, match="weight_size"):
        ArmSettings(weight_size=0.0)


def test_weight_arm_keeps_old_rows_and_never_draws_zero_weight_rows(tmp_path):
    """Through the real pipeline: exact dedup gives weight 0 to the new copies of old rows."""
    old_docs = np.array([f"an old human document, number {i}, kept earlier" for i in range(5)], dtype=object)
    human = np.array([f"a fresh human document about subject {i} and nothing else" for i in range(10)], dtype=object)
    copies = np.concatenate([old_docs, old_docs])  # the synthetic rows repeat old rows: duplicates, weight 0
    crawl = Rows.concat(Rows.of(old_docs, synthetic=False, new=False), Rows.of(human, synthetic=False, new=True),
                        Rows.of(copies, synthetic=True, new=True))
    settings = ArmSettings(weight_column="exact.is_duplicate", weight_cap=3, weight_size=1.0)
    fit = FitContext(1, tmp_path, np.array([], dtype=object), lambda n: np.array([], dtype=object), [])
    arm = WeightArm(settings)
    keep = arm.select(crawl, ArmContext(fit, np.random.default_rng(7), None))
    again = arm.select(crawl, ArmContext(fit, np.random.default_rng(7), None))
    assert np.array_equal(keep, again)
    counts = _counts(keep, len(crawl))
    assert counts[:5].tolist() == [1] * 5  # old rows stay, once
    assert len(keep) == 5 + 20  # 20 new rows -> 20 draws, all from the 10 human rows (30 copies)
    assert counts[5:15].max() <= 3 and counts[15:].sum() == 0
    mask = np.zeros(len(crawl), dtype=bool)
    mask[keep] = True
    diag = filter_metrics(crawl.synthetic, crawl.new, mask)
    assert diag.filter_tpr == 1.0 and diag.filter_fpr < 0.5


def test_shipped_arms_use_the_packaged_model_at_its_own_or_a_trusted_threshold(tmp_path, shared_data):
    """``shipped`` is the default classifier untouched (no model path, its manifest's threshold); ``shipped_cal``
    puts the threshold at ``max_fpr`` on the trusted human text, so at most the allowed share of it is removed."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from benchmarks.collapse.experiment.arms import ShippedArm, run_pipeline
    from detectors.classifier.detector import ClassifierDetector
    from filterkit.stage.rules import allowed_false_positives

    texts = pq.read_table(shared_data / "human" / "wikitext2.parquet")["text"].to_pylist()
    trusted = [" ".join(t.split()[:60]) for t in texts if len(t.split()) >= 60][:300]
    path = tmp_path / "trusted.parquet"
    pq.write_table(pa.table({"text": trusted}), path)
    fit = FitContext(1, tmp_path / "w", np.array(trusted, dtype=object), lambda n: np.array([]), [], 0.01)
    ctx = ArmContext(fit, np.random.default_rng(0), path)
    settings = ArmSettings(max_fpr=0.01)
    arm = ShippedArm(settings, calibrated=False)
    shipped = arm.config(ctx)
    expected = ClassifierDetector().default_rules()[0]
    assert arm.rules_used() == [f"classifier.p_machine >= {expected.threshold:.6g}"]  # recorded in run.json
    assert shipped.detectors[0].name == "classifier" and dict(shipped.detectors[0].params) == {}
    assert [(r.column, r.threshold) for r in shipped.rules] == [(expected.column, expected.threshold)]
    cal = ShippedArm(settings, calibrated=True).config(ctx)
    assert [r.column for r in cal.rules] == ["classifier.p_machine"] and cal.rules[0].threshold != expected.threshold
    kept = run_pipeline(np.array(trusted, dtype=object), cal, tmp_path / "p")
    assert len(trusted) - kept.num_rows <= allowed_false_positives(len(trusted), 0.01)


def test_the_shipped_arm_runs_the_packaged_model_its_config_names(tmp_path):
    pytest.importorskip("gguf")  # the ngram_lm model runs SmolLM2
    from benchmarks.collapse.experiment.arms import ShippedArm
    from detectors.classifier.detector import ClassifierDetector

    fit = FitContext(1, tmp_path / "w", np.array([], dtype=object), lambda n: np.array([]), [], 0.01)
    config = ShippedArm(ArmSettings(shipped_model="ngram_lm"), calibrated=False).config(
        ArmContext(fit, np.random.default_rng(0), None))
    assert dict(config.detectors[0].params) == {"model": "ngram_lm"}
    assert config.rules[0].threshold == ClassifierDetector(model="ngram_lm").default_rules()[0].threshold
