"""Statistics of the floating-point-error experiment: per dtype, the Kaplan–Meier median of collapse times with a
bootstrap interval, the RMST and its paired delay against float64, a log-rank and a Mann–Whitney test, and how
many seeds' collapse times changed at all."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from benchmarks.collapse.analysis.survival import kaplan_meier, resample, survival_summary

ALPHA = 0.05
"""The tests' level: below it, a dtype's collapse times differ from float64's."""


@dataclass
class Lineages:
    """Per seed: collapse generation (or the horizon, censored), whether it collapsed, sigma per generation."""

    times: np.ndarray
    events: np.ndarray
    sigma: np.ndarray
    """(seeds, G + 1), NaN after the collapse."""
    sigma0: np.ndarray = field(default_factory=lambda: np.empty(0))
    degenerate: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=bool))
    """Collapsed because the fit overflowed (a non-finite mean or sd): the harness's "degenerate model" verdict,
    reached by the variance exploding, not shrinking."""


def two_sample(t: np.ndarray, e: np.ndarray, t_ref: np.ndarray, e_ref: np.ndarray) -> dict[str, float]:
    """Log-rank test (censoring handled) and Mann-Whitney U on the times (a censored run counts as the horizon),
    both two-sided. Identical samples get p = 1 (both statistics are 0/0 there)."""
    t, t_ref = np.asarray(t, dtype=float), np.asarray(t_ref, dtype=float)
    e, e_ref = np.asarray(e, dtype=bool), np.asarray(e_ref, dtype=bool)
    same = (np.array_equal(np.sort(t[e]), np.sort(t_ref[e_ref]))
            and np.array_equal(np.sort(t[~e]), np.sort(t_ref[~e_ref])))
    if same:
        return {"logrank_p": 1.0, "logrank_stat": 0.0, "mannwhitney_p": 1.0}
    lr = stats.logrank(stats.CensoredData(uncensored=t[e], right=t[~e]),
                       stats.CensoredData(uncensored=t_ref[e_ref], right=t_ref[~e_ref]))
    mw = stats.mannwhitneyu(t, t_ref, alternative="two-sided")
    return {"logrank_p": _finite(lr.pvalue), "logrank_stat": _finite(lr.statistic), "mannwhitney_p": _finite(mw.pvalue)}


def _finite(x: float) -> float:
    x = float(x)
    return x if np.isfinite(x) else 1.0  # all-tied samples (e.g. every run censored): nothing to tell apart


def survival_row(lin: Lineages, ref: Lineages, horizon: int, n_boot: int) -> dict[str, Any]:
    """KM median (with a bootstrap 95% CI), RMST with its CI and the paired RMST delay against ``ref``, the two
    tests, and how many seeds' collapse times differ from the reference's."""
    row = survival_summary(lin.times, lin.events, ref.times, ref.events, horizon, n_boot)
    idx = resample(len(lin.times), n_boot)  # the resamples survival_summary drew for the RMST interval
    medians = np.array([_median(kaplan_meier(lin.times[i], lin.events[i]), horizon) for i in idx])
    row["km_median_ci"] = [_median_bound(medians, 2.5, horizon), _median_bound(medians, 97.5, horizon)]
    row |= two_sample(lin.times, lin.events, ref.times, ref.events)
    row["seeds_changed"] = int(np.sum((lin.times != ref.times) | (lin.events != ref.events)))
    row["degenerate"] = int(np.sum(lin.degenerate))
    alive = ~lin.events
    ratio = lin.sigma[alive, -1] / lin.sigma0[alive]
    # Where the sd went in the runs that never collapsed: held near 1, or exploding.
    row["survivor_ratio_at_G"] = [float(v) for v in np.percentile(ratio, [5, 50, 95])] if ratio.size else None
    return row


def _median(curve: Any, horizon: int) -> float:
    m = curve.median()
    return float(m) if m is not None else np.inf


def _median_bound(medians: np.ndarray, q: float, horizon: int) -> float | None:
    """A percentile of the bootstrap medians; None where it lies past the horizon (not reached)."""
    v = float(np.percentile(medians, q, method="inverted_cdf"))  # no interpolation between inf and a finite value
    return v if np.isfinite(v) else None


def survival_block(lineages: dict[str, Lineages], horizon: int, n_boot: int) -> dict[str, dict[str, Any]]:
    """``survival_row`` for every dtype against float64."""
    ref = lineages["float64"]
    return {name: survival_row(lin, ref, horizon, n_boot) for name, lin in lineages.items()}
