"""The transfer protocol's reports: per-axis summaries, the markdown and the plot, and the report helpers the
other transfer benchmarks share (where it ran, a report's opening lines, writing json/md/png together)."""
from __future__ import annotations

import json
import os
import platform
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np


def summarise(result: dict[str, Any]) -> dict[str, Any]:
    """Mean and worst per axis and regime."""
    axes: dict[str, Any] = {}
    for key, r in result["splits"].items():
        axis = key.split(":")[0]
        for regime in ("out_of_box", "calibrated"):
            if regime in r:
                axes.setdefault(axis, {}).setdefault(regime, []).append(r[regime])
    out = {}
    for axis, regimes in axes.items():
        for regime, rs in regimes.items():
            out[f"{axis}/{regime}"] = {"mean_auroc": float(np.mean([x["auroc"] for x in rs])),
                                       "min_auroc": float(np.min([x["auroc"] for x in rs])),
                                       "mean_tpr": float(np.mean([x["tpr"] for x in rs])),
                                       "min_tpr": float(np.min([x["tpr"] for x in rs])),
                                       "max_fpr": float(np.max([x["fpr"] for x in rs]))}
    return out


def headline_table(arms: Iterable[tuple[str, dict[str, Any]]]) -> list[str]:
    """Markdown rows of each ``(arm label, summarise() output)``: mean (worst) per axis, both regimes."""
    lines = ["| arm | axis | out of box AUROC | TPR | worst FPR | calibrated AUROC | TPR | worst FPR |",
             "|---|---|---|---|---|---|---|---|"]
    for label, summ in arms:
        for axis in ("source", "domain", "family", "job"):
            o, c = summ.get(f"{axis}/out_of_box"), summ.get(f"{axis}/calibrated")
            if o is None:
                continue
            cal = (f"{c['mean_auroc']:.3f} ({c['min_auroc']:.3f}) | {c['mean_tpr']:.3f} ({c['min_tpr']:.3f}) | "
                   f"{c['max_fpr']:.3f}") if c else "- | - | -"
            lines.append(f"| {label} | {axis} | {o['mean_auroc']:.3f} ({o['min_auroc']:.3f}) | "
                         f"{o['mean_tpr']:.3f} ({o['min_tpr']:.3f}) | {o['max_fpr']:.3f} | {cal} |")
    return lines


def _sampled(payload: dict[str, Any]) -> str:
    share = payload["article_share"]
    return "" if share >= 1.0 else f" ({share:.0%} of the articles, `protocol_data.article_sample`)"


def _f(x: float, ci: list[float] | None = None, digits: int = 2) -> str:
    s = f"{x:.{digits}f}"
    return s + (f" [{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]" if ci else "")


def markdown(payload: dict[str, Any]) -> str:
    """Headline per arm and axis, then every split, then the shipped configuration's non-English FPR."""
    lines = [*report_head(
        "Transfer protocol: feature arms on sources, domains, generator families and jobs they never saw", payload,
        f"{payload['rows']} rows{_sampled(payload)}. Out of the box: threshold at 1% FPR on the training side's "
        "humans scored out of fold; calibrated: threshold at 1% FPR on "
        f"{payload['calibration']} humans of the held-out side, measured on the rest (a held-out "
        f"side with fewer than {payload['calibration'] + 50} of them has no calibrated cell). "
        "Intervals: 95% bootstrap over test articles (and, calibrated, over the calibration humans). Polished and "
        "rewritten human texts (ImBD polish/rewrite) are left out of the headline rows (their flag rate is reported "
        "apart) except where that job is the held-out value. See the module docstring of "
        "`benchmarks/transfer/protocol.py` for the splits."),
             "## Headline: mean (worst) per axis", "",
             *headline_table((a["arm"], a["summary"]) for a in payload["arms"].values())]
    lines += ["", "## Non-English human text removed (each arm trained on every English row, out-of-fold threshold)",
              "", "`gated`: with the detector's language gate (only text `py3langid` identifies as English is scored).",
              "", "| arm | threshold | all | gated | per language |", "|---|---|---|---|---|"]
    for a in payload["arms"].values():
        m = a["ship"].get("multilingual_human_fpr", {})
        per = ", ".join(f"{k} {v:.3f}" for k, v in m.items() if k not in ("all", "all_gated"))
        lines.append(f"| {a['arm']} | {a['ship']['threshold']:.3f} | {m.get('all', float('nan')):.3f} | "
                     f"{m.get('all_gated', float('nan')):.3f} | {per} |")
    lines += ["", "## Every held-out value", "",
              "Cells: AUROC [CI] / TPR [CI] / FPR [CI]. `derived`: share of the held-out side's polished and "
              "rewritten human texts flagged out of the box. `non-English`: ImBD's zh/pt/es polish rows, human "
              "FPR and machine flag rate, out of the box.", "",
              "| arm | held out | rows (machine/human) | out of box | calibrated | derived | non-English |",
              "|---|---|---|---|---|---|---|"]
    for a in payload["arms"].values():
        for key, r in a["splits"].items():
            cells = []
            for regime in ("out_of_box", "calibrated"):
                x = r.get(regime)
                cells.append(" / ".join(_f(x[k], x[f"{k}_ci"]) if k != "fpr" else _f(x[k], x[f"{k}_ci"], 3)
                                        for k in ("auroc", "tpr", "fpr")) if x else "-")
            derived = f"{r['human_derived_flagged']:.3f}" if "human_derived_flagged" in r else "-"
            ne = "; ".join(f"{lang} {v['human_fpr']:.3f}/{v['machine_flagged']:.3f}"
                           for lang, v in r.get("non_english", {}).items()) or "-"
            lines.append(f"| {a['arm']} | {key} | {r['machine_rows']}/{r['human_rows']} | {cells[0]} | {cells[1]} | "
                         f"{derived} | {ne} |")
    return "\n".join(lines) + "\n"


