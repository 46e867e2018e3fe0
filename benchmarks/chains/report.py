"""results.json, results.md and results.png of a chains run."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from benchmarks.chains.config import ChainsConfig
from benchmarks.chains.state import atomic_write_bytes


def _f(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def write(results: dict[str, Any], cfg: ChainsConfig, out: Path) -> None:
    """Write the three result files into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    results["findings"] = findings(results, cfg)
    atomic_write_bytes(out / "results.json", json.dumps(results, indent=1, default=str).encode())
    plot_name = None
    if cfg.plots:
        from benchmarks.chains.plots import plot

        plot_name = plot(results, out / "results.png").name
    atomic_write_bytes(out / "results.md", markdown(results, cfg, plot_name).encode())


def markdown(results: dict[str, Any], cfg: ChainsConfig, plot_name: str | None) -> str:
    """The report: command, time and prompt first, then convergence, per-depth measures and detectors."""
    gen = sum(results["generation_seconds"].values())
    lines = [f"`{results['command']}`" if results["command"] else "(run through the Python API)", "",
             "# Markovian generation chains", "",
             (f"Wall time: {sum(i['seconds'] for i in results['invocations']) / 60:.1f} min over "
              f"{len(results['invocations'])} invocation(s) (this one "
              f"{results['wall_seconds_this_invocation'] / 60:.1f} min; "
             f"generation over all of them {gen / 60:.1f} min; detectors "
             f"{results['detector_seconds'] / 60:.1f} min)."), "",
             "Invocations (a killed run continues with --resume; only its finished steps count): "
             + "; ".join(f"`{i['command']}` {i['seconds'] / 60:.1f} min" for i in results["invocations"]) + ".", "",
             (f"Rephraser `{cfg.model}`; {cfg.chains} chains per temperature x {cfg.steps} steps at temperatures "
             f"{', '.join(f'{t:g}' for t in cfg.temperatures)} (top_p {cfg.top_p:g}); max_new_tokens "
             f"{cfg.max_new_tokens}; starts: the first {cfg.min_words}-{cfg.max_words} words (cut at a sentence end) "
             f"of distinct `{results['source']}` articles, the same starts at every temperature; "
             f"{results['holdout_humans']} other articles, cut the same way, set the detectors' thresholds at "
             f"{cfg.max_fpr:.0%} FPR. Each step sees only the previous step's text. Prompt (`{{text}}` = the previous "
             "step's output), exactly as the model saw it:"), "", "```", results["prompt_rendered"], "```", ""]
    lines += ["## Convergence", "", ("A chain converges when a step's text (whitespace-normalised) equals an earlier "
              "step's (the start included); cycle length 1 = a fixed point."), "",
              "| T | converged | first repeat (median) | fixed points | cycle lengths | back to start | "
              "distinct outputs (mean of max " + str(cfg.steps) + ") | cut at max_new_tokens | copied from cycle |",
              "|---|---|---|---|---|---|---|---|---|"]
    for t, r in results["temperatures"].items():
        s = r["summary"]
        lines.append(f"| {t} | {s['converged']}/{s['chains']} | {_f(s['first_repeat_median'], 1)} | "
                     f"{s['fixed_points']} | {s['cycle_lengths'] or '–'} | {s['returned_to_start']} | "
                     f"{s['distinct_outputs_mean']:.1f} | {s['truncated_share']:.1%} | "
                     f"{s['copied_from_cycle_share']:.1%} |")
    lines += ["", "## Per depth", "", ("Similarity to the start: MinHash Jaccard (128 permutations) on word 5-grams "
              "(w5, the replay index's shingling) and on word sets (w1), mean over chains. Diversity across the "
              "chains of a depth: distinct-n and self-BLEU-4 (benchmarks/collapse/analysis/metrics.py)."), ""]
    for t, r in results["temperatures"].items():
        lines += [f"### T = {t}", "", ("| depth | sim start w5 | sim start w1 | sim prev w1 | words | words / start | "
                  "distinct-1 | distinct-2 | self-BLEU | unique texts | converged |"),
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for d in r["by_depth"]:
            lines.append(f"| {d['depth']} | {_f(d['sim_start_w5'])} | {_f(d['sim_start_w1'])} | "
                         f"{_f(d['sim_prev_w1'])} | {d['words_mean']:.1f} | {_f(d['words_ratio'], 2)} | "
                         f"{_f(d['distinct_1'])} | {_f(d['distinct_2'])} | {_f(d['self_bleu'])} | "
                         f"{d['unique_texts']} | {d['converged_share']:.0%} |")
        lines.append("")
    lines += _detectors(results["detectors"])
    if results.get("findings"):
        lines += ["## What the numbers show, and what they do not", ""] + [f"- {f}" for f in results["findings"]] + [""]
    lines += ["## Example: chain 0 at each temperature (depths 0, 1, 2 and the last)", ""]
    for t, r in results["temperatures"].items():
        chain = r["examples"][0] if r["examples"] else []
        picks = sorted({d for d in (0, 1, 2, len(chain) - 1) if 0 <= d < len(chain)})
        lines += [f"T = {t}:", ""] + [f"- depth {d}: {' '.join(chain[d].split())!r}" for d in picks] + [""]
    if plot_name:
        lines += [f"![chains]({plot_name})", ""]
    return "\n".join(lines)


def _detectors(det: dict[str, Any]) -> list[str]:
    lines = ["## Detectors", "", ("Depth 0 is the human start texts, so its rate is a false-positive rate; AUROC is "
             "against the held-out human texts.")]
    for name in ("lm", "classifier"):
        if name not in det:
            continue
        for column, c in det[name]["columns"].items():
            lines += ["", (f"### `{column} {c['op']} {c['threshold']:.4g}` (FPR {c['holdout_fpr']:.1%} on "
                      f"{c['holdout_rows']} held-out humans)"), "", "| T | " + " | ".join(
                          f"d{r['depth']}" for r in next(iter(c["by_temperature"].values()))) + " |",
                      "|---|" + "---|" * len(next(iter(c["by_temperature"].values())))]
            for t, rows in c["by_temperature"].items():
                lines.append(f"| {t} TPR | " + " | ".join(f"{r['tpr']:.2f}" for r in rows) + " |")
                lines.append(f"| {t} mean | " + " | ".join(_f(r["mean"]) for r in rows) + " |")
                lines.append(f"| {t} AUROC | " + " | ".join(_f(r["auroc"], 2) for r in rows) + " |")
        if name == "classifier" and "training" in det[name]:
            tr = det[name]["training"]
            lines += ["", (f"Classifier (text head) trained on {tr['rows']} rows of detect/open_models.parquet "
                      f"({tr['positive']} machine), none of a chain start's or held-out human's article.")]
    if "replay" in det:
        rep = det["replay"]["by_temperature"]
        first = next(iter(rep.values()))
        lines += ["", (f"### Replay: index of each temperature's depth-1 outputs, default rule `max_jaccard >= "
                  f"{first['threshold']}`"), "", ("match = flagged by the rule; own = flagged and the closest indexed "
                  "text is the chain's own depth-1 output."), "",
                  "| T | humans flagged | " + " | ".join(f"d{r['depth']}" for r in first["by_depth"]) + " |",
                  "|---|---|" + "---|" * len(first["by_depth"])]
        for t, r in rep.items():
            lines.append(f"| {t} match | {r['holdout_fpr']:.1%} | " + " | ".join(
                f"{x['match_share']:.2f}" for x in r["by_depth"]) + " |")
            lines.append(f"| {t} own | | " + " | ".join(f"{x['own_match_share']:.2f}" for x in r["by_depth"]) + " |")
            lines.append(f"| {t} mean J | | " + " | ".join(_f(x["mean"], 2) for x in r["by_depth"]) + " |")
    return lines + [""]


def _tpr_line(det: dict[str, Any], name: str, results_chains: int) -> list[str]:
    out = []
    for column, c in det.get(name, {}).get("columns", {}).items():
        for t, rows in c["by_temperature"].items():
            first = next((r for r in rows if r["depth"] == 1), rows[0])
            last = rows[-1]
            # Two standard errors of the difference of two shares over the same number of chains: less is noise.
            n = max(results_chains, 1)
            noise = 2 * math.sqrt((first["tpr"] * (1 - first["tpr"]) + last["tpr"] * (1 - last["tpr"])) / n)
            diff = last["tpr"] - first["tpr"]
            trend = ("rises" if diff > noise else "falls" if diff < -noise else
                     "unchanged" if diff == 0 else f"no change beyond noise, ±{noise:.2f}")
            out.append(f"`{column}` at T={t}: TPR {first['tpr']:.2f} at depth {first['depth']}, {last['tpr']:.2f} at "
                       f"depth {last['depth']} ({trend}); depth 0 (the human starts) {rows[0]['tpr']:.2f}.")
    return out


def findings(results: dict[str, Any], cfg: ChainsConfig) -> list[str]:
    """Plain statements read off the numbers, and what the run cannot say."""
    out = []
    for t, r in results["temperatures"].items():
        s, last = r["summary"], r["by_depth"][-1]
        out.append(f"T={t}: {s['converged']}/{s['chains']} chains revisited an earlier text within {cfg.steps} steps "
                   f"(median first repeat {_f(s['first_repeat_median'], 1)}; {s['fixed_points']} fixed points, "
                   f"{s['returned_to_start']} back to the human start); {s['distinct_outputs_mean']:.1f} distinct "
                   f"outputs per chain of {cfg.steps}; at depth {last['depth']} the word-set Jaccard to the start is "
                   f"{_f(last['sim_start_w1'], 2)} and texts are {_f(last['words_ratio'], 2)}x the start's length.")
    det = results["detectors"]
    out += _tpr_line(det, "lm", cfg.chains) + _tpr_line(det, "classifier", cfg.chains)
    for t, r in det.get("replay", {}).get("by_temperature", {}).items():
        rows = {x["depth"]: x for x in r["by_depth"]}
        later = [d for d in rows if d > 1]
        if later:
            d = max(later)
            out.append(f"Replay at T={t}: {rows[d]['match_share']:.2f} of depth-{d} texts still pass the replay rule "
                       f"against the depth-1 index ({rows[d]['own_match_share']:.2f} matched to their own chain); "
                       f"{r['holdout_fpr']:.1%} of held-out humans do.")
    out += [(f"The rephraser is `{cfg.model}`: a 135M-parameter model (for the default) is a weak rephraser; it often "
            "drops or invents details, so 'rephrasing' here is closer to lossy rewriting than to paraphrase."),
            (f"{cfg.chains} chains per temperature: a share carries about ±{1 / (2 * cfg.chains ** 0.5):.2f} "
            "(one standard error at 50%); small TPR differences between depths are within noise."),
            ("Exact-string convergence misses near-fixed points (texts that change by a word each step); the "
            "similarity-to-previous column shows those."),
            ("The classifier was trained on continuations by other open models (detect/open_models.parquet), never on "
            "rephrasings or on this rephraser, so its numbers are transfer, not in-distribution detection.")]
    return out
