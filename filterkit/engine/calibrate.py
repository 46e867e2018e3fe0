"""Set a rule's threshold from known-human documents so that at most a given fraction of them is removed."""
from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from filterkit.config import FilterConfig, MixtureSpec
from filterkit.engine.pipeline import filter_stage, score
from filterkit.io.readers import read_table
from filterkit.io.sources import discover
from filterkit.io.storage import write_parquet
from filterkit.stage.rules import Op, Rule, allowed_false_positives, threshold_for_fpr


def calibrate(
    human_inputs: list[str],
    config: FilterConfig,
    column: str | None = None,
    max_fpr: float = 0.01,
    op: Op | None = None,
    by: str | None = None,
    edges: tuple[float, ...] | None = None,
    reference_out: str | Path | None = None,
    **run_kwargs: Any,
) -> tuple[FilterConfig, dict[str, Any]]:
    """Score human documents (unless they already carry the columns), set the threshold(s), return the new config.

    The threshold is the tightest whose expected false-positive rate on new human text is at most ``max_fpr``
    (``threshold_for_fpr``); ``info`` gives that expectation (``expected_fpr``) and the 5-95% range of the rate
    over draws of the human set. ``column``: the score to threshold; None: the column of the config's one rule
    (its rules, or else its detectors' default rules). Those rules are written back, the one on ``column`` with
    its new threshold.

    With ``by`` (and ``edges`` for a numeric column such as ``length.words``), each bucket gets its own threshold
    where it holds enough human rows to resolve ``max_fpr``; the others use the global one. With
    ``reference_out``, the human scores of ``column`` are written there as Parquet and the config's ``mixture``
    points at them, so that every run's report estimates the input's machine-written share.
    """
    current = tuple(config.rules) if config.rules is not None else filter_stage(config).rules
    if column is None:
        columns = sorted({r.column for r in current})
        if len(columns) != 1:
            raise ValueError(f"name the score column to calibrate (--column): the config's rules use {columns}")
        column = columns[0]
    existing = next((r for r in current if r.column == column), None)
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
                            "human_rows": int(values.size), "human_nan": int(np.isnan(values).sum()),
                            **realised_fpr(int((~np.isnan(values)).sum()), max_fpr)}
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
    rules = [rule if r is existing else r for r in current]
    if existing is None:
        rules.append(rule)
    info["human_removed_fraction"] = float(np.mean(rule.fires(table))) if table.num_rows else 0.0
    return config.replace(rules=tuple(rules)), info


def _columns(inputs: list[str], columns: list[str]) -> pa.Table | None:
    table = read_table(discover(inputs))
    if not all(c in table.column_names for c in columns):
        return None
    return table.select(columns)


def realised_fpr(n: int, max_fpr: float) -> dict[str, float]:
    """The false-positive rate on new human text of a threshold set on ``n`` human scores for ``max_fpr``.

    It is ``Beta(k + 1, n - k)`` whatever the scores' distribution (``k``: the human scores the threshold lets
    through, ``allowed_false_positives``): its mean and 5th and 95th percentiles (NaN without scores).
    """
    if n < 1:
        return {"expected_fpr": float("nan"), "fpr_5": float("nan"), "fpr_95": float("nan")}
    from scipy.stats import beta

    k = allowed_false_positives(n, max_fpr)
    dist = beta(k + 1, n - k)
    return {"expected_fpr": float(dist.mean()), "fpr_5": float(dist.ppf(0.05)), "fpr_95": float(dist.ppf(0.95))}
