"""From per-generation records to what the benchmark answers: when each arm's models collapse, how many
generations a filter buys over no filter (with a bootstrap interval over seeds), and how much of the oracle's
benefit it recovers."""
from __future__ import annotations

import math
import operator
from collections import defaultdict
from typing import Any

import numpy as np

from benchmarks.collapse.config import CollapseRule

_OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


def collapse_time(rows: list[dict[str, Any]], rules: tuple[CollapseRule, ...], generations: int
                  ) -> tuple[int, bool, str]:
    """First generation where the loop recorded a collapse or (from generation 1) any rule fires; else
    ``generations``, right-censored. Returns (T, censored, why)."""
    rows = sorted(rows, key=lambda r: r["generation"])
    start = rows[0]
    if start.get("collapsed"):
        return 0, False, start.get("collapse_reason", "collapsed")
    for r in rows[1:]:
        if r.get("collapsed"):
            return r["generation"], False, r.get("collapse_reason", "collapsed")
        for rule in rules:
            value = r.get(rule.metric)
            if value is None or not math.isfinite(value):
                continue
            if rule.relative:
                first = start.get(rule.metric)
                if first is None or not math.isfinite(first) or first == 0:
                    continue
                value = value / first
            if _OPS[rule.op](value, rule.threshold):
                rel = " (relative to generation 0)" if rule.relative else ""
                return r["generation"], False, f"{rule.metric}{rel} {rule.op} {rule.threshold:g}"
    return generations, True, "censored"


def delay(t_arm: list[int], t_none: list[int], n_boot: int, seed: int = 0) -> dict[str, float]:
    """median T(arm) - median T(none), with a 95% percentile bootstrap over seeds (paired: same seeds)."""
    a, b = np.asarray(t_arm, dtype=float), np.asarray(t_none, dtype=float)
    point = float(np.median(a) - np.median(b))
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(a), size=(n_boot, len(a)))
    boots = np.median(a[idx], axis=1) - np.median(b[idx], axis=1)
    return {"median": point, "ci_low": float(np.percentile(boots, 2.5)), "ci_high": float(np.percentile(boots, 97.5))}


def mean_curve(records: list[dict[str, Any]], arm: str, metric: str, generations: int, seeds: int) -> np.ndarray:
    """Per generation, the mean of ``metric`` over seeds; NaN where any seed lacks a finite value."""
    table = np.full((seeds, generations + 1), np.nan)
    for r in records:
        v = r.get(metric)
        if r["arm"] == arm and v is not None and r["generation"] <= generations:
            table[r["seed"], r["generation"]] = v
    table[~np.isfinite(table)] = np.nan
    return table.mean(axis=0)


def oracle_benefit(records: list[dict[str, Any]], arm: str, metric: str, generations: int, seeds: int
                   ) -> tuple[float, int]:
    """Area between the no-filter and ``arm`` curves over the area between no-filter and oracle (lower metric is
    better), over generations 1.. where all three are defined; NaN when the oracle did no better than no filter.
    Returns (benefit, generations used)."""
    curves = [mean_curve(records, a, metric, generations, seeds)[1:] for a in ("none", arm, "oracle")]
    ok = np.all([np.isfinite(c) for c in curves], axis=0)
    if not ok.any():
        return math.nan, 0
    none, this, oracle = (c[ok] for c in curves)
    denom = float(np.sum(none - oracle))
    if denom <= 1e-12:  # the oracle did no better than no filter: there is no benefit to recover
        return math.nan, int(ok.sum())
    return float(np.sum(none - this) / denom), int(ok.sum())


def summarise(records: list[dict[str, Any]], rules: tuple[CollapseRule, ...], generations: int, seeds: int,
              benefit_metric: str, n_boot: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The issue's summary (collapse_time, delay, oracle_benefit per arm) and the details behind it."""
    by = defaultdict(list)
    for r in records:
        by[(r["arm"], r["seed"])].append(r)
    arms = list(dict.fromkeys(r["arm"] for r in records))
    times: dict[str, list[int]] = {}
    details: dict[str, Any] = {}
    for arm in arms:
        results = [collapse_time(by[(arm, s)], rules, generations) for s in range(seeds)]
        times[arm] = [t for t, _, _ in results]
        later = [r for r in records if r["arm"] == arm and r["generation"] > 0]
        details[arm] = {
            "censored": [c for _, c, _ in results],
            "collapse_reason": [why for _, _, why in results],
            **{f"mean_{k}": _mean(later, k) for k in ("filter_tpr", "filter_fpr", "retain_rate", "synthetic_share")},
            f"final_{benefit_metric}": _mean([r for r in later if r["generation"] == generations], benefit_metric),
        }
    summary: dict[str, Any] = {}
    for arm in arms:
        if "none" in times:
            d = delay(times[arm], times["none"], n_boot)
        else:
            d = {"median": math.nan, "ci_low": math.nan, "ci_high": math.nan}
        if "none" in times and "oracle" in times:
            benefit, used = oracle_benefit(records, arm, benefit_metric, generations, seeds)
        else:
            benefit, used = math.nan, 0
        details[arm]["benefit_generations"] = used
        summary[arm] = {"collapse_time": times[arm], "delay": d, "oracle_benefit": benefit}
    return summary, details


def _mean(rows: list[dict[str, Any]], key: str) -> float:
    values = [r[key] for r in rows if isinstance(r.get(key), (int, float)) and math.isfinite(r[key])]
    return float(np.mean(values)) if values else math.nan
