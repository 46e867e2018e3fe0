"""The run report: counts merged from per-shard stats, score summaries, and a Markdown page with plots."""
from __future__ import annotations

import dataclasses
import logging
import re
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
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
        "reason_overlap": reason_overlap(lay),
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
_REASONS = "_reasons"
PLOT_MIN_ROWS = 100
"""Fewer scored rows than this get no histogram (it would show nothing a table does not), and no plotting cost."""
_DISCRETE_VALUES = 30
"""A score column with at most this many distinct whole-number values (cluster sizes, counts) is drawn as bars."""


def printable(text: object) -> str:
    """``text`` with every control, format or separator character but the space shown as its escape (``\x1b``,
    ``\u202e``): a file name or error message can neither drive a terminal nor reorder or hide what is shown."""
    s = str(text)
    if s.isprintable():
        return s
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in s)


_MARKDOWN = re.compile(r"([\\`*_\[\]<>|#~])")


def _md(text: object) -> str:
    """A user-supplied string (a file name, an error, a reason) as literal Markdown text, safe in a table cell."""
    return _MARKDOWN.sub(r"\\\1", printable(text))


def _code(text: object) -> str:
    """A user-supplied string as inline code, safe in a table cell."""
    s = printable(text).replace("|", "\\|")
    fence = "`" * (max((len(run) for run in re.findall("`+", s)), default=0) + 1)
    pad = " " if s.startswith("`") or s.endswith("`") else ""
    return f"{fence}{pad}{s}{pad}{fence}"


def is_score_column(f: pa.Field) -> bool:
    """A detector's numeric or flag column (``detector.name``), not an identifier such as ``minhash.cluster_id``."""
    numeric = pa.types.is_floating(f.type) or pa.types.is_integer(f.type) or pa.types.is_boolean(f.type)
    return "." in f.name and numeric and not f.name.endswith("_id")


def write_samples(table: pa.Table, flagged: np.ndarray, path: Path, reasons: pa.Array | None = None) -> None:
    """A shard's score columns, whether each row was flagged and why: what the report summarises and plots."""
    sample = table.select([f.name for f in table.schema if is_score_column(f)])
    sample = sample.append_column(_FLAGGED, pa.array(np.asarray(flagged, bool)))
    if reasons is not None:
        sample = sample.append_column(_REASONS, pa.array(reasons, pa.string()).dictionary_encode())
    write_parquet(sample, path)


def _sample_files(lay: Layout) -> list[Path]:
    return sorted((lay.work / "samples").glob("*.parquet"))


def _samples(lay: Layout) -> dict[str, dict[str, np.ndarray]]:
    """Score values per column, split into kept and removed (or flagged), decimated past a cap."""
    out: dict[str, dict[str, list[np.ndarray]]] = {}
    for path in _sample_files(lay):
        table = pq.read_table(path)
        flagged = table[_FLAGGED].to_numpy(zero_copy_only=False)
        for c in table.column_names:
            if c not in (_FLAGGED, _REASONS):
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


def _flag_columns(lay: Layout) -> set[str]:
    """The boolean (flag) score columns, by the samples' schema."""
    files = _sample_files(lay)
    if not files:
        return set()
    return {f.name for f in pq.read_schema(files[0]) if pa.types.is_boolean(f.type) and f.name != _FLAGGED}


def score_summaries(lay: Layout) -> dict[str, dict[str, Any]]:
    """Count, NaN count, mean, spread and quantiles of every score column over kept and removed rows.

    A flag column (bool) also gives ``kind: flag`` and ``true``, the rows where it is set.
    """
    summaries = {}
    flags = _flag_columns(lay)
    for column, parts in _samples(lay).items():
        v = np.concatenate([parts["kept"], parts["removed"]])
        finite = v[~np.isnan(v)]
        s: dict[str, Any] = {"count": int(v.size), "nan": int(v.size - finite.size)}
        if column in flags:
            s |= {"kind": "flag", "true": int((finite == 1).sum())}
        if finite.size:
            s |= {"mean": float(finite.mean()), "std": float(finite.std()),
                  "min": float(finite.min()), "max": float(finite.max())}
            s |= {f"p{int(q * 100):02d}": float(np.quantile(finite, q)) for q in _QUANTILES}
        summaries[column] = s
    return summaries


