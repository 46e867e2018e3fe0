"""The floating-point experiment's two-sample tests."""
from __future__ import annotations

import numpy as np

from benchmarks.collapse.analysis.fp_stats import two_sample


def test_two_sample_rejects_a_clear_difference_and_not_identical_samples():
    rng = np.random.default_rng(8)
    early = np.minimum(rng.exponential(20, 300).round() + 1, 200)
    late = np.minimum(rng.exponential(60, 300).round() + 1, 200)
    e_early, e_late = early < 200, late < 200
    diff = two_sample(early, e_early, late, e_late)
    assert diff["logrank_p"] < 1e-6 and diff["mannwhitney_p"] < 1e-6
    same = two_sample(early, e_early, early.copy(), e_early.copy())
    assert same["logrank_p"] == 1.0 and same["mannwhitney_p"] == 1.0
    other = np.minimum(rng.exponential(20, 300).round() + 1, 200)  # same law, fresh draws
    assert two_sample(early, e_early, other, other < 200)["logrank_p"] > 0.01
