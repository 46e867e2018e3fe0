"""``python -m benchmarks.detect run``: detector quality at low false-positive rates, by group, under attack (RAID
protocol).

Rows are split by article (the opening words, so human/machine twins and re-used articles stay together): the
calibration half sets thresholds on its human rows only, the test half is where every number is measured.
"""
from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds

from benchmarks.perturb.attacks import ALL_ATTACKS, attack_texts
from detectors.classifier.metrics import auroc
from detectors.classifier.train import opening_groups
from filterkit.config import FilterConfig
from filterkit.contract.normalize import defend_texts
from filterkit.engine.pipeline import Progress, score
from filterkit.engine.progress import PIPELINE_UNITS
from filterkit.engine.scoring import load_detectors
from filterkit.io.readers import read_table
from filterkit.io.sources import discover
from filterkit.io.storage import write_json, write_parquet
from filterkit.stage.rules import FILTER_DECISION, bucket_labels, threshold_for_fpr

log = logging.getLogger(__name__)
ROW = "_bench_row"


@dataclass(frozen=True)
class BenchConfig:
    """What to measure and how."""

    label_column: str = "label"
    positive: str = "machine"
    group_columns: tuple[str, ...] = ("domain", "generator")
    fprs: tuple[float, ...] = (0.05, 0.01, 0.001)
    length_edges: tuple[float, ...] = (50, 100, 200)
    attacks: tuple[str, ...] = ()
    attack_sample: int = 300
    calibration_share: float = 0.5
    bootstrap: int = 200
    small_group: int = 2000
    seed: int = 0


def _load(inputs: list[str], text_column: str, bench: BenchConfig) -> pa.Table:
    table = read_table(discover(inputs))
    for c in (text_column, bench.label_column):
        if c not in table.column_names:
            raise ValueError(f"labelled data has no column {c!r}; its columns are {table.column_names}")
    labels = set(table[bench.label_column].to_pylist())
    if bench.positive not in labels or len(labels - {bench.positive}) == 0:
        raise ValueError(f"labelled data needs both classes: {bench.positive!r} and another; "
                         f"found {sorted(labels, key=str)}")
    unknown = [a for a in bench.attacks if a not in ALL_ATTACKS]
    if unknown:
        raise ValueError(f"unknown attacks {unknown}; valid attacks: {', '.join(ALL_ATTACKS)}")
    return table.append_column(ROW, pa.array(np.arange(table.num_rows)))


def score_table(table: pa.Table, config: FilterConfig, work: Path, name: str, **kw: Any) -> pa.Table:
    """Score ``table`` (with a ``_bench_row`` column) through the pipeline under ``work/name``; rows in input order."""
    write_parquet(table, work / name / "input.parquet")
    result = score([str(work / name / "input.parquet")], work / name / "out", config, overwrite=True, **kw)
    files = sorted(str(p) for p in (result.out / "kept").glob("*.parquet"))
    return ds.dataset(files).to_table().sort_by(ROW) if files else table.slice(0, 0)


def _orientation(column: str, config: FilterConfig, rules: list[Any], y: np.ndarray, s: np.ndarray) -> float:
    for r in rules:
        if r.column == column:
            return 1.0 if r.op in (">", ">=") else -1.0
    a = auroc(y, s)  # no rule says which way: orient on the calibration half only
    return -1.0 if a == a and a < 0.5 else 1.0


def _point(y: np.ndarray, flagged: np.ndarray) -> dict[str, float]:
    tp, fp = int((flagged & y).sum()), int((flagged & ~y).sum())
    fn, tn = int((~flagged & y).sum()), int((~flagged & ~y).sum())
    f1 = 2 * tp / max(1, 2 * tp + fp + fn)
    return {"tpr": tp / max(1, tp + fn), "fpr": fp / max(1, fp + tn), "accuracy": (tp + tn) / max(1, len(y)), "f1": f1,
            "machine": tp + fn, "human": fp + tn}


def _bootstrap_auroc(y: np.ndarray, s: np.ndarray, n: int, rng: np.random.Generator) -> tuple[float, float]:
    values = []
    for _ in range(n):
        i = rng.integers(0, len(y), len(y))
        values.append(auroc(y[i], s[i]))
    v = np.array(values)
    v = v[~np.isnan(v)]
    return (float(np.quantile(v, 0.025)), float(np.quantile(v, 0.975))) if v.size else (float("nan"),) * 2


