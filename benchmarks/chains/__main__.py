"""``python -m benchmarks.chains -o OUT [options]``: Markovian generation chains, an LM rephrasing its own output
again and again. Writes OUT/results.{json,md,png}."""
from __future__ import annotations

import argparse
import shlex
from collections.abc import Sequence
from pathlib import Path

from benchmarks.entry import console, fail, log_warnings, progress

PROG = "python -m benchmarks.chains"


def main(argv: Sequence[str] | None = None) -> None:
    """Run the chains (or resume them) and print a summary per temperature."""
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    p.add_argument("-o", "--out", type=Path, required=True, help="Output directory.")
    p.add_argument("--config", type=Path, help="YAML or TOML chains config.")
    p.add_argument("--model", help="Rephraser: 'default' (SmolLM2) or a local causal-LM directory.")
    p.add_argument("--temperatures", help="Comma-separated, e.g. 0,0.7,1.0.")
    p.add_argument("--chains", type=int, help="Chains per temperature.")
    p.add_argument("--steps", type=int, help="Rephrasings per chain.")
    p.add_argument("--source", help="news_wiki_stories or wikitext2.")
    p.add_argument("--min-words", type=int, help="Shortest start text.")
    p.add_argument("--max-words", type=int, help="Longest start text.")
    p.add_argument("--max-new-tokens", type=int)
    p.add_argument("--batch-size", type=int, help="Chains generated together.")
    p.add_argument("--detectors", help="Comma-separated of lm, classifier, replay (default: all three).")
    p.add_argument("--score-depths", help="Depths the detectors score, e.g. 0,1,2,3,5,10,15,20 (default: all).")
    p.add_argument("--seed", type=int)
    p.add_argument("--work-dir", type=Path, help="Where _state, score caches and the classifier go (default: OUT).")
    p.add_argument("--resume", action="store_true", help="Continue from WORK/_state (a killed run).")
    p.add_argument("-v", "--verbose", action="store_true", help="Log progress details.")
    a = p.parse_args(argv)
    log_warnings(a.verbose)
    from rich.console import Console
    from rich.table import Table

    from benchmarks.chains import ChainsConfig, load, run_chains

    try:
        cfg = load(a.config) if a.config else ChainsConfig()
        cfg = cfg.replace(model=a.model, temperatures=a.temperatures, chains=a.chains, steps=a.steps, source=a.source,
                          min_words=a.min_words, max_words=a.max_words, max_new_tokens=a.max_new_tokens,
                          batch_size=a.batch_size, detectors=a.detectors, score_depths=a.score_depths, seed=a.seed)
        given = [("--config", a.config), ("--model", a.model), ("--temperatures", a.temperatures),
                 ("--chains", a.chains), ("--steps", a.steps), ("--source", a.source), ("--min-words", a.min_words),
                 ("--max-words", a.max_words), ("--max-new-tokens", a.max_new_tokens), ("--batch-size", a.batch_size),
                 ("--detectors", a.detectors), ("--score-depths", a.score_depths), ("--seed", a.seed),
                 ("--work-dir", a.work_dir)]
        words = [str(w) for k, v in given if v is not None for w in (k, v)]
        command = shlex.join([*shlex.split(PROG), *words, *(["--resume"] if a.resume else []), "-o", str(a.out)])
        with progress() as update:
            result = run_chains(cfg, a.out, work=a.work_dir, command=command, progress=update, resume=a.resume)
    except (ValueError, FileNotFoundError, RuntimeError) as exc:
        fail(exc)
    table = Table(title=f"chains: {cfg.model}, {cfg.chains} chains x {cfg.steps} steps → {a.out}")
    for column in ("T", "converged", "median first repeat", "fixed points", "distinct outputs"):
        table.add_column(column)
    for t, r in result["temperatures"].items():
        s = r["summary"]
        table.add_row(t, f"{s['converged']}/{s['chains']}", str(s["first_repeat_median"]), str(s["fixed_points"]),
                      f"{s['distinct_outputs_mean']:.1f}")
    Console().print(table)
    console.print(f"report: {a.out / 'results.md'}")


if __name__ == "__main__":
    main()
