"""From per-generation records to what the benchmark answers: when each arm's models collapse (Kaplan–Meier, see
``survival.py``), how many generations a filter buys over no filter (the RMST difference, and the median
difference, with bootstrap intervals over seeds), and how much of the oracle's benefit it recovers."""
from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import numpy as np

from benchmarks.collapse.analysis.rules import CollapseRule, collapse_time
from benchmarks.collapse.analysis.survival import kaplan_meier, percentile_ci, resample, survival_summary


def delay(t_arm: list[int], t_none: list[int], n_boot: int, seed: int = 0) -> dict[str, float]:
    """median T(arm) - median T(none), with a 95% percentile bootstrap over seeds (paired: same seeds)."""
    a, b = np.asarray(t_arm, dtype=float), np.asarray(t_none, dtype=float)
    point = float(np.median(a) - np.median(b))
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(a), size=(n_boot, len(a)))
    boots = np.median(a[idx], axis=1) - np.median(b[idx], axis=1)
    return {"median": point, "ci_low": float(np.percentile(boots, 2.5)), "ci_high": float(np.percentile(boots, 97.5))}


def seed_table(records: list[dict[str, Any]], arm: str, metric: str, generations: int, seeds: int) -> np.ndarray:
    """``metric`` per (seed, generation) for one arm, (seeds, generations + 1); NaN where missing or not finite."""
    table = np.full((seeds, generations + 1), np.nan)
    for r in records:
        v = r.get(metric)
        if r["arm"] == arm and v is not None and r["generation"] <= generations:
            table[r["seed"], r["generation"]] = v
    table[~np.isfinite(table)] = np.nan
    return table


def mean_curve(records: list[dict[str, Any]], arm: str, metric: str, generations: int, seeds: int) -> np.ndarray:
    """Per generation, the mean of ``metric`` over seeds; NaN where any seed lacks a finite value."""
    return seed_table(records, arm, metric, generations, seeds).mean(axis=0)


def seed_areas(records: list[dict[str, Any]], arm: str, metric: str, generations: int, seeds: int
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per seed, A_arm = sum of (none - arm) and A_oracle = sum of (none - oracle) over generations 1..G, and the
    generations used; NaN areas for a seed with no generation to compare.

    Only generations where that seed has a finite value in all three arms count. A lineage stops only when it
    broke (every sample empty, a non-finite test cross-entropy, nothing left to train on); carrying its last value
    forward would credit that breakdown as a model frozen at its last healthy state. The collapse itself is what
    the survival statistics measure, so the area compares the arms only where all three were observed."""
    none, this, oracle = (seed_table(records, a, metric, generations, seeds)[:, 1:] for a in ("none", arm, "oracle"))
    ok = np.isfinite(none) & np.isfinite(this) & np.isfinite(oracle)
    used = ok.sum(axis=1)
    a_arm = np.where(ok, none - this, 0.0).sum(axis=1)
    a_oracle = np.where(ok, none - oracle, 0.0).sum(axis=1)
    a_arm[used == 0] = a_oracle[used == 0] = np.nan
    return a_arm, a_oracle, used


def benefit_stats(records: list[dict[str, Any]], arm: str, metric: str, generations: int, seeds: int,
                  n_boot: int, seed: int = 0) -> dict[str, Any]:
    """mean(A_arm) / mean(A_oracle) over seeds with a paired bootstrap CI, the areas with theirs, and a note when
    the ratio is left undefined (lower ``metric`` is better)."""
    a_arm, a_oracle, used = seed_areas(records, arm, metric, generations, seeds)
    keep = used > 0
    if not keep.any():
        return _no_benefit("no generation where none, this arm and oracle all have values") | {
            "benefit_generations": used.tolist()}
    a, o = a_arm[keep], a_oracle[keep]
    idx = resample(len(a), n_boot, seed)
    boot_a, boot_o = a[idx].mean(axis=1), o[idx].mean(axis=1)
    out = {"oracle_benefit": math.nan, "oracle_benefit_ci": [math.nan, math.nan],
           "area": float(a.mean()), "area_ci": percentile_ci(boot_a),
           "oracle_area": float(o.mean()), "oracle_area_ci": percentile_ci(boot_o), "benefit_note": "",
           "benefit_generations": used.tolist()}
    low, high = out["oracle_area_ci"]
    # A denominator whose interval holds 0 is not resolved: the ratio would be noise over noise (the old -8.0).
    if low <= 0 <= high:
        return out | {"benefit_note": "oracle indistinguishable from no filter"}
    if high < 0:
        return out | {"benefit_note": "oracle worse than no filter"}
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = boot_a / boot_o
    return out | {"oracle_benefit": float(a.mean() / o.mean()), "oracle_benefit_ci": percentile_ci(ratios)}


def summarise(records: list[dict[str, Any]], rules: tuple[CollapseRule, ...], generations: int, seeds: int,
              benefit_metric: str, n_boot: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Per arm: collapse times, KM survival with RMST, median delay and oracle benefit; and the details behind
    them."""
    by = defaultdict(list)
    for r in records:
        by[(r["arm"], r["seed"])].append(r)
    arms = list(dict.fromkeys(r["arm"] for r in records))
    times: dict[str, list[int]] = {}
    events: dict[str, list[bool]] = {}
    details: dict[str, Any] = {}
    for arm in arms:
        results = [collapse_time(by[(arm, s)], rules, generations) for s in range(seeds)]
        times[arm] = [t for t, _, _ in results]
        events[arm] = [not c for _, c, _ in results]
        later = [r for r in records if r["arm"] == arm and r["generation"] > 0]
        details[arm] = {
            "censored": [c for _, c, _ in results],
            "collapse_reason": [why for _, _, why in results],
            "km_curve": kaplan_meier(times[arm], events[arm]).to_dict(),
            **{f"mean_{k}": _mean(later, k) for k in ("filter_tpr", "filter_fpr", "retain_rate", "synthetic_share",
                                                      "filter_tpr_foreign", "filter_tpr_own")},
            **{f"mean_{k}": _mean(later, k) for k in sorted({k for r in later for k in r
                                                             if k.startswith(("probe_", "fit_"))})},
            f"final_{benefit_metric}": _mean([r for r in later if r["generation"] == generations], benefit_metric),
        }
    summary: dict[str, Any] = {}
    for arm in arms:
        if "none" in times:
            d = delay(times[arm], times["none"], n_boot)
        else:
            d = {"median": math.nan, "ci_low": math.nan, "ci_high": math.nan}
        surv = survival_summary(times[arm], events[arm], times.get("none"), events.get("none"), generations, n_boot)
        if "none" in times and "oracle" in times:
            benefit = benefit_stats(records, arm, benefit_metric, generations, seeds, n_boot)
        else:
            benefit = _no_benefit("needs the none and oracle arms")
        details[arm]["benefit_generations"] = benefit.pop("benefit_generations", [])
        summary[arm] = {"collapse_time": times[arm], "delay": d, "survival": surv, **benefit}
    return summary, details


def _no_benefit(note: str) -> dict[str, Any]:
    return {"oracle_benefit": math.nan, "oracle_benefit_ci": [math.nan] * 2, "area": math.nan,
            "area_ci": [math.nan] * 2, "oracle_area": math.nan, "oracle_area_ci": [math.nan] * 2, "benefit_note": note}


def _mean(rows: list[dict[str, Any]], key: str) -> float:
    values = [r[key] for r in rows if isinstance(r.get(key), (int, float)) and math.isfinite(r[key])]
    return float(np.mean(values)) if values else math.nan