def _score_metrics(y: np.ndarray, s: np.ndarray, thresholds: dict[str, float], bench: BenchConfig,
                   rng: np.random.Generator) -> dict[str, Any]:
    m: dict[str, Any] = {"n": int(len(y)), "auroc": auroc(y, s)}
    if len(y) < bench.small_group:
        m["auroc_ci95"] = _bootstrap_auroc(y, s, bench.bootstrap, rng)
    for key, t in thresholds.items():
        point = _point(y, np.nan_to_num(s, nan=-np.inf) >= t) if t == t else None
        m[f"tpr@{key}"] = point["tpr"] if point else None
        m[f"fpr@{key}"] = point["fpr"] if point else None
    if thresholds.get("0.01") == thresholds.get("0.01"):
        p = _point(y, np.nan_to_num(s, nan=-np.inf) >= thresholds["0.01"])
        m["accuracy@0.01"], m["f1@0.01"] = p["accuracy"], p["f1"]
    return m


def _group_masks(g: np.ndarray, y: np.ndarray, test: np.ndarray) -> dict[str, np.ndarray]:
    """Test rows per group; a group with machine rows only (a generator) is measured against every test human."""
    masks = {}
    for v in sorted(set(g[test & y])):
        m = test & (g == v)
        masks[v] = m if (m & ~y).any() else m | (test & ~y)
    return masks


def bench_detect(inputs: list[str], config: FilterConfig, bench: BenchConfig, out: str | Path,
                 progress: Progress | None = None) -> dict[str, Any]:
    """Score labelled data with every configured detector and write ``metrics.json``, a table and plots to ``out``."""
    out = Path(out)
    work = out / "_work"
    rng = np.random.default_rng(bench.seed)
    table = _load(inputs, config.text_column, bench)
    scored = score_table(table, config, work, "clean", progress=progress)
    dropped = table.num_rows - scored.num_rows
    y = np.array([v == bench.positive for v in scored[bench.label_column].to_pylist()])
    texts = scored[config.text_column].to_pylist()
    calib = (opening_groups(texts, 12) % 1000) < bench.calibration_share * 1000
    test = ~calib
    produced = {c for d in load_detectors(config.detectors) for c in d.columns}
    # Identifiers (``minhash.cluster_id``) are numbers but not scores: ranking rows by them means nothing.
    score_columns = [c for c in scored.column_names if c in produced and not c.endswith("_id")
                     and pa.types.is_floating(scored.schema.field(c).type)]
    dets_rules = list(config.stage([]).rules) if config.rules else []
    groups = {c: np.array([str(v) for v in scored[c].to_pylist()]) for c in bench.group_columns
              if c in scored.column_names}
    words = np.array([len(t.split()) for t in texts], dtype=float)
    labels = bucket_labels(bench.length_edges)
    groups["length"] = np.array([labels[i] for i in np.digitize(words, bench.length_edges)])
    result: dict[str, Any] = {"bench": asdict(bench), "rows": int(table.num_rows), "quarantined": int(dropped),
                              "calibration_rows": int(calib.sum()), "test_rows": int(test.sum()), "scores": {}}
    oriented: dict[str, np.ndarray] = {}
    signs: dict[str, float] = {}
    thresholds_by_score: dict[str, dict[str, float]] = {}
    for c in score_columns:
        raw = scored[c].to_numpy(zero_copy_only=False).astype(float)
        sign = _orientation(c, config, dets_rules, y[calib], raw[calib])
        s = sign * raw
        oriented[c], signs[c] = s, sign
        human_calib = s[calib & ~y]
        thresholds = {f"{f:g}": (threshold_for_fpr(human_calib, f, ">=")
                                 if (~np.isnan(human_calib)).sum() >= np.ceil(1 / f) else float("nan"))
                      for f in bench.fprs}
        thresholds_by_score[c] = thresholds
        entry = {"direction": "higher" if sign > 0 else "lower", "thresholds": thresholds,
                 "overall": _score_metrics(y[test], s[test], thresholds, bench, rng), "by": {}}
        for gname, g in groups.items():
            entry["by"][gname] = {v: _score_metrics(y[m], s[m], thresholds, bench, rng)
                                  for v, m in _group_masks(g, y, test).items()}
        result["scores"][c] = entry
    if FILTER_DECISION in scored.column_names:
        flagged = np.array([d == "remove" for d in scored[FILTER_DECISION].to_pylist()])
        result["filter"] = {"overall": _point(y[test], flagged[test]),
                            "by": {g: {v: _point(y[m], flagged[m]) for v, m in _group_masks(gv, y, test).items()}
                                   for g, gv in groups.items()}}
    if bench.attacks:
        result["attacks"] = _attacks(scored, y & test, config, bench, thresholds_by_score, signs, work, rng)
    write_json(result, out / "metrics.json")
    _render(result, scored, oriented, y, test, out)
    return result


