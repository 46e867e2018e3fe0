"""The run report: counts merged from per-shard stats, score summaries, and a Markdown page with plots."""
from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from filterkit.config import FilterConfig
from filterkit.engine.executors import TaskFailure
from filterkit.engine.stats import DecideStats, MapStats, ReduceStats, Totals
from filterkit.io.layout import Layout
from filterkit.io.readers import read_table
from filterkit.io.sources import FileFailure, Shard, discover
from filterkit.io.storage import exists, write_file, write_json, write_parquet, write_text
from filterkit.stage.mixture import machine_share
from filterkit.stage.rules import FilterStage

log = logging.getLogger(__name__)
_SAMPLE_CAP = 500_000
_QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)


def build_report(
    lay: Layout,
    shards: list[Shard],
    failures: list[FileFailure],
    stage: FilterStage,
    config: FilterConfig,
    wall_seconds: float,
    failed_tasks: list[TaskFailure] = (),
) -> dict[str, Any]:
    """Merge the per-shard stats of a run into ``report.json`` (written here) and return it.

    Shards whose tasks failed are counted as ``failed_rows`` (their outputs are not written); a ``--resume``
    retries them.
    """
    maps = {s.name: MapStats.read(lay.stats("map", s)) for s in shards if lay.is_done(f"map-{s.name}")}
    decides = {s.name: DecideStats.read(lay.stats("decide", s)) for s in shards if lay.is_done(f"decide-{s.name}")}
    totals = Totals.merge({s.name: s.num_rows for s in shards}, maps, decides, sum(f.num_rows or 0 for f in failures))
    counts, unreadable, task_seconds = totals.counts, totals.unreadable, totals.task_seconds
    report = {
        "mode": config.mode,
        "counts": counts,
        "conservation": {
            "holds": totals.accounted == counts["rows_in"],
            "statement": f"rows_in {counts['rows_in']} = kept {counts['kept']} + removed {counts['removed']} "
            f"+ quarantined {counts['quarantined']} + unreadable {counts['unreadable_rows']}"
            + (f" + failed {counts['failed_rows']}" if counts["failed_rows"] else ""),
        },
        "failed_tasks": [{"task": _task_name(f.task), "error": f.error, "attempts": f.attempts} for f in failed_tasks],
        "filter_reasons": totals.filter_reasons,
        "quarantine_reasons": totals.quarantine_reasons,
        "files_failed": [dataclasses.asdict(f) for f in failures],
        "unreadable_ranges": unreadable,
        "shards": len(shards),
        "detectors": [{"name": d.name, "params": d.params} for d in config.detectors],
        "rules": [dataclasses.asdict(r) | {"label": r.label} for r in stage.rules],
        "combine": stage.combine,
        "weight": dataclasses.asdict(stage.weight) if stage.weight else None,
        "scores": score_summaries(lay),
        "machine_share": _machine_share(lay, config),
        "throughput": {
            "wall_seconds_this_invocation": round(wall_seconds, 3),
            "task_seconds": round(task_seconds, 3),
            "rows_per_task_second": round(counts["rows_in"] / task_seconds, 1) if task_seconds else None,
            "reduce_seconds": {d.name: round(ReduceStats.read(lay.reduce_stats(d.name)).seconds, 3)
                               for d in config.detectors if exists(lay.reduce_stats(d.name))},
        },
    }
    write_json(report, lay.report_json)
    _write_unreadable(lay, failures, unreadable)
    return report


def _machine_share(lay: Layout, config: FilterConfig) -> dict[str, Any] | None:
    """The mixture estimate the config asks for, over every valid row's score (None when it asks for none)."""
    spec = config.mixture
    if spec is None:
        return None
    samples = _samples(lay).get(spec.column)
    if samples is None:
        return {"error": f"no scores in column {spec.column!r}"}
    reference = read_table(discover([spec.reference]))
    if spec.column not in reference.column_names:
        return {"error": f"{spec.reference}: no column {spec.column!r} in the human reference"}
    human = reference[spec.column].to_numpy(zero_copy_only=False).astype(float)
    crawl = np.concatenate([samples["kept"], samples["removed"]])
    try:
        estimate = machine_share(crawl, human, spec.column, spec.machine_high)
    except ValueError as exc:
        return {"error": str(exc)}
    return estimate.to_dict() | {"reference": spec.reference}


