"""Set a rule's threshold from known-human documents so that at most a given fraction of them is removed."""
from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from filterkit.config import FilterConfig, MixtureSpec
from filterkit.engine.pipeline import score
from filterkit.io.readers import read_table
from filterkit.io.sources import discover
from filterkit.io.storage import write_parquet
from filterkit.stage.rules import Op, Rule, threshold_for_fpr


def calibrate(
    human_inputs: list[str],
    config: FilterConfig,
    column: str,
    max_fpr: float = 0.01,
    op: Op | None = None,
    by: str | None = None,
    edges: tuple[float, ...] | None = None,
    reference_out: str | Path | None = None,
    **run_kwargs: Any,
) -> tuple[FilterConfig, dict[str, Any]]:
    """Score human documents (unless they already carry the columns), set the threshold(s), return the new config.

    With ``by`` (and ``edges`` for a numeric column such as ``length.words``), each bucket gets its own threshold
    where it holds enough human rows to resolve ``max_fpr``; the others use the global one. With
    ``reference_out``, the human scores of ``column`` are written there as Parquet and the config's ``mixture``
    points at them, so that every run's report estimates the input's machine-written share.
    """
    existing = next((r for r in (config.rules or ()) if r.column == column), None)
    op = op or (existing.op if existing else ">=")
    wanted = [column] + ([by] if by else [])
    table = _columns(human_inputs, wanted)
    if table is None:
        with tempfile.TemporaryDirectory(prefix="filterkit-calibrate-") as tmp:
            result = score(human_inputs, Path(tmp) / "scored", config, **run_kwargs)
            table = _columns([str(result.out / "kept")], wanted)
    if table is None:
        raise ValueError(f"neither the inputs nor the configured detectors give the columns {wanted}")
    values = table[column].to_numpy(zero_copy_only=False).astype(np.float64)
    if reference_out is not None:
        write_parquet(pa.table({column: values}), reference_out)
        config = config.replace(mixture=MixtureSpec(column, str(Path(reference_out).resolve()), op in (">=", ">")))
    rule = Rule(column, op, threshold_for_fpr(values, max_fpr, op), existing.reason if existing else None,
                by=by, edges=tuple(edges) if edges else None)
    info: dict[str, Any] = {"column": column, "op": op, "threshold": rule.threshold, "max_fpr": max_fpr,
                            "human_rows": int(values.size), "human_nan": int(np.isnan(values).sum())}
    if by:
        buckets = rule.buckets(table)
        thresholds, per_bucket = {}, {}
        for b in sorted(set(buckets)):
            v = values[buckets == b]
            n = int((~np.isnan(v)).sum())
            if n >= int(np.ceil(1.0 / max_fpr)) if max_fpr > 0 else n > 0:
                thresholds[b] = threshold_for_fpr(v, max_fpr, op)
            per_bucket[b] = {"human_rows": n, "threshold": thresholds.get(b, rule.threshold),
                             "own_threshold": b in thresholds}
        rule = dataclasses.replace(rule, thresholds=thresholds)
        info["buckets"] = per_bucket
    rules = [rule if r is existing else r for r in (config.rules or ())]
    if existing is None:
        rules.append(rule)
    info["human_removed_fraction"] = float(np.mean(rule.fires(table))) if table.num_rows else 0.0
    return config.replace(rules=tuple(rules)), info


def _columns(inputs: list[str], columns: list[str]) -> pa.Table | None:
    table = read_table(discover(inputs))
    if not all(c in table.column_names for c in columns):
        return None
    return table.select(columns)