def _attacks(scored: pa.Table, machine_test: np.ndarray, config: FilterConfig, bench: BenchConfig,
             thresholds: dict[str, dict[str, float]], signs: dict[str, float], work: Path,
             rng: np.random.Generator) -> dict[str, Any]:
    """TPR at the clean 1%-FPR threshold of each score (and the filter's removal rate) on attacked machine rows."""
    idx = np.flatnonzero(machine_test)
    idx = np.sort(rng.choice(idx, min(bench.attack_sample, idx.size), replace=False))
    sample = scored.take(pa.array(idx)).select([c for c in scored.column_names if "." not in c and c != FILTER_DECISION
                                               and not c.startswith("source_") and c != "filter_reason"])
    texts = sample[config.text_column].to_pylist()
    out: dict[str, Any] = {"sample": int(idx.size), "threshold_fpr": 0.01, "results": {}}
    for name in ("none", *bench.attacks):
        attacked = texts if name == "none" else attack_texts(name, texts, bench.seed)
        t = sample.set_column(sample.schema.get_field_index(config.text_column), config.text_column,
                              pa.array(attacked, pa.string()))
        row: dict[str, Any] = {}
        # Where the defence leaves every text as it is, both runs would give the same scores: score once.
        untouched = defend_texts(t[config.text_column]) == attacked
        for defend in (False, True):
            if not (defend and untouched):
                s = score_table(t, config.replace(defend=defend), work, f"attack-{name}-{int(defend)}")
            label = "defended" if defend else "undefended"
            for c, th in thresholds.items():
                if c in s.column_names and th.get("0.01") == th.get("0.01"):
                    v = signs[c] * s[c].to_numpy(zero_copy_only=False).astype(float)
                    row.setdefault(c, {})[label] = float(np.mean(np.nan_to_num(v, nan=-np.inf) >= th["0.01"]))
            if FILTER_DECISION in s.column_names:
                removed = [d == "remove" for d in s[FILTER_DECISION].to_pylist()]
                row.setdefault("filter", {})[label] = float(np.mean(removed))
        out["results"][name] = row
        log.info("attack %s done", name)
    return out


