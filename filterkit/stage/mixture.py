"""How much of a crawl is machine-written: mixture-proportion estimation of one score against trusted human text.

A crawl's score distribution is ``F = (1 - a) F_human + a F_machine``. Below a threshold ``t`` where machine text is
rare, ``F(t) / F_human(t)`` is close to ``1 - a`` and never below it, so ``1 - F(t) / F_human(t)`` is a lower bound
on ``a`` at every ``t`` (Blanchard, Lee and Scott 2010; Scott 2015). Low thresholds hold few rows and are noisy,
high ones hold machine text and underestimate: among thresholds at the human scores' deciles, the estimate is
taken at the highest one whose value is within two standard errors of the best lower confidence bound. Machine
text that scores like the most human-like humans is never counted. The interval is a percentile bootstrap over
crawl and reference rows at the chosen threshold (bootstrapping the selection would carry its bias into every
draw).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

QUANTILES = np.linspace(0.1, 0.9, 9)
"""Candidate thresholds: these quantiles of the human scores."""


@dataclass(frozen=True)
class MixtureEstimate:
    """The machine-written share of a crawl, with a 95% interval, and what it was measured with."""

    share: float
    low: float
    high: float
    column: str
    reference_rows: int
    crawl_rows: int
    method: str = ("lower bound: 1 - F_crawl(t) / F_human(t) at a decile t of the human scores "
                   "(filterkit.stage.mixture)")

    def to_dict(self) -> dict[str, Any]:
        """Plain data, for report.json."""
        return asdict(self)


def _shares(crawl: np.ndarray, human: np.ndarray, thresholds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``1 - F_crawl(t) / F_human(t)`` at each threshold, and its standard error (delta method)."""
    fh = np.maximum(np.searchsorted(np.sort(human), thresholds, side="right") / human.size, 1.0 / human.size)
    fc = np.searchsorted(np.sort(crawl), thresholds, side="right") / crawl.size
    ratio = fc / fh
    se = np.sqrt(fc * (1 - fc) / crawl.size + ratio**2 * fh * (1 - fh) / human.size) / fh
    return 1.0 - ratio, se


def machine_share(crawl: np.ndarray, human: np.ndarray, column: str, machine_high: bool = True,
                  bootstrap: int = 500, seed: int = 0) -> MixtureEstimate:
    """Estimate the machine share of ``crawl`` scores from ``human`` reference scores (NaN scores left out).

    ``machine_high``: whether higher scores mean more machine-like (False for a column such as ``lm.loglik``
    under a rule ``<=``... or any column a rule reads with ``<``).
    """
    sign = 1.0 if machine_high else -1.0
    crawl = sign * np.asarray(crawl, float)
    human = sign * np.asarray(human, float)
    crawl, human = crawl[~np.isnan(crawl)], human[~np.isnan(human)]
    if crawl.size == 0 or human.size < 1 / QUANTILES[0]:
        raise ValueError(f"{column}: need scored crawl rows and at least {int(1 / QUANTILES[0])} human reference "
                         f"rows, got {crawl.size} and {human.size}")
    thresholds = np.quantile(human, QUANTILES)
    shares, se = _shares(crawl, human, thresholds)
    # The highest threshold (most rows, least noise) whose estimate is within noise of the best lower bound.
    k = int(np.flatnonzero(shares >= np.max(shares - 2 * se))[-1])
    rng = np.random.default_rng(seed)
    draws = [float(_shares(rng.choice(crawl, crawl.size), rng.choice(human, human.size), thresholds[[k]])[0][0])
             for _ in range(bootstrap)]
    low, high = np.clip(np.percentile(draws, [2.5, 97.5]), 0, 1) if draws else (np.nan, np.nan)
    return MixtureEstimate(float(np.clip(shares[k], 0, 1)), float(low), float(high), column, int(human.size),
                           int(crawl.size))
