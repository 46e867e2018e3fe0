"""Collapse benchmark statistics: Kaplan–Meier survival, RMST with paired bootstrap, the stable oracle benefit."""
from __future__ import annotations

import math

import numpy as np
import pytest

from benchmarks.collapse import CollapseConfig, CollapseRule
from benchmarks.collapse.report import markdown
from benchmarks.collapse.summary import benefit_stats, seed_areas, summarise
from benchmarks.collapse.survival import kaplan_meier, resample, rmst_boot, survival_summary

# --- Kaplan–Meier --------------------------------------------------------------------------------------------------

def test_km_by_hand_last_run_censored():
    """Times 2, 3, 3, 5+: S = 1 - 1/4 = 0.75 after 2, 0.75 * (1 - 2/3) = 0.25 after 3; the censored 5 leaves it."""
    curve = kaplan_meier([2, 3, 3, 5], [True, True, True, False])
    assert curve.times.tolist() == [2, 3, 5]
    assert curve.at_risk.tolist() == [4, 3, 1]
    assert curve.events.tolist() == [1, 2, 0]
    assert curve.survival == pytest.approx([0.75, 0.25, 0.25])
    assert curve.median() == 3
    # Area: 2 x 1 on [0, 2) + 1 x 0.75 on [2, 3) + 2 x 0.25 on [3, 5).
    assert curve.rmst(5) == pytest.approx(3.25)
    assert curve.rmst(2.5) == pytest.approx(2 + 0.5 * 0.75)


def test_km_censored_in_the_middle_stays_at_risk_at_its_time():
    """Times 2, 3, 3+, 5: at 3 the censored run is still at risk, so S = 0.75 * (1 - 1/3) = 0.5, exactly the median."""
    curve = kaplan_meier([2, 3, 3, 5], [True, True, False, True])
    assert curve.survival == pytest.approx([0.75, 0.5, 0.0])
    assert curve.median() == 3
    assert curve.rmst(6) == pytest.approx(2 + 0.75 + 2 * 0.5)


def test_all_censored_median_not_reached_and_rmst_is_the_horizon():
    stats = survival_summary([7, 7, 7], [False] * 3, [7, 7, 7], [False] * 3, horizon=7, n_boot=200)
    assert stats["km_median"] is None and stats["km_median_reached"] is False
    assert stats["rmst"] == 7 and stats["rmst_ci"] == [7, 7]
    assert stats["rmst_delay"] == 0 and stats["rmst_delay_ci"] == [0, 0]
    assert (stats["events"], stats["n"], stats["horizon"]) == (0, 3, 7)


def test_rmst_with_censoring_only_at_the_horizon_is_the_mean_of_capped_times():
    times, events = [1, 4, 6, 6, 2], [True, True, False, False, True]
    assert kaplan_meier(times, events).rmst(6) == pytest.approx(np.mean(times))


def test_collapse_at_generation_zero_adds_nothing_to_the_area():
    assert kaplan_meier([0, 4], [True, False]).rmst(4) == pytest.approx(2.0)


def test_bootstrap_matches_a_resample_fitted_alone():
    times, events = [2, 3, 3, 5, 1], [True, True, False, True, True]
    idx = resample(5, 20, seed=3)
    boots = rmst_boot(times, events, 6, idx)
    for row, value in zip(idx, boots):
        alone = kaplan_meier([times[i] for i in row], [events[i] for i in row]).rmst(6)
        assert value == pytest.approx(alone)


def test_paired_rmst_ci_holds_the_point_and_repeats():
    t_arm, e_arm = [5, 8, 10, 10, 7, 10], [True, True, False, False, True, False]
    t_none, e_none = [2, 3, 4, 3, 2, 5], [True] * 6
    a = survival_summary(t_arm, e_arm, t_none, e_none, horizon=10, n_boot=500, seed=1)
    b = survival_summary(t_arm, e_arm, t_none, e_none, horizon=10, n_boot=500, seed=1)
    assert a == b
    assert a["rmst_ci"][0] <= a["rmst"] <= a["rmst_ci"][1]
    assert 0 < a["rmst_delay_ci"][0] <= a["rmst_delay"] <= a["rmst_delay_ci"][1]
    assert a["rmst_delay"] == pytest.approx(np.mean(t_arm) - np.mean(t_none))
    assert a["km_median"] == 8 and a["events"] == 3  # S = 5/6, 4/6, 3/6 after 5, 7, 8
    with pytest.raises(ValueError, match="same seeds"):
        survival_summary(t_arm, e_arm, t_none[:3], e_none[:3], horizon=10, n_boot=10)


# --- oracle benefit -------------------------------------------------------------------------------------------------

def _records(curves: dict[str, np.ndarray]) -> list[dict]:
    """Records from per-arm (seeds, generations + 1) arrays of test_ce; NaN means the lineage has no value there."""
    return [{"arm": arm, "seed": s, "generation": g, "test_ce": float(v)}
            for arm, table in curves.items() for s, row in enumerate(table) for g, v in enumerate(row)
            if not math.isnan(v)]


