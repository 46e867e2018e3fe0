"""Kaplan–Meier survival of right-censored collapse times: the curve, its median and the restricted mean survival
time (RMST, the area under the curve up to the horizon), with bootstrap intervals over seeds. numpy only.

A run that never collapsed is censored at the last generation G: all we know is T > G, so a median over T (or a
difference of medians) is just G for it. The RMST is the mean of min(T, G) estimated from the curve, so it stays
meaningful however many runs are censored, and arm - none is the delay in generations bought, restricted to G."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

_HALF = 0.5 + 1e-12  # products like 0.75 * (1 - 1/3) land a hair above 0.5; they count as reaching it


@dataclass(frozen=True)
class Curve:
    """A Kaplan–Meier curve: at each distinct observed time, the number at risk, the collapses, and S(t) just
    after it (a right-continuous step function, 1 before the first time)."""

    times: np.ndarray
    at_risk: np.ndarray
    events: np.ndarray
    survival: np.ndarray

    def median(self) -> float | None:
        """The first time S(t) <= 0.5; None when the curve never gets there ("not reached")."""
        hit = np.flatnonzero(self.survival <= _HALF)
        return float(self.times[hit[0]]) if hit.size else None

    def rmst(self, horizon: float) -> float:
        """The area under S(t) from 0 to ``horizon``."""
        return float(_area(self.times, self.survival[None, :], horizon)[0])

    def to_dict(self) -> dict[str, list[float]]:
        """The curve as JSON-ready lists."""
        return {"t": self.times.tolist(), "at_risk": self.at_risk.tolist(), "events": self.events.tolist(),
                "survival": self.survival.tolist()}


def kaplan_meier(times: Sequence[float], events: Sequence[bool]) -> Curve:
    """The Kaplan–Meier estimate; ``events[i]`` is True when run i collapsed at ``times[i]``, False if censored."""
    t, e = _arrays(times, events)
    u, at_risk, died, surv = _fit(t, e, np.ones((1, len(t))))
    return Curve(u, at_risk[0], died[0], surv[0])


def resample(n: int, n_boot: int, seed: int = 0) -> np.ndarray:
    """``n_boot`` bootstrap draws of ``n`` seed indices, shape (n_boot, n); one draw for every arm keeps pairs."""
    return np.random.default_rng(seed).integers(0, n, size=(n_boot, n))


def rmst_boot(times: Sequence[float], events: Sequence[bool], horizon: float, idx: np.ndarray) -> np.ndarray:
    """The RMST of each bootstrap resample (a row of seed indices in ``idx``)."""
    t, e = _arrays(times, events)
    weights = np.zeros(idx.shape)
    np.add.at(weights, (np.arange(idx.shape[0])[:, None], idx), 1.0)
    u, _, _, surv = _fit(t, e, weights)
    return _area(u, surv, horizon)


def percentile_ci(boots: np.ndarray, level: float = 0.95) -> list[float]:
    """The percentile interval of the finite bootstrap values; NaNs when there are none."""
    boots = np.asarray(boots, dtype=float)
    boots = boots[np.isfinite(boots)]
    if not boots.size:
        return [float("nan"), float("nan")]
    tail = 100 * (1 - level) / 2
    return [float(np.percentile(boots, tail)), float(np.percentile(boots, 100 - tail))]


def survival_summary(t_arm: Sequence[float], e_arm: Sequence[bool], t_none: Sequence[float] | None,
                     e_none: Sequence[bool] | None, horizon: float, n_boot: int, seed: int = 0) -> dict[str, Any]:
    """KM median, RMST and RMST arm - none, each RMST with a 95% bootstrap CI over seeds (paired: same seeds)."""
    curve = kaplan_meier(t_arm, e_arm)
    median = curve.median()
    idx = resample(len(t_arm), n_boot, seed)
    boot_arm = rmst_boot(t_arm, e_arm, horizon, idx)
    out = {"km_median": median, "km_median_reached": median is not None, "rmst": curve.rmst(horizon),
           "rmst_ci": percentile_ci(boot_arm), "rmst_delay": float("nan"), "rmst_delay_ci": [float("nan")] * 2,
           "events": int(np.sum(np.asarray(e_arm, dtype=bool))), "n": len(t_arm), "horizon": horizon}
    if t_none is not None and e_none is not None:
        if len(t_none) != len(t_arm):
            raise ValueError(f"paired RMST needs the same seeds: {len(t_arm)} arm runs, {len(t_none)} none runs")
        out["rmst_delay"] = out["rmst"] - kaplan_meier(t_none, e_none).rmst(horizon)
        out["rmst_delay_ci"] = percentile_ci(boot_arm - rmst_boot(t_none, e_none, horizon, idx))
    return out


def _arrays(times: Sequence[float], events: Sequence[bool]) -> tuple[np.ndarray, np.ndarray]:
    t, e = np.asarray(times, dtype=float), np.asarray(events, dtype=bool)
    if t.shape != e.shape or t.ndim != 1 or not t.size:
        raise ValueError(f"need one event flag per time and at least one run, got {t.shape} and {e.shape}")
    return t, e


def _fit(t: np.ndarray, e: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, ...]:
    """KM under many weightings of the same runs at once (a bootstrap resample is a weighting by counts), so
    thousands of resamples cost a few matrix products rather than thousands of sorts. Censored at a time where
    others collapse counts as still at risk then, the usual convention."""
    u, inv = np.unique(t, return_inverse=True)
    at = np.zeros((len(t), len(u)))
    at[np.arange(len(t)), inv] = 1.0
    total, died = weights @ at, weights @ (at * e[:, None])
    at_risk = np.cumsum(total[:, ::-1], axis=1)[:, ::-1]
    hazard = np.divide(died, at_risk, out=np.zeros_like(died), where=at_risk > 0)
    return u, at_risk, died, np.cumprod(1.0 - hazard, axis=1)


def _area(u: np.ndarray, surv: np.ndarray, horizon: float) -> np.ndarray:
    """Area under each step curve (rows of ``surv``, jumping at ``u``) from 0 to ``horizon``."""
    starts, ends = np.concatenate([[0.0], u]), np.concatenate([u, [horizon]])
    widths = np.maximum(np.clip(ends, 0, horizon) - np.clip(starts, 0, horizon), 0.0)
    values = np.concatenate([np.ones((surv.shape[0], 1)), surv], axis=1)
    return values @ widths
