"""Kaplan–Meier survival of collapse times, the RMST and its paired bootstrap."""
from __future__ import annotations

import numpy as np
import pytest

from benchmarks.collapse.analysis.survival import kaplan_meier, resample, rmst_boot, survival_summary


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
    for row, value in zip(idx, boots, strict=True):
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
