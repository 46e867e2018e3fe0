"""The per-arm summary: median delay, the oracle-normalised benefit that stays stable when the oracle gains little,
and the keys results.json promises."""
from __future__ import annotations

import math

import numpy as np
import pytest

from benchmarks.collapse import CollapseRule
from benchmarks.collapse.analysis.summary import benefit_stats, delay, seed_areas, summarise
from tests.benchmarks.collapse.fakes import curve_records as _records
from tests.benchmarks.collapse.fakes import noisy_curves as _noisy


def test_delay_and_bootstrap_interval():
    d = delay([5, 6, 7, 8], [2, 2, 3, 3], n_boot=500)
    assert d["median"] == 4.0
    assert 0 < d["ci_low"] <= d["median"] <= d["ci_high"]
    same = delay([3, 3, 3], [3, 3, 3], n_boot=100)
    assert same == {"median": 0.0, "ci_low": 0.0, "ci_high": 0.0}


def test_oracle_benefit_is_one_for_the_oracle_and_zero_for_no_filter():
    recs = []
    for arm, slope in (("none", 1.0), ("oracle", 0.0), ("half", 0.5)):
        recs += [{"arm": arm, "seed": 0, "generation": g, "test_ce": 5.0 + slope * g} for g in range(5)]
    assert benefit_stats(recs, "oracle", "test_ce", 4, 1, n_boot=100)["oracle_benefit"] == pytest.approx(1.0)
    assert benefit_stats(recs, "none", "test_ce", 4, 1, n_boot=100)["oracle_benefit"] == pytest.approx(0.0)
    assert benefit_stats(recs, "half", "test_ce", 4, 1, n_boot=100)["oracle_benefit"] == pytest.approx(0.5)


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