def _render(result: dict[str, Any], scored: pa.Table, oriented: dict[str, np.ndarray], y: np.ndarray,
            test: np.ndarray, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import roc_curve

    lines = ["# Detector benchmark", "",
             f"{result['rows']} rows ({result['quarantined']} quarantined); thresholds set on the human rows of "
             f"{result['calibration_rows']} calibration rows, every number below measured on the other "
             f"{result['test_rows']} (split by article).", "",
             "| score | direction | AUROC | TPR@5% | TPR@1% | TPR@0.1% | FPR@1% (test) | F1@1% |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    fmt = lambda v: "n/a" if v is None or v != v else f"{v:.3f}"  # noqa: E731
    ranked = sorted(result["scores"].items(), key=lambda kv: -(kv[1]["overall"]["auroc"] or 0))
    for c, e in ranked:
        o = e["overall"]
        lines.append(f"| `{c}` | {e['direction']} | {fmt(o['auroc'])} | {fmt(o.get('tpr@0.05'))} | "
                     f"{fmt(o.get('tpr@0.01'))} | {fmt(o.get('tpr@0.001'))} | {fmt(o.get('fpr@0.01'))} | "
                     f"{fmt(o.get('f1@0.01'))} |")
    if "filter" in result:
        f = result["filter"]["overall"]
        lines += ["", f"Combined filter (configured rules): TPR {fmt(f['tpr'])}, FPR {fmt(f['fpr'])}, "
                      f"F1 {fmt(f['f1'])}."]
    for c, e in ranked[:3]:
        for gname, groups in e["by"].items():
            lines += ["", f"### `{c}` by {gname}", "", "| group | n | AUROC (95% CI) | TPR@1% | FPR@1% |",
                      "|---|---:|---:|---:|---:|"]
            for v, m in groups.items():
                ci = m.get("auroc_ci95")
                ci_text = f" ({fmt(ci[0])}-{fmt(ci[1])})" if ci else ""
                lines.append(f"| {v} | {m['n']} | {fmt(m['auroc'])}{ci_text} | {fmt(m.get('tpr@0.01'))} | "
                             f"{fmt(m.get('fpr@0.01'))} |")
    if "attacks" in result:
        a = result["attacks"]
        cols = sorted({c for r in a["results"].values() for c in r})
        lines += ["", f"## Attacks ({a['sample']} machine rows of the test half; TPR at the clean 1%-FPR threshold, "
                  "defended / undefended)", "", "| attack | " + " | ".join(f"`{c}`" for c in cols) + " |",
                  "|---|" + "---:|" * len(cols)]
        for name, r in a["results"].items():
            cells = [f"{fmt(r.get(c, {}).get('defended'))} / {fmt(r.get(c, {}).get('undefended'))}" for c in cols]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    for c, _ in ranked:
        s = oriented[c][test]
        keep = ~np.isnan(s)
        if len(set(y[test][keep])) == 2:
            fpr, tpr, _ = roc_curve(y[test][keep], s[keep])
            ax.plot(np.maximum(fpr, 1e-4), tpr, label=f"{c} ({result['scores'][c]['overall']['auroc']:.3f})")
    ax.set_xscale("log")
    ax.set_xlim(1e-3, 1)
    ax.set_xlabel("false positive rate (human documents removed)")
    ax.set_ylabel("true positive rate")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "roc.png", dpi=110)
    plt.close(fig)
    lines += ["", "![ROC curves](roc.png)", ""]
    for c, _ in ranked:
        fig, ax = plt.subplots(figsize=(5, 3))
        s = oriented[c][test]
        for cls, name in ((False, "human"), (True, "machine")):
            v = s[(y[test] == cls) & ~np.isnan(s)]
            if v.size:
                ax.hist(v, bins=50, alpha=0.6, label=name)
        ax.set_xlabel(f"{c} ({result['scores'][c]['direction']} = machine)")
        ax.legend()
        fig.tight_layout()
        fig.savefig(out / f"hist_{c}.png", dpi=100)
        plt.close(fig)
        lines.append(f"![{c}](hist_{c}.png)")
    (out / "metrics.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


def main(argv: Sequence[str]) -> None:
    """AUROC and TPR at 5/1/0.1% FPR per score, by group and length, the combined filter, and attacks.

    With --reuse-scores, score columns already in the labelled data are used as they are (attacked copies are always
    scored afresh). Prints the summary table of ``OUT/metrics.md``."""
    from rich.console import Console

    from benchmarks.entry import fail, log_warnings, progress
    from filterkit.config import filter_config

    p = argparse.ArgumentParser(prog="python -m benchmarks.detect run", description=main.__doc__.split("\n\n")[0])
    p.add_argument("--data", action="append", required=True, help="Labelled Parquet files or directories; repeatable.")
    p.add_argument("-o", "--out", type=Path, required=True, help="Output directory.")
    p.add_argument("--detectors", help="Comma-separated detector names.")
    p.add_argument("--config", type=Path, help="YAML or TOML config file.")
    p.add_argument("--attacks", help="'all' or comma-separated names.")
    p.add_argument("--attack-sample", type=int, default=300, help="Machine rows to attack.")
    p.add_argument("--label-column", default="label")
    p.add_argument("--positive", default="machine")
    p.add_argument("--group-columns", default="domain,generator")
    p.add_argument("--text-column", help="Text column (default: text); a struct's field by its dotted path.")
    p.add_argument("--param", action="append",
                   help="Detector parameter as DETECTOR.NAME=VALUE (VALUE read as YAML); repeatable.")
    p.add_argument("--lm-model", help="= --param lm.model=... (path, cached id, GGUF).")
    p.add_argument("--classifier-model", help="= --param classifier.model_dir=...")
    p.add_argument("--reuse-scores", action="store_true",
                   help="Do not rerun a detector whose columns the input already has (an earlier score run).")
    p.add_argument("-v", "--verbose", action="store_true", help="Log progress details.")
    a = p.parse_args(argv)
    log_warnings(a.verbose)
    try:
        shortcuts = {"lm.model": a.lm_model, "classifier.model_dir": a.classifier_model}
        params = list(a.param or []) + [f"{k}={v}" for k, v in shortcuts.items() if v is not None]
        cfg = filter_config(a.config, a.detectors, params, text_column=a.text_column,
                            reuse_scores=a.reuse_scores or None)
        names = ALL_ATTACKS if a.attacks == "all" else tuple(n for n in (a.attacks or "").split(",") if n)
        bench = BenchConfig(label_column=a.label_column, positive=a.positive, attacks=tuple(names),
                            group_columns=tuple(g for g in a.group_columns.split(",") if g),
                            attack_sample=a.attack_sample)
        with progress(PIPELINE_UNITS, "rows") as update:
            bench_detect(a.data, cfg, bench, a.out, progress=update)
    except (ValueError, FileNotFoundError) as exc:
        fail(exc)
    Console().print((a.out / "metrics.md").read_text().split("\n\n###")[0])