def plot(payload: dict[str, Any], path: Path) -> None:
    """Per arm: calibrated and out-of-box TPR at 1% FPR per held-out value."""
    from matplotlib.figure import Figure

    arms = payload["arms"]
    keys = list(dict.fromkeys(k for a in arms.values() for k in a["splits"]))
    fig = Figure(figsize=(14, 6))
    fig.suptitle(payload["command"], fontsize=8)
    for j, regime in enumerate(("out_of_box", "calibrated")):
        ax = fig.add_subplot(1, 2, j + 1)
        width = 0.8 / len(arms)
        for i, a in enumerate(arms.values()):
            tpr = [a["splits"].get(k, {}).get(regime, {}).get("tpr", np.nan) for k in keys]
            ax.barh(np.arange(len(keys)) + i * width, tpr, height=width, label=a["arm"])
        ax.set_yticks(np.arange(len(keys)) + 0.4)
        ax.set_yticklabels(keys if j == 0 else [], fontsize=7)
        ax.set_xlim(0, 1)
        ax.set_title(f"TPR at 1% FPR, {regime.replace('_', ' ')}", fontsize=9)
        if j == 1:
            ax.legend(fontsize=7, loc="lower right")
    fig.subplots_adjust(left=0.16, right=0.98, top=0.90, bottom=0.06, wspace=0.05)
    fig.savefig(path, dpi=100)


def axis_rows(payload: dict[str, Any], cells: Callable[[dict[str, Any]], str]) -> list[str]:
    """A table row per arm and ``axis/regime`` key of each arm's summary: arm, axis, regime, then ``cells``."""
    return [f"| {a['arm']} | {key.split('/')[0]} | {key.split('/')[1]} | {cells(x)} |"
            for a in payload["arms"].values() for key, x in a["summary"].items()]


def machine() -> dict[str, Any]:
    """Where a benchmark ran and under what load, for its report's header."""
    return {"machine": f"{platform.machine()}, {len(os.sched_getaffinity(0))} CPUs",
            "load_average": [round(x, 2) for x in os.getloadavg()]}


def report_head(title: str, payload: dict[str, Any], text: str) -> list[str]:
    """A report's opening lines: its title, its command, where it ran and under what load, then ``text``."""
    return [f"# {title}", "", "```", payload["command"], "```", "",
            f"Machine: {payload['machine']}, load average at the end {payload['load_average']}. {text}", ""]


def write_report(out: Path, stem: str, payload: dict[str, Any], markdown: Callable[[dict[str, Any]], str],
                 plot: Callable[[dict[str, Any], Path], Any]) -> None:
    """``stem``.json, .md and .png under ``out``; the markdown also goes to stdout."""
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.json").write_text(json.dumps(payload, indent=1))
    text = markdown(payload)
    (out / f"{stem}.md").write_text(text)
    plot(payload, out / f"{stem}.png")
    print(text)
