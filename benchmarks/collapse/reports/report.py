"""The Markdown report of a collapse run: the command first, then the summary table and the curves behind it."""
from __future__ import annotations

import math
from typing import Any

from benchmarks.collapse.analysis.summary import mean_curve
from benchmarks.collapse.experiment.config import CollapseConfig


def markdown(config: CollapseConfig, summary: dict[str, Any], details: dict[str, Any], records: list[dict[str, Any]],
             skipped: dict[str, str], command: str | None, plot_name: str | None, rules: tuple) -> str:
    """The report as Markdown text."""
    lines = [f"`{command}`" if command else "(run through the Python API: benchmarks.collapse.run_collapse)", ""]
    lines += [f"# Collapse benchmark: {config.learner} learner, {config.schedule} schedule", "",
              f"{config.seeds} seeds x {config.generations} generations, N = {config.samples} per generation"
              + f", {config.crawl()} new rows per crawl"
              + (f", alpha = {config.alpha}" if config.schedule == "fixed" else "")
              + (f", each model trains on {config.budget} of the kept rows" if config.schedule == "fixed"
                 and config.budget else "")
              + (f", learner params {config.learner_params}" if config.learner_params else "") + ".",
              "Collapse when " + " or ".join(_rule(r) for r in rules) + "; right-censored at the last generation "
              f"G = {config.generations} (`>G`). KM median: where the Kaplan–Meier survival curve over seeds falls "
              "to 0.5 (`>G`: not reached). RMST: the area under it up to G, i.e. mean generations before collapse "
              "counting at most G; RMST delay = RMST(arm) - RMST(none). Area vs none: per seed, the sum over "
              f"generations 1..G of none - arm in `{config.benefit_metric}`, averaged; oracle benefit = that area "
              "over the oracle's (1.0 = as good as perfect detection), left out with a note when the oracle's "
              "interval holds 0. Brackets: 95% paired bootstrap over seeds. TPR/FPR: on each generation's new rows. "
              f"Final {config.benefit_metric}: mean over seeds [lowest, highest seed], the between-seed spread.",
              "", _conditioning(config), ""]
    lines += ["| arm | collapse T per seed | KM median | RMST [95% CI] | RMST delay vs none [95% CI] | "
              "area vs none [95% CI] | oracle benefit [95% CI] | mean TPR | mean FPR | mean retain | "
              f"final {config.benefit_metric} |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for arm, s in summary.items():
        sv, det = s["survival"], details[arm]
        times = ", ".join(f">{t}" if c else str(t) for t, c in zip(s["collapse_time"], det["censored"], strict=True))
        median = _f(sv["km_median"], 0) if sv["km_median_reached"] else f">{sv['horizon']}"
        benefit = (_ci(s["oracle_benefit"], s["oracle_benefit_ci"], 2) if s["oracle_benefit"] == s["oracle_benefit"]
                   else s["benefit_note"])
        lines.append(f"| {arm} | {times} | {median} | {_ci(sv['rmst'], sv['rmst_ci'], 2)} | "
                     f"{_ci(sv['rmst_delay'], sv['rmst_delay_ci'], 2)} | {_ci(s['area'], s['area_ci'], 3)} | "
                     f"{benefit} | {_f(det['mean_filter_tpr'], 3)} | {_f(det['mean_filter_fpr'], 3)}"
                     f" | {_f(det['mean_retain_rate'], 3)} | {_final(records, arm, config, det)} |")
    if skipped:
        lines += ["", "Skipped arms and detectors left out:", *[f"- `{a}`: {why}" for a, why in skipped.items()]]
    lines += _provenance(details, config)
    reasons = {a: sorted(set(d["collapse_reason"]) - {"censored"}) for a, d in details.items()}
    if any(reasons.values()):
        lines += ["", "What triggered collapse:", *[f"- {a}: {'; '.join(r)}" for a, r in reasons.items() if r]]
    lines += ["", _curve_table(records, config, summary)]
    if plot_name:
        lines += ["", f"![metrics per generation]({plot_name})"]
    return "\n".join(lines) + "\n"


def _conditioning(config: CollapseConfig) -> str:
    """What a seed redraws and what every seed shares, so a reader knows what the intervals condition on."""
    start = {"hf": "the released pretrained weights (no pretraining seed to vary)",
             "transformer": ("one pretraining on the human pool" if config.learner_params.get("pretrain_steps")
                             else "a random initialisation per seed and generation")}.get(config.learner,
                                                                                          "no pretrained start")
    return ("What the intervals condition on: a seed redraws generation 0's human documents, each crawl's fresh "
            "human and foreign rows, the learner's initialisation and its samples; every seed shares the test "
            f"documents ({config.test_docs or 'all'} of them), the split of the human articles (trusted text by "
            f"`{config.trusted_by}`) and the starting model: {start}.")


def _final(records: list[dict[str, Any]], arm: str, config: CollapseConfig, det: dict[str, Any]) -> str:
    """The final generation's metric: mean [lowest, highest seed]."""
    metric = config.benefit_metric
    vals = [r[metric] for r in records if r["arm"] == arm and r["generation"] == config.generations
            and r.get(metric) is not None and math.isfinite(r[metric])]
    mean = _f(det[f"final_{metric}"], 3)
    return f"{mean} [{min(vals):.3f}, {max(vals):.3f}]" if vals and mean else mean


def _provenance(details: dict[str, Any], config: CollapseConfig) -> list[str]:
    """Which synthetic rows each arm (and each probe) catches: the previous model's own or the foreign ones."""
    if not any(d.get("mean_filter_tpr_foreign") == d.get("mean_filter_tpr_foreign") for d in details.values()):
        return []
    parts = config.foreign_parts()
    what = " and ".join(f"re-injected by the replay adversary (`replay_pick: {config.replay_pick}`)" if p == "older"
                        else f"written by other models (`{p}`)" for p in parts)
    out = ["", f"Mean TPR per generation on the crawl's synthetic rows apart: `own` = the previous model's samples, "
           f"`foreign` = {what}:", "", "| arm or probe | TPR own | TPR foreign |", "|---|---|---|"]
    for arm, d in details.items():
        out.append(f"| {arm} | {_f(d['mean_filter_tpr_own'], 3)} | {_f(d['mean_filter_tpr_foreign'], 3)} |")
        for key in d:
            if key.startswith("mean_probe_") and key.endswith("_tpr_own"):
                name = key[len("mean_probe_"):-len("_tpr_own")]
                out.append(f"| probe `{name}` (on {arm}'s crawls) | {_f(d[key], 3)} | "
                           f"{_f(d.get(f'mean_probe_{name}_tpr_foreign'), 3)} |")
    return out


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


def _ci(x: Any, ci: list[float], digits: int) -> str:
    """``x [lo, hi]``, blank when ``x`` is undefined."""
    if not _f(x, digits):
        return ""
    return f"{_f(x, digits)} [{_f(ci[0], digits)}, {_f(ci[1], digits)}]"


def _f(x: Any, digits: int) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return ""
    return f"{x:.{digits}f}"