def _task_name(task: Any) -> str:
    shard = getattr(task, "shard", None)
    return f"{type(task).__name__} {shard.name} ({shard.source})" if shard else f"{type(task).__name__} {task.detector}"


def _write_unreadable(lay: Layout, failures: list[FileFailure], unreadable: list[dict[str, Any]]) -> None:
    # A leading underscore keeps this file out of pyarrow.dataset reads of quarantine/.
    entries = [dataclasses.asdict(f) for f in failures] + unreadable
    if entries:
        write_json(entries, lay.out("quarantine", "_unreadable.json"))


_FLAGGED = "_flagged"
PLOT_MIN_ROWS = 100
"""Fewer scored rows than this get no histogram (it would show nothing a table does not), and no plotting cost."""


def is_score_column(f: pa.Field) -> bool:
    """A detector's numeric or flag column (``detector.name``), not an identifier such as ``minhash.cluster_id``."""
    numeric = pa.types.is_floating(f.type) or pa.types.is_integer(f.type) or pa.types.is_boolean(f.type)
    return "." in f.name and numeric and not f.name.endswith("_id")


def write_samples(table: pa.Table, flagged: np.ndarray, path: Path) -> None:
    """A shard's score columns and whether each row was flagged: what the report summarises and plots."""
    sample = table.select([f.name for f in table.schema if is_score_column(f)])
    write_parquet(sample.append_column(_FLAGGED, pa.array(np.asarray(flagged, bool))), path)


def _samples(lay: Layout) -> dict[str, dict[str, np.ndarray]]:
    """Score values per column, split into kept and removed (or flagged), decimated past a cap."""
    out: dict[str, dict[str, list[np.ndarray]]] = {}
    for path in sorted((lay.work / "samples").glob("*.parquet")):
        table = pq.read_table(path)
        flagged = table[_FLAGGED].to_numpy(zero_copy_only=False)
        for c in table.column_names:
            if c != _FLAGGED:
                values = table[c].to_numpy(zero_copy_only=False).astype(np.float64)
                slot = out.setdefault(c, {"kept": [], "removed": []})
                slot["removed"].append(values[flagged])
                slot["kept"].append(values[~flagged])
    result = {}
    for c, parts in out.items():
        result[c] = {}
        for k, arrays in parts.items():
            v = np.concatenate(arrays) if arrays else np.zeros(0)
            step = max(1, int(np.ceil(len(v) / _SAMPLE_CAP)))
            result[c][k] = v[::step]
    return result


def score_summaries(lay: Layout) -> dict[str, dict[str, Any]]:
    """Count, NaN count, mean, spread and quantiles of every score column over kept and removed rows."""
    summaries = {}
    for column, parts in _samples(lay).items():
        v = np.concatenate([parts["kept"], parts["removed"]])
        finite = v[~np.isnan(v)]
        s: dict[str, Any] = {"count": int(v.size), "nan": int(v.size - finite.size)}
        if finite.size:
            s |= {"mean": float(finite.mean()), "std": float(finite.std()),
                  "min": float(finite.min()), "max": float(finite.max())}
            s |= {f"p{int(q * 100):02d}": float(np.quantile(finite, q)) for q in _QUANTILES}
        summaries[column] = s
    return summaries


