import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from filterkit import DetectorSpec, FilterConfig, Rule
from filterkit.engine.calibrate import calibrate, realised_fpr, threshold_for_fpr
from filterkit.stage.rules import allowed_false_positives
from filterkit.testing.corpora import write
from tests.support.props import prop_settings


@prop_settings(200)
@given(scores=st.lists(st.floats(-1e6, 1e6) | st.integers(0, 5).map(float), min_size=1, max_size=300),
       fpr=st.floats(0.0, 0.5), op=st.sampled_from([">", ">=", "<", "<="]))
def test_at_most_fpr_of_humans_removed_and_tight(scores, fpr, op):
    s = np.array(scores)
    t = threshold_for_fpr(s, fpr, op)
    fires = Rule("x", op, t).fires_values(s)
    assert fires.mean() <= fpr + 1e-12
    assert fires.sum() <= allowed_false_positives(len(s), fpr)
    # The in-sample rule lets through at most max_fpr of these scores, and never fewer than the default rule.
    in_sample = Rule("x", op, threshold_for_fpr(s, fpr, op, in_sample=True)).fires_values(s)
    assert fires.sum() <= in_sample.sum() <= np.floor(fpr * len(s) + 1e-9)


@pytest.mark.parametrize("n", [99, 100, 150, 200, 300, 400, 1000, 3000])
def test_expected_realised_fpr_at_most_target(n):
    # Order statistics: the rate on new human text is Beta(k + 1, n - k), so its mean is (k + 1) / (n + 1).
    k = allowed_false_positives(n, 0.01)
    assert (k + 1) / (n + 1) <= 0.01 + 1e-12
    assert (k + 2) / (n + 1) > 0.01  # tight: one more let through would overshoot on average
    info = realised_fpr(n, 0.01)
    assert info["fpr_5"] < info["expected_fpr"] <= 0.01 < info["fpr_95"]


def test_realised_fpr_by_simulation():
    # The demo's case: 400 trusted texts, 1% target. The old rule (floor(0.01 * 400) = 4 let through) realises
    # 5/401 = 1.25% on average; the rule now lets 3 through and realises 4/401 = 1.0%.
    rng = np.random.default_rng(0)
    rates = {True: [], False: []}
    for _ in range(2000):
        human = rng.standard_normal(400)
        for in_sample in (True, False):
            t = threshold_for_fpr(human, 0.01, ">=", in_sample=in_sample)
            rates[in_sample].append(norm_sf(t))
    assert np.mean(rates[True]) == pytest.approx(5 / 401, rel=0.05)
    assert np.mean(rates[False]) == pytest.approx(4 / 401, rel=0.05)
    assert np.mean(rates[False]) <= 0.0101


def norm_sf(t: float) -> float:
    from scipy.stats import norm

    return float(norm.sf(t))


def test_nan_ignored_and_empty_refused():
    assert threshold_for_fpr(np.array([np.nan, 1.0, 2.0, 3.0]), 0.0, ">") == 3.0
    with pytest.raises(ValueError, match="no human scores"):
        threshold_for_fpr(np.array([np.nan]), 0.01)


def test_calibrate_runs_detectors_and_updates_config(tmp_path):
    human = [f"human document {i}" for i in range(95)] + ["dup"] * 5
    write(tmp_path / "h" / "h.parquet", pa.table({"text": human}), 100)
    cfg = FilterConfig(detectors=(DetectorSpec("exact"),),
                       rules=(Rule("exact.cluster_size", ">=", 2.0, "cluster"),))
    new, info = calibrate([str(tmp_path / "h")], cfg, "exact.cluster_size", max_fpr=0.01)
    assert info["human_removed_fraction"] <= 0.01
    (rule,) = new.rules
    assert rule.reason == "cluster" and rule.threshold > 5.0  # five humans sit in a cluster of 5


def test_length_bucketed_thresholds(tmp_path):
    rng = np.random.default_rng(0)
    short = [" ".join(["w"] * int(n)) for n in rng.integers(5, 40, 300)]
    long = [" ".join(["w"] * int(n)) for n in rng.integers(120, 200, 300)]
    # A score that runs higher on short human texts: one global threshold would remove mostly short ones.
    score = np.r_[rng.normal(2.0, 1.0, 300), rng.normal(0.0, 1.0, 300)]
    write(tmp_path / "h" / "h.parquet", pa.table({"text": short + long, "s.x": score}), 600)
    cfg = FilterConfig(detectors=(DetectorSpec("length"),), rules=(Rule("s.x", ">=", 0.0),))
    new, info = calibrate([str(tmp_path / "h")], cfg, "s.x", max_fpr=0.01, by="length.words", edges=(50, 100))
    (rule,) = new.rules
    assert set(rule.thresholds) == {"<50", ">=100"}
    assert rule.thresholds["<50"] > rule.thresholds[">=100"] + 1.0
    assert info["buckets"]["<50"]["human_rows"] == 300 and info["human_removed_fraction"] <= 0.01
