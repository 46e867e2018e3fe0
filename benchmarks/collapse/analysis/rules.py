"""When a lineage has collapsed: the rule type a config names, and the first generation one of them fires."""
from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class CollapseRule:
    """A model has collapsed when ``metric op threshold`` (``relative``: the metric divided by its generation-0
    value)."""

    metric: str
    op: str
    threshold: float
    relative: bool = True

    def __post_init__(self) -> None:
        if self.op not in ("<", "<=", ">", ">="):
            raise ValueError(f"collapse rule on {self.metric!r}: op must be <, <=, > or >=, got {self.op!r}")


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