def render_report(lay: Layout, report: dict[str, Any]) -> str:
    """Write ``report/report.md`` and ``report/scores.png``: a histogram per score column, thresholds drawn."""
    c = report["counts"]
    lines = [
        "# filterkit report",
        "",
        f"Mode: `{report['mode']}`. {report['conservation']['statement']} "
        f"({'holds' if report['conservation']['holds'] else 'DOES NOT HOLD'}).",
        "",
        "| rows in | kept | removed | quarantined | unreadable | failed | flagged |",
        "|---:|---:|---:|---:|---:|---:|---:|",
        f"| {c['rows_in']} | {c['kept']} | {c['removed']} | {c['quarantined']} | {c['unreadable_rows']} "
        f"| {c['failed_rows']} | {c['flagged']} |",
        "",
        "## Rules",
        "",
        f"Combined with `{report['combine']}`.",
        "",
        "| reason | column | op | threshold | rows |",
        "|---|---|---|---:|---:|",
    ]
    for r in report["rules"]:
        lines.append(f"| {r['label']} | `{r['column']}` | {r['op']} | {r['threshold']:g} "
                     f"| {report['filter_reasons'].get(r['label'], 0)} |")
    if report["quarantine_reasons"]:
        lines += ["", "## Quarantine", "", "| reason | rows |", "|---|---:|"]
        lines += [f"| {k} | {v} |" for k, v in report["quarantine_reasons"].items()]
    if report["failed_tasks"]:
        lines += ["", "## Failed tasks (rerun with --resume to retry them)", ""]
        lines += [f"- {t['task']}: {t['error']} ({t['attempts']} attempts)" for t in report["failed_tasks"]]
    if report["files_failed"] or report["unreadable_ranges"]:
        lines += ["", "## Unreadable files and row groups", ""]
        lines += [f"- `{f['source']}`: {f['error']}" for f in report["files_failed"] + report["unreadable_ranges"]]
    share = report.get("machine_share")
    if share and "error" not in share:
        lines += ["", "## How much of the input is machine-written", "",
                  f"**{100 * share['share']:.1f}%** (95% interval {100 * share['low']:.1f}-"
                  f"{100 * share['high']:.1f}%), "
                  f"from `{share['column']}` of {share['crawl_rows']} rows against {share['reference_rows']} trusted "
                  f"human rows (`{share['reference']}`); {share['method']}: machine text that scores like human "
                  "text is not counted."]
    elif share:
        lines += ["", f"Machine-written share: not estimated ({share['error']})."]
    lines += ["", "## Scores", ""]
    samples = _samples(lay)
    columns = [col for col in report["scores"] if col in samples]
    if columns and report["scores"][columns[0]]["count"] >= PLOT_MIN_ROWS:
        write_file(_plot(columns, samples, report["rules"]), lay.out("report", "scores.png"))
        lines += ["![score histograms](scores.png)", ""]
    for column in report["scores"]:
        stats = ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                          for k, v in report["scores"][column].items())
        lines += [f"### `{column}`", "", stats, ""]
    t = report["throughput"]
    lines += ["## Throughput", "", f"{t['task_seconds']} s in tasks, {t['rows_per_task_second']} rows per task-second; "
              f"{t['wall_seconds_this_invocation']} s wall time in the last invocation.", ""]
    path = lay.out("report", "report.md")
    write_text("\n".join(lines), path)
    return path


def _plot(columns: list[str], samples: dict[str, dict[str, np.ndarray]], rules: list[dict[str, Any]]) -> bytes:
    """One PNG with a panel per score column: kept and removed rows stacked, each rule's threshold dashed."""
    import io

    from matplotlib.figure import (
        Figure,  # no pyplot: no backend to start, and a second less to import
    )

    cols = min(3, len(columns))
    rows = -(-len(columns) // cols)
    fig = Figure(figsize=(4.2 * cols, 2.9 * rows))
    fig.subplots_adjust(left=0.08, right=0.98, bottom=0.14 / rows ** 0.5, top=0.97, wspace=0.3,
                        hspace=0.55)
    for i, column in enumerate(columns):
        ax = fig.add_subplot(rows, cols, i + 1)
        data = [samples[column][k][~np.isnan(samples[column][k])] for k in ("kept", "removed")]
        both = np.concatenate(data)
        if both.size:
            bins = np.histogram_bin_edges(both, bins=50)
            ax.hist(data, bins=bins, stacked=True, label=["kept", "removed/flagged"], color=["#4c72b0", "#dd8452"])
        for r in rules:
            if r["column"] == column:
                ax.axvline(r["threshold"], color="black", linestyle="--", label=f"{r['op']} {r['threshold']:g}")
        ax.set_yscale("symlog")
        ax.set_xlabel(column)
        ax.set_ylabel("rows")
        ax.legend(fontsize=7)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    return buffer.getvalue()
