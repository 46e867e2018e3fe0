"""The Markdown report of a collapse run: the command first, then the summary table and the curves behind it."""
from __future__ import annotations

import math
from typing import Any

from benchmarks.collapse.config import CollapseConfig
from benchmarks.collapse.summary import mean_curve


def markdown(config: CollapseConfig, summary: dict[str, Any], details: dict[str, Any], records: list[dict[str, Any]],
             skipped: dict[str, str], command: str | None, plot_name: str | None, rules: tuple) -> str:
    """The report as Markdown text."""
    lines = [f"`{command}`" if command else "(run through the Python API: benchmarks.collapse.run_collapse)", ""]
    lines += [f"# Collapse benchmark: {config.learner} learner, {config.schedule} schedule", "",
              f"{config.seeds} seeds x {config.generations} generations, N = {config.samples} per generation"
              + f", {config.crawl()} new rows per crawl"
              + (f", alpha = {config.alpha}" if config.schedule == "fixed" else "")
              + (f", learner params {config.learner_params}" if config.learner_params else "") + ".",
              "Collapse when " + " or ".join(_rule(r) for r in rules) + "; right-censored at the last generation "
              "(shown as `>G`). Delay = median T(arm) - median T(none), 95% bootstrap CI over seeds. Oracle benefit "
              f"= area between the none and arm curves of mean `{config.benefit_metric}` over the area between none "
              "and oracle (1.0 = as good as perfect detection; blank when the oracle did no better than no filter). "
              "TPR/FPR are on each generation's new crawl rows.", ""]
    lines += ["| arm | collapse T per seed | delay (95% CI) | oracle benefit | mean TPR | mean FPR | mean retain | "
              f"final {config.benefit_metric} |", "|---|---|---|---|---|---|---|---|"]
    for arm, s in summary.items():
        d, det = s["delay"], details[arm]
        times = ", ".join(f">{t}" if c else str(t) for t, c in zip(s["collapse_time"], det["censored"]))
        lines.append(f"| {arm} | {times} | {_f(d['median'], 1)} [{_f(d['ci_low'], 1)}, {_f(d['ci_high'], 1)}] | "
                     f"{_f(s['oracle_benefit'], 2)} | {_f(det['mean_filter_tpr'], 3)} | {_f(det['mean_filter_fpr'], 3)}"
                     f" | {_f(det['mean_retain_rate'], 3)} | {_f(det[f'final_{config.benefit_metric}'], 3)} |")
    if skipped:
        lines += ["", "Skipped arms and detectors left out:", *[f"- `{a}`: {why}" for a, why in skipped.items()]]
    reasons = {a: sorted(set(d["collapse_reason"]) - {"censored"}) for a, d in details.items()}
    if any(reasons.values()):
        lines += ["", "What triggered collapse:", *[f"- {a}: {'; '.join(r)}" for a, r in reasons.items() if r]]
    lines += ["", _curve_table(records, config, summary)]
    if plot_name:
        lines += ["", f"![metrics per generation]({plot_name})"]
    return "\n".join(lines) + "\n"


def _curve_table(records: list[dict[str, Any]], config: CollapseConfig, summary: dict[str, Any]) -> str:
    metric = config.benefit_metric
    gens = range(config.generations + 1)
    step = max(1, config.generations // 10)
    shown = [g for g in gens if g % step == 0 or g == config.generations]
    out = [f"Mean `{metric}` over seeds per generation (blank: some seed had collapsed or stopped):", "",
           "| arm | " + " | ".join(f"g{g}" for g in shown) + " |", "|---|" + "---|" * len(shown)]
    for arm in summary:
        curve = mean_curve(records, arm, metric, config.generations, config.seeds)
        out.append(f"| {arm} | " + " | ".join(_f(curve[g], 3) for g in shown) + " |")
    return "\n".join(out)


def _rule(r: Any) -> str:
    return f"{r.metric}{'/gen0' if r.relative else ''} {r.op} {r.threshold:g}"


def _f(x: Any, digits: int) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return ""
    return f"{x:.{digits}f}"
