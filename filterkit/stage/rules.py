"""The filter stage: turns score columns into keep/remove decisions, reasons and weights. It never calls a model."""
from __future__ import annotations

import itertools
import operator
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pyarrow as pa

FILTER_DECISION = "filter_decision"
FILTER_REASON = "filter_reason"
WEIGHT = "weight"
"""The columns the stage's decision adds to output rows: ``keep``/``remove``/``quarantine``, the fired rules' labels,
and (in weight mode) the sampling weight."""
KEEP, REMOVE, QUARANTINE = "keep", "remove", "quarantine"

Op = Literal[">", ">=", "<", "<="]
_OPS = {">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}
Mode = Literal["drop", "tag", "weight"]
Combine = Literal["any", "all"]


@dataclass(frozen=True)
class Rule:
    """Remove a row when ``column op threshold``; a NaN score abstains (never fires).

    With ``by``, the threshold depends on another column: its value (a domain, say) or, with ``edges``, the
    bucket its number falls in (a length); ``thresholds`` maps bucket labels to thresholds, and buckets it does
    not name use ``threshold``.
    """

    column: str
    op: Op = ">="
    threshold: float = 0.5
    reason: str | None = None
    by: str | None = None
    edges: tuple[float, ...] | None = None
    thresholds: dict[str, float] | None = None

    def __post_init__(self) -> None:
        if self.op not in _OPS:
            raise ValueError(f"rule on {self.column!r}: op must be one of {sorted(_OPS)}, got {self.op!r}")
        if self.edges is not None:
            object.__setattr__(self, "edges", tuple(float(e) for e in self.edges))
        if (self.edges or self.thresholds) and not self.by:
            raise ValueError(f"rule on {self.column!r}: edges and thresholds need 'by' (the column to group by)")

    def buckets(self, table: pa.Table) -> np.ndarray:
        """The bucket label of every row (all ``""`` when the rule has no ``by``)."""
        if not self.by:
            return np.full(table.num_rows, "", dtype=object)
        if self.by not in table.column_names:
            raise KeyError(f"rule groups by column {self.by!r}, which is not among {table.column_names}")
        values = table[self.by].to_numpy(zero_copy_only=False)
        if not self.edges:
            return np.array([str(v) for v in values], dtype=object)
        labels = bucket_labels(self.edges)
        return np.array([labels[i] for i in np.digitize(values.astype(float), self.edges)], dtype=object)

    @property
    def label(self) -> str:
        """The ``filter_reason`` this rule writes."""
        return self.reason or f"{self.column}{self.op}{self.threshold:g}"

    def fires(self, table: pa.Table) -> np.ndarray:
        """Boolean mask of rows this rule would remove."""
        if self.column not in table.column_names:
            raise KeyError(
                f"rule needs column {self.column!r}, which is not among the scored columns {table.column_names}"
            )
        values = np.asarray(table[self.column].to_numpy(zero_copy_only=False), dtype=np.float64)
        if not self.thresholds:
            return self.fires_values(values)
        per_row = np.array([self.thresholds.get(b, self.threshold) for b in self.buckets(table)], dtype=np.float64)
        return self.fires_values(values, per_row)

    def fires_values(self, values: np.ndarray, thresholds: np.ndarray | float | None = None) -> np.ndarray:
        """Boolean mask over raw score values (against ``threshold`` unless per-row thresholds are given)."""
        with np.errstate(invalid="ignore"):
            t = self.threshold if thresholds is None else thresholds
            return _OPS[self.op](values, t) & ~np.isnan(values)


def bucket_labels(edges: tuple[float, ...]) -> list[str]:
    """Readable labels of the buckets ``np.digitize`` makes from ``edges``: ``<50``, ``50-100``, ``>=100``."""
    if not edges:
        return [""]
    inner = [f"{a:g}-{b:g}" for a, b in itertools.pairwise(edges)]
    return [f"<{edges[0]:g}", *inner, f">={edges[-1]:g}"]


@dataclass(frozen=True)
class WeightSpec:
    """Sampling weight ``(1 - clip(column, 0, 1)) ** power``; a NaN score gives weight 1."""

    column: str
    power: float = 1.0


@dataclass(frozen=True)
class Decision:
    """What the filter stage decided for each row of a batch."""

    remove: np.ndarray
    reason: pa.Array
    weight: np.ndarray


@dataclass(frozen=True)
class FilterStage:
    """Rules, how they combine, and the sampling weight; ``decide`` only reads columns."""

    rules: tuple[Rule, ...] = ()
    combine: Combine = "any"
    weight: WeightSpec | None = None

    def __post_init__(self) -> None:
        if self.combine not in ("any", "all"):
            raise ValueError(f"combine must be 'any' or 'all', got {self.combine!r}")

    def decide(self, table: pa.Table) -> Decision:
        """Evaluate every rule on ``table`` and combine them into one decision per row."""
        n = table.num_rows
        if not self.rules:
            remove = np.zeros(n, dtype=bool)
            fired = np.zeros((0, n), dtype=bool)
        else:
            fired = np.vstack([r.fires(table) for r in self.rules])
            remove = fired.any(axis=0) if self.combine == "any" else fired.all(axis=0)
        labels = [r.label for r in self.rules]
        reasons: list[str | None] = [None] * n
        for i in np.flatnonzero(remove):
            reasons[i] = ";".join(labels[j] for j in np.flatnonzero(fired[:, i]))
        weight = np.where(remove, 0.0, self._weights(table))
        return Decision(remove=remove, reason=pa.array(reasons, type=pa.string()), weight=weight)

    def _weights(self, table: pa.Table) -> np.ndarray:
        if self.weight is None:
            return np.ones(table.num_rows)
        if self.weight.column not in table.column_names:
            raise KeyError(f"weight needs column {self.weight.column!r}, which is not among {table.column_names}")
        p = np.asarray(table[self.weight.column].to_numpy(zero_copy_only=False), dtype=np.float64)
        w = (1.0 - np.clip(p, 0.0, 1.0)) ** self.weight.power
        return np.where(np.isnan(p), 1.0, w)


def allowed_false_positives(n: int, max_fpr: float, in_sample: bool = False) -> int:
    """How many of ``n`` human scores a threshold set for ``max_fpr`` may let through.

    The threshold sits just past the ``k``-th most machine-like human score; on new human text from the same
    distribution its false-positive rate is a random variable, ``Beta(k + 1, n - k)`` whatever the scores'
    distribution (order statistics), with mean ``(k + 1) / (n + 1)``. ``k = floor(max_fpr * (n + 1)) - 1`` is the
    largest ``k`` whose mean is at most ``max_fpr``; ``in_sample`` gives ``floor(max_fpr * n)`` instead, the most
    that keeps the share of *these* scores at or below ``max_fpr`` (its mean on new text is above ``max_fpr``:
    1.25% for 1% on 400 scores). Never below 0: with fewer than ``1 / max_fpr - 1`` scores no threshold inside
    the sample has a small enough mean, and the one above every score has mean ``1 / (n + 1)``.
    """
    # The small epsilon keeps products such as 0.01 * 300 = 3.0000000000000004 on the integer they mean.
    k = int(np.floor(max_fpr * n + 1e-9)) if in_sample else int(np.floor(max_fpr * (n + 1) + 1e-9)) - 1
    return max(0, min(k, n - 1))


def threshold_for_fpr(human_scores: np.ndarray, max_fpr: float, op: Op = ">=", in_sample: bool = False) -> float:
    """The tightest threshold whose expected false-positive rate on new human text is at most ``max_fpr``.

    ``score op threshold`` holds for at most ``allowed_false_positives(n, max_fpr)`` of the ``n`` human scores
    (NaN dropped), so that the rate on new human text from the same distribution is ``max_fpr`` or less on
    average; ``in_sample=True``: at most ``max_fpr`` of these scores (a measure on one set, not a threshold for
    the next). Ties only lower the rate: a threshold never splits equal scores.
    """
    if not 0.0 <= max_fpr < 1.0:
        raise ValueError(f"max_fpr must be in [0, 1), got {max_fpr}")
    s = np.sort(np.asarray(human_scores, dtype=np.float64))
    s = s[~np.isnan(s)]
    if s.size == 0:
        raise ValueError("no human scores to calibrate on (all NaN or empty)")
    allowed = allowed_false_positives(s.size, max_fpr, in_sample)
    if op in (">", ">="):
        edge = s[s.size - allowed - 1]  # the largest score that must stay below the threshold
        return float(edge) if op == ">" else float(np.nextafter(edge, np.inf))
    edge = s[allowed]
    return float(edge) if op == "<" else float(np.nextafter(edge, -np.inf))
