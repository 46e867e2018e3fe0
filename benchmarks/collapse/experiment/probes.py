"""Probes: a detector scores a random subsample of each generation's crawl without deciding anything, so that
its realised TPR and FPR per generation are known even where it is too slow to run as an arm (the LM on a CPU).

Its threshold is set once per run on trusted human text at ``max_fpr``, as a practitioner would set it, in the
detector's default direction or the one the run's ``calibrate`` names for its column (``lm.fastdetect: "<="`` flags
text *less* predictable than human text: a weak learner's, which the default direction ranks as human).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from benchmarks.collapse.experiment.practitioner import DEFAULT_CALIBRATION
from detectors.classifier.metrics import auroc
from filterkit.contract import registry
from filterkit.contract.normalize import defend_texts
from filterkit.stage.rules import threshold_for_fpr


@dataclass(frozen=True)
class ProbeStats:
    """What one probe measured on one generation's crawl; a record holds it as ``probe_<name>_<field>`` columns."""

    name: str
    rows: int
    tpr: float
    fpr: float
    auroc: float
    tpr_foreign_own: tuple[float, float] | None = None
    """With foreign rows in the crawl: the TPR on them and on the previous model's own rows apart."""

    def to_dict(self) -> dict[str, Any]:
        """The record's columns, in their order; the foreign split only where it was measured."""
        p = f"probe_{self.name}"
        out = {f"{p}_rows": self.rows, f"{p}_tpr": self.tpr, f"{p}_fpr": self.fpr, f"{p}_auroc": self.auroc}
        if self.tpr_foreign_own is not None:
            out |= {f"{p}_tpr_foreign": self.tpr_foreign_own[0], f"{p}_tpr_own": self.tpr_foreign_own[1]}
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> tuple[ProbeStats, ...]:
        """Every probe's stats among a record's columns, in the order they appear."""
        names = [k[len("probe_"):-len("_rows")] for k in data if k.startswith("probe_") and k.endswith("_rows")]
        out = []
        for name in names:
            p = f"probe_{name}"
            split = (data[f"{p}_tpr_foreign"], data[f"{p}_tpr_own"]) if f"{p}_tpr_foreign" in data else None
            out.append(cls(name, data[f"{p}_rows"], data[f"{p}_tpr"], data[f"{p}_fpr"], data[f"{p}_auroc"], split))
        return tuple(out)


@dataclass
class Probe:
    """One row detector, its score column and direction, and the threshold fitted on trusted human text."""

    name: str
    params: dict[str, Any]
    rows: int
    max_fpr: float
    calibrate: dict[str, str] = field(default_factory=dict)
    """The run's directions by score column (``CollapseConfig.calibrate``); the detector's default elsewhere."""
    column: str = ""
    op: str = ">="
    threshold_: float = math.nan
    detector_: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.name not in DEFAULT_CALIBRATION:
            raise ValueError(f"probe {self.name!r}: probes know {sorted(DEFAULT_CALIBRATION)}")
        self.column, default = DEFAULT_CALIBRATION[self.name]
        self.op = self.calibrate.get(self.column, default)
        if self.op not in (">=", "<="):
            raise ValueError(f"probe {self.name!r}: direction must be '>=' or '<=', got {self.op!r}")

    def fit(self, trusted: np.ndarray, rng: np.random.Generator) -> Probe:
        """Build the detector and set the threshold on up to ``rows`` trusted human documents."""
        self.detector_ = registry.build(self.name, self.params)
        self.threshold_ = threshold_for_fpr(self._scores(trusted[_pick(len(trusted), self.rows, rng)]), self.max_fpr,
                                            self.op)
        return self

    def measure(self, texts: np.ndarray, synthetic: np.ndarray, rng: np.random.Generator,
                foreign: np.ndarray | None = None) -> ProbeStats:
        """TPR, FPR and AUROC of the probe on up to ``rows`` crawl rows drawn at random; with a ``foreign`` mask,
        the TPR on foreign (replayed) and own synthetic rows apart."""
        pick = _pick(len(texts), self.rows, rng)
        s, y = self._scores(texts[pick]), synthetic[pick]
        with np.errstate(invalid="ignore"):  # NaN scores (the detector abstained) never flag
            flagged = s >= self.threshold_ if self.op == ">=" else s <= self.threshold_
        signed = s if self.op == ">=" else -s
        finite = signed[np.isfinite(signed)]
        # Abstentions (NaN) rank below every scored row: the most human-like, as the rule treats them.
        signed = np.where(np.isfinite(signed), signed, (finite.min() - 1.0) if finite.size else 0.0)
        both = bool(y.any() and (~y).any())
        split = None
        if foreign is not None:
            f = foreign[pick]
            split = (float(flagged[y & f].mean()) if (y & f).any() else math.nan,
                     float(flagged[y & ~f].mean()) if (y & ~f).any() else math.nan)
        return ProbeStats(self.name, len(pick), tpr=float(flagged[y].mean()) if y.any() else math.nan,
                          fpr=float(flagged[~y].mean()) if (~y).any() else math.nan,
                          auroc=auroc(y, signed) if both else math.nan, tpr_foreign_own=split)

    def _scores(self, texts: np.ndarray) -> np.ndarray:
        batch = pa.table({"text": pa.array(defend_texts(pa.array([str(t) for t in texts], pa.string())))})
        return self.detector_.score(batch)[self.column].to_numpy(zero_copy_only=False).astype(float)


def _pick(size: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted positions of up to ``n`` of ``size`` rows, drawn without replacement."""
    return np.sort(rng.choice(size, size=min(n, size), replace=False))