def reason_overlap(lay: Layout) -> dict[str, Any] | None:
    """How the reasons of the flagged rows overlap: rows flagged by exactly one reason and by several, each reason's
    rows flagged by it alone, and the rows of every combination (None: samples from before reasons were kept)."""
    combinations: Counter[str] = Counter()
    for path in _sample_files(lay):
        if _REASONS not in pq.read_schema(path).names:
            return None
        for item in pc.value_counts(pq.read_table(path, columns=[_REASONS])[_REASONS].combine_chunks()).to_pylist():
            if item["values"] is not None:
                combinations[item["values"]] += item["counts"]
    several = {k: n for k, n in combinations.items() if ";" in k}
    return {
        "rows_one_reason": sum(combinations.values()) - sum(several.values()),
        "rows_several_reasons": sum(several.values()),
        "alone": {k: n for k, n in sorted(combinations.items()) if ";" not in k},
        "combinations": dict(sorted(several.items(), key=lambda kv: (-kv[1], kv[0]))),
    }


def _num(x: float | int) -> str:
    return f"{x:,}" if isinstance(x, int) else f"{x:.4g}"


def render_report(lay: Layout, report: dict[str, Any]) -> str:
    """Write ``report/report.md`` and ``report/scores.png``: reasons, rules, quarantine, failures, score tables, plots.

    Every string a user supplied (file names, errors, reasons, columns) is escaped: control characters show as
    escapes and Markdown as literal text.
    """
    c = report["counts"]
    mode = report["mode"]
    verb = {"drop": "removed", "tag": "flagged", "weight": "weighted 0"}.get(mode, "removed")
    lines = [
        "# filterkit report",
        "",
        f"Mode: `{mode}`. {report['conservation']['statement']} "
        f"({'holds' if report['conservation']['holds'] else 'DOES NOT HOLD'}).",
        "",
        "| rows in | kept | removed | quarantined | unreadable | failed | flagged |",
        "|---:|---:|---:|---:|---:|---:|---:|",
        f"| {c['rows_in']:,} | {c['kept']:,} | {c['removed']:,} | {c['quarantined']:,} | {c['unreadable_rows']:,} "
        f"| {c['failed_rows']:,} | {c['flagged']:,} |",
        "",
    ]
    lines += _rules_section(report, verb)
    if report["quarantine_reasons"]:
        lines += ["", "## Quarantine", "", "| reason | rows |", "|---|---:|"]
        lines += [f"| {_code(k)} | {v:,} |" for k, v in report["quarantine_reasons"].items()]
    if report["failed_tasks"]:
        lines += ["", "## Failed tasks (rerun with --resume to retry them)", ""]
        lines += [f"- {_md(t['task'])}: {_md(t['error'])} ({t['attempts']} attempts)" for t in report["failed_tasks"]]
    if report["files_failed"] or report["unreadable_ranges"]:
        lines += ["", "## Unreadable files and row groups", ""]
        lines += [f"- {_code(f['source'])}: {_md(f['error'])}"
                  for f in report["files_failed"] + report["unreadable_ranges"]]
    share = report.get("machine_share")
    if share and "error" not in share:
        lines += ["", "## How much of the input is machine-written", "",
                  f"**{100 * share['share']:.1f}%** (95% interval {100 * share['low']:.1f}-"
                  f"{100 * share['high']:.1f}%), "
                  f"from {_code(share['column'])} of {share['crawl_rows']} rows against {share['reference_rows']} "
                  f"trusted human rows ({_code(share['reference'])}); {_md(share['method'])}: machine text that "
                  "scores like human text is not counted."]
    elif share:
        lines += ["", f"Machine-written share: not estimated ({_md(share['error'])})."]
    lines += ["", "## Scores", ""]
    scored = c["kept"] + c["removed"]
    lines += [f"Every statistic and plot below covers the {scored:,} scored rows (kept and {verb}; quarantined, "
              "unreadable and failed rows have no scores). NaN: the detector abstained (a text too short, a language "
              "it does not read, ...), and a rule never fires on it. Flags (true/false) give the rows where they are "
              "set.", ""]
    samples = _samples(lay)
    columns = [col for col in sorted(report["scores"]) if col in samples]  # as report.json, read back, has them
    if columns and report["scores"][columns[0]]["count"] >= PLOT_MIN_ROWS:
        png = _plot(columns, samples, report, verb)
        write_file(png, lay.out("report", "scores.png"))
        lines += ["![score histograms](scores.png)", ""]
    if report["scores"]:
        lines += ["| column | scored | NaN (abstained) | mean | min | 5% | median | 95% | max |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for column, s in sorted(report["scores"].items()):
            if s.get("kind") == "flag":
                share_true = f"{s['true']:,} true ({s['true'] / max(1, s['count'] - s['nan']):.1%})"
                lines.append(f"| {_code(column)} | {s['count']:,} | {s['nan']:,} | {share_true} | | | | | |")
            else:
                stats = [_num(s[k]) if k in s else "" for k in ("mean", "min", "p05", "p50", "p95", "max")]
                lines.append(f"| {_code(column)} | {s['count']:,} | {s['nan']:,} | {' | '.join(stats)} |")
        lines.append("")
    t = report["throughput"]
    lines += ["## Throughput", "", f"{t['task_seconds']} s in tasks, {t['rows_per_task_second']} rows per task-second; "
              f"{t['wall_seconds_this_invocation']} s wall time in the last invocation.", ""]
    path = lay.out("report", "report.md")
    write_text("\n".join(lines), path)
    return path


def _rule_text(r: dict[str, Any]) -> str:
    text = f"{_code(r['column'])} {_md(r['op'])} {r['threshold']:g}"
    if r.get("by"):
        buckets = ", ".join(f"{_md(k)}: {v:g}" for k, v in (r.get("thresholds") or {}).items())
        text += f"; by {_code(r['by'])}" + (f" ({buckets}; {r['threshold']:g} elsewhere)" if buckets else "")
    return text


def _rules_section(report: dict[str, Any], verb: str) -> list[str]:
    """The rules, the rows each flagged, and how the reasons overlap (a row may have several)."""
    reasons, overlap, flagged = report["filter_reasons"], report.get("reason_overlap"), report["counts"]["flagged"]
    lines = ["## Rules", "", f"Combined with `{report['combine']}`."]
    if flagged and overlap is not None:
        lines += ["", f"A row can be {verb} by several rules at once, so the rows per reason add up to "
                      f"{sum(reasons.values()):,}, more than the {flagged:,} rows {verb} whenever reasons overlap: "
                      f"**{overlap['rows_one_reason']:,}** rows were {verb} for exactly one reason and "
                      f"**{overlap['rows_several_reasons']:,}** for several."]
    elif flagged:
        lines += ["", f"A row can be {verb} by several rules at once: the rows per reason may add up to more than "
                      f"the {flagged:,} rows {verb}."]
    lines += ["", "| reason | rule | rows | for this reason alone | with other reasons |", "|---|---|---:|---:|---:|"]
    alone = (overlap or {}).get("alone", {})
    for r in report["rules"]:
        n = reasons.get(r["label"], 0)
        one = f"{alone.get(r['label'], 0):,}" if overlap is not None else ""
        rest = f"{n - alone.get(r['label'], 0):,}" if overlap is not None else ""
        lines.append(f"| {_code(r['label'])} | {_rule_text(r)} | {n:,} | {one} | {rest} |")
    if overlap and overlap["combinations"]:
        lines += ["", "| reasons together | rows |", "|---|---:|"]
        most = sorted(overlap["combinations"].items(), key=lambda kv: (-kv[1], kv[0]))  # JSON sorts keys by name
        lines += [f"| {' + '.join(_code(k) for k in combo.split(';'))} | {n:,} |" for combo, n in most[:20]]
        if len(overlap["combinations"]) > 20:
            lines.append(f"| ({len(overlap['combinations']) - 20} more combinations) | |")
    return lines


_KEPT, _REMOVED, _RULE = "#4c72b0", "#dd8452", "#222222"


def _plot(columns: list[str], samples: dict[str, dict[str, np.ndarray]], report: dict[str, Any], verb: str) -> bytes:
    """One PNG: the rows per reason, then a panel per score column, kept and flagged rows stacked, each rule's
    threshold drawn on its column; flags as bars of counts, whole-number columns as a bar per value."""
    import io

    from matplotlib.figure import Figure  # no pyplot: no backend to start, and a second less to import
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    flags = {col for col, s in report["scores"].items() if s.get("kind") == "flag"}
    panels: list[str | None] = ([None] if report["filter_reasons"] else []) + list(columns)
    ncols = min(3, len(panels))
    nrows = -(-len(panels) // ncols)
    fig = Figure(figsize=(4.8 * ncols, 3.4 * nrows + 0.5), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes[len(panels):]:
        ax.set_visible(False)
    for ax, column in zip(axes, panels, strict=False):
        if column is None:
            _reasons_panel(ax, report, verb)
            continue
        kept, removed = (samples[column][k] for k in ("kept", "removed"))
        nan = int(np.isnan(kept).sum() + np.isnan(removed).sum())
        kept, removed = kept[~np.isnan(kept)], removed[~np.isnan(removed)]
        title = printable(column) + (f"  ({nan:,} NaN: abstained, not drawn)" if nan else "")
        ax.set_title(title, fontsize=9, loc="left")
        ax.set_ylabel("rows")
        if column in flags:
            _bars(ax, kept, removed, [0.0, 1.0], ["false", "true"])
        else:
            rules = [r for r in report["rules"] if r["column"] == column]
            values = np.unique(np.concatenate([kept, removed]))
            if values.size == 1 or 0 < values.size <= _DISCRETE_VALUES and np.all(values == np.round(values)):
                cuts = tuple(t for r in rules for t in (r["threshold"], *(r.get("thresholds") or {}).values()))
                _bars(ax, kept, removed, list(values), thresholds=cuts)
            elif values.size:
                _histogram(ax, kept, removed)
            for r in rules:
                _threshold(ax, r)
        ax.tick_params(labelsize=8)
    handles = [Patch(color=_KEPT, label="kept" if verb == "removed" else "not " + verb),
               Patch(color=_REMOVED, label=verb), Line2D([], [], color=_RULE, linestyle="--", label="rule threshold")]
    fig.legend(handles=handles, loc="outside upper center", ncols=3, frameon=False, fontsize=9)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    return buffer.getvalue()


def _log_if_wide(ax: Any, counts: np.ndarray) -> None:
    """A log y axis, with plain-number ticks (1, 10, 100, 1k), where the counts span more than two decades."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    nonzero = counts[counts > 0]
    if nonzero.size and nonzero.max() / nonzero.min() > 100:
        ax.set_yscale("log")
        ax.set_ylim(bottom=0.7, top=nonzero.max() * 2)
        ax.yaxis.set_major_locator(LogLocator(base=10))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: _short(v) if v >= 1 else ""))
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_ylabel("rows (log scale)")
    else:
        ax.yaxis.get_major_locator().set_params(integer=True)
        ax.set_ylim(0, max(1.0, float(counts.max(initial=0))) * 1.15)  # room for the counts written on the bars


def _short(v: float) -> str:
    for div, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if v >= div:
            return f"{v / div:g}{unit}"
    return f"{v:g}"


def _bars(ax: Any, kept: np.ndarray, removed: np.ndarray, values: list[float], labels: list[str] | None = None,
          thresholds: tuple[float, ...] = ()) -> None:
    """A bar per value at that value (or, with ``labels``, at 0, 1, ...), kept and flagged stacked, each bar's total
    written on it; the x axis reaches every threshold."""
    k = np.array([(kept == v).sum() for v in values])
    r = np.array([(removed == v).sum() for v in values])
    x = np.arange(len(values), dtype=float) if labels else np.asarray(values, dtype=float)
    gaps = np.diff(x)
    width = 0.7 * (gaps.min() if gaps.size else max([abs(t - x[0]) for t in thresholds if t != x[0]] or [1.0]))
    ax.bar(x, k, color=_KEPT, width=width)
    ax.bar(x, r, bottom=k, color=_REMOVED, width=width)
    _log_if_wide(ax, np.concatenate([k, r, k + r]))
    for xi, total in zip(x, k + r, strict=True):
        if total:
            ax.annotate(f"{total:,}", (xi, total), ha="center", va="bottom", fontsize=7, xytext=(0, 1),
                        textcoords="offset points")
    if labels:
        ax.set_xticks(x, labels)
    elif len(values) <= 12:
        ax.set_xticks(x, [f"{v:g}" for v in values])
    ends = [*x, *thresholds]
    ax.set_xlim(min(ends) - width, max(ends) + width)


def _histogram(ax: Any, kept: np.ndarray, removed: np.ndarray) -> None:
    both = np.concatenate([kept, removed])
    bins = np.histogram_bin_edges(both, bins=min(40, max(10, len(np.histogram_bin_edges(both, bins="auto")) - 1)))
    (k, r), _, _ = ax.hist([kept, removed], bins=bins, stacked=True, color=[_KEPT, _REMOVED])
    _log_if_wide(ax, np.concatenate([k, r]))


def _threshold(ax: Any, rule: dict[str, Any]) -> None:
    """The rule's threshold as a dashed line labelled with its comparison (bucket thresholds dotted)."""
    for t, style in [(rule["threshold"], "--")] + [(v, ":") for v in (rule.get("thresholds") or {}).values()]:
        ax.axvline(t, color=_RULE, linestyle=style, linewidth=1)
    ax.annotate(f"{rule['op']} {rule['threshold']:g}", (rule["threshold"], 1), xycoords=("data", "axes fraction"),
                xytext=(3, -3), textcoords="offset points", ha="left", va="top", fontsize=7,
                bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8})


def _reasons_panel(ax: Any, report: dict[str, Any], verb: str) -> None:
    """Rows per reason: those flagged by it alone, and those it shares with other reasons."""
    reasons = report["filter_reasons"]
    alone = (report.get("reason_overlap") or {}).get("alone")
    names = sorted(reasons, key=lambda k: reasons[k])
    y = np.arange(len(names))
    if alone is not None:
        one = np.array([alone.get(n, 0) for n in names])
        shared = np.array([reasons[n] for n in names]) - one
        ax.barh(y, one, color=_REMOVED, height=0.6, label="this reason alone")
        ax.barh(y, shared, left=one, color=_REMOVED, alpha=0.45, hatch="//", height=0.6, label="with other reasons")
        if shared.any():
            ax.legend(fontsize=7, loc="lower right", frameon=False, bbox_to_anchor=(1, 1.0), ncols=2,
                      borderaxespad=0.1)
    else:
        ax.barh(y, [reasons[n] for n in names], color=_REMOVED, height=0.6)
    for yi, n in zip(y, names, strict=True):
        ax.annotate(f"{reasons[n]:,}", (reasons[n], yi), xytext=(2, 0), textcoords="offset points", va="center",
                    fontsize=7)
    ax.set_yticks(y, [printable(n) for n in names])
    ax.set_ylim(-0.6, max(len(names), 3) - 0.4)  # a bar keeps its thickness however few reasons there are
    ax.set_xlim(0, max(reasons.values()) * 1.15)
    ax.set_xlabel(f"rows {verb}")
    ax.set_title(f"rows {verb} per reason", fontsize=9, loc="left", pad=14 if alone is not None else 6)
    ax.tick_params(labelsize=8)
