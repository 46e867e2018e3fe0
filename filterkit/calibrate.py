"""Set a rule's threshold from known-human documents so that at most a given fraction of them is removed."""
from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.dataset as ds

from filterkit.config import FilterConfig
from filterkit.pipeline import score
from filterkit.rules import Op, Rule
from filterkit.sources import discover


def threshold_for_fpr(human_scores: np.ndarray, max_fpr: float, op: Op = ">=") -> float:
    """The tightest threshold for which ``score op threshold`` holds for at most ``max_fpr`` of human scores."""
    if not 0.0 <= max_fpr < 1.0:
        raise ValueError(f"max_fpr must be in [0, 1), got {max_fpr}")
    s = np.sort(np.asarray(human_scores, dtype=np.float64))
    s = s[~np.isnan(s)]
    if s.size == 0:
        raise ValueError("no human scores to calibrate on (all NaN or empty)")
    allowed = int(np.floor(max_fpr * s.size))
    if op in (">", ">="):
        edge = s[s.size - allowed - 1]  # the largest score that must stay below the threshold
        return float(edge) if op == ">" else float(np.nextafter(edge, np.inf))
    edge = s[allowed]
    return float(edge) if op == "<" else float(np.nextafter(edge, -np.inf))


def calibrate(
    human_inputs: list[str],
    config: FilterConfig,
    column: str,
    max_fpr: float = 0.01,
    op: Op | None = None,
    **run_kwargs: Any,
) -> tuple[FilterConfig, dict[str, Any]]:
    """Score human documents (unless they already carry ``column``), set the threshold, return the new config."""
    existing = next((r for r in (config.rules or ()) if r.column == column), None)
    op = op or (existing.op if existing else ">=")
    values = _column_values(human_inputs, column)
    if values is None:
        with tempfile.TemporaryDirectory(prefix="filterkit-calibrate-") as tmp:
            result = score(human_inputs, Path(tmp) / "scored", config, **run_kwargs)
            values = _column_values([str(result.out / "kept")], column)
    if values is None:
        raise ValueError(f"no detector in the config produces column {column!r}")
    threshold = threshold_for_fpr(values, max_fpr, op)
    new_rule = dataclasses.replace(existing, op=op, threshold=threshold) if existing else Rule(column, op, threshold)
    rules = [new_rule if r is existing else r for r in (config.rules or ())]
    if existing is None:
        rules.append(new_rule)
    finite = values[~np.isnan(values)]
    with np.errstate(invalid="ignore"):
        removed = float(np.mean(new_rule.fires_values(finite))) if finite.size else 0.0
    info = {"column": column, "op": op, "threshold": threshold, "max_fpr": max_fpr,
            "human_rows": int(values.size), "human_nan": int(values.size - finite.size),
            "human_removed_fraction": removed}
    return config.replace(rules=tuple(rules)), info


def _column_values(inputs: list[str], column: str) -> np.ndarray | None:
    dataset = ds.dataset([f.path for f in discover(inputs)], format="parquet")
    if column not in dataset.schema.names:
        return None
    return dataset.to_table(columns=[column])[column].to_numpy(zero_copy_only=False).astype(np.float64)