def _noisy(seeds: int = 8, gens: int = 6, gap: float = 0.0, noise: float = 0.05, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    base = 5.0 + 0.3 * np.arange(gens + 1)
    none = base + noise * rng.standard_normal((seeds, gens + 1))
    oracle = base - gap * np.arange(gens + 1) + noise * rng.standard_normal((seeds, gens + 1))
    arm = base + noise * 5 * rng.standard_normal((seeds, gens + 1))
    return {"none": none, "oracle": oracle, "arm": arm}


def test_benefit_is_one_for_the_oracle_and_zero_for_none():
    curves = _noisy(gap=0.2)
    recs = _records(curves)
    oracle = benefit_stats(recs, "oracle", "test_ce", 6, 8, n_boot=500)
    assert oracle["oracle_benefit"] == pytest.approx(1.0) and oracle["oracle_benefit_ci"] == pytest.approx([1, 1])
    assert oracle["area"] == oracle["oracle_area"] > 0 and oracle["benefit_note"] == ""
    assert oracle["oracle_area_ci"][0] <= oracle["oracle_area"] <= oracle["oracle_area_ci"][1]
    none = benefit_stats(recs, "none", "test_ce", 6, 8, n_boot=500)
    assert none["oracle_benefit"] == 0 and none["area_ci"] == [0, 0]
    half = _records(curves | {"half": (curves["none"] + curves["oracle"]) / 2})
    stats = benefit_stats(half, "half", "test_ce", 6, 8, n_boot=500)
    assert stats["oracle_benefit"] == pytest.approx(0.5)
    assert stats["oracle_benefit_ci"][0] <= 0.5 <= stats["oracle_benefit_ci"][1]
    assert stats == benefit_stats(half, "half", "test_ce", 6, 8, n_boot=500)


def test_benefit_is_nan_with_a_note_when_the_oracle_matches_none():
    recs = _records(_noisy(gap=0.0))
    stats = benefit_stats(recs, "arm", "test_ce", 6, 8, n_boot=500)
    assert math.isnan(stats["oracle_benefit"]) and all(math.isnan(x) for x in stats["oracle_benefit_ci"])
    assert stats["benefit_note"] == "oracle indistinguishable from no filter"
    low, high = stats["oracle_area_ci"]
    assert low <= 0 <= high
    assert math.isfinite(stats["area"]) and stats["area_ci"][0] <= stats["area"] <= stats["area_ci"][1]


def test_a_tiny_oracle_gain_no_longer_blows_the_ratio_up():
    """A noisy arm over a barely-better oracle: the old ratio of mean-curve areas is large; the new one is NaN."""
    found = None
    for seed in range(200):
        curves = _noisy(gap=0.002, seed=seed)
        mean = {a: c.mean(axis=0)[1:] for a, c in curves.items()}
        denom = np.sum(mean["none"] - mean["oracle"])
        old = np.sum(mean["none"] - mean["arm"]) / denom if denom > 1e-12 else math.nan
        if abs(old) > 5:
            found = curves
            break
    assert found is not None
    stats = benefit_stats(_records(found), "arm", "test_ce", 6, 8, n_boot=1000)
    assert math.isnan(stats["oracle_benefit"]) and stats["benefit_note"]


def test_seed_areas_use_only_generations_where_the_seed_has_all_three_arms():
    nan = math.nan
    curves = {"none": np.array([[5, 6, 7, 8], [5, 6, 7, nan]]),
              "oracle": np.array([[5, 5, 5, 5], [5, 5, nan, nan]]),
              "arm": np.array([[5, 5.5, 6, 6.5], [5, 5.5, 6, 6.5]])}
    a_arm, a_oracle, used = seed_areas(_records(curves), "arm", "test_ce", 3, 2)
    assert used.tolist() == [3, 1]
    assert a_arm.tolist() == [0.5 + 1 + 1.5, 0.5]
    assert a_oracle.tolist() == [1 + 2 + 3, 1]
    stopped = {a: c[:, :1] for a, c in curves.items()}  # nothing after generation 0: nothing to compare
    stats = benefit_stats(_records(stopped) + [{"arm": "none", "seed": 0, "generation": 1, "test_ce": 6.0}],
                          "arm", "test_ce", 3, 2, n_boot=100)
    assert math.isnan(stats["oracle_benefit"]) and "no generation" in stats["benefit_note"]


# --- summary and report ---------------------------------------------------------------------------------------------

def test_summary_keeps_the_old_keys_and_adds_the_new_ones():
    curves = _noisy(seeds=4, gens=5, gap=0.2)
    recs = _records(curves)
    rules = (CollapseRule("test_ce", ">=", 1.2),)
    summary, details = summarise(recs, rules, 5, 4, "test_ce", n_boot=200)
    for arm, s in summary.items():
        assert {"collapse_time", "delay", "oracle_benefit", "oracle_benefit_ci", "area", "area_ci", "oracle_area",
                "oracle_area_ci", "benefit_note", "survival"} <= set(s)
        assert set(s["survival"]) == {"km_median", "km_median_reached", "rmst", "rmst_ci", "rmst_delay",
                                      "rmst_delay_ci", "events", "n", "horizon"}
        assert s["survival"]["n"] == 4 and s["survival"]["horizon"] == 5
        assert len(details[arm]["benefit_generations"]) == 4 and "km_curve" in details[arm]
    # test_ce rises 0.3 a generation from 5.0: +20% at generation 4 for none, never for the oracle.
    assert summary["none"]["survival"]["km_median"] == 4
    assert summary["oracle"]["survival"]["km_median_reached"] is False
    assert summary["oracle"]["survival"]["rmst_delay"] > 0
    cfg = CollapseConfig(learner="gaussian", arms=("none", "oracle", "arm"), generations=5, seeds=4, plots=False)
    md = markdown(cfg, summary, details, recs, {}, None, None, rules)
    row = next(line for line in md.splitlines() if line.startswith("| oracle |"))
    assert ">5" in row and "1.00 [1.00, 1.00]" in row
    assert "RMST" in md and "KM median" in md
