"""``run_collapse``: run the loop for a config and write results.json, results.md, results.png and run.json; and
``main``, the ``run`` subcommand: ``python -m benchmarks.collapse run [OPTIONS] -o OUT``."""
from __future__ import annotations

import argparse
import json
import logging
import shlex
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from benchmarks.collapse.analysis.summary import summarise
from benchmarks.collapse.experiment.arms import PipelineArm
from benchmarks.collapse.experiment.config import CollapseConfig, load
from benchmarks.collapse.experiment.loop import Progress, run_seeds
from benchmarks.collapse.experiment.setup import cleanup, prepare
from benchmarks.collapse.reports.json_file import write_json
from benchmarks.collapse.reports.plots import plot
from benchmarks.collapse.reports.report import markdown
from benchmarks.entry import console, fail, log_warnings, progress
from filterkit.config import parse_params

log = logging.getLogger(__name__)
PROG = "python -m benchmarks.collapse run"


def _earlier_seconds(path: Path) -> list[float]:
    """Seconds of each finished invocation a continued run's ``run.json`` recorded (none if there is none)."""
    if not path.is_file():
        return []
    saved = json.loads(path.read_text(encoding="utf-8"))
    return list(saved.get("seconds_per_invocation") or [saved["seconds"]])


def run_collapse(config: CollapseConfig, out: str | Path, *, command: str | None = None,
                 progress: Progress | None = None, resume: bool = False) -> dict[str, Any]:
    """Run every arm over every seed and generation; write the outputs into ``out`` and return results.json.

    Finished generations are checkpointed in ``out/_state`` (kept, so that a later run may add generations or
    seeds); ``resume`` continues from there.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    setup = prepare(config, out, resume=resume)
    if not setup.arms:
        raise ValueError(f"no arm can run: {setup.skipped}")
    try:
        typed = run_seeds(setup, progress)
    finally:
        cleanup(setup)
    order = {name: i for i, name in enumerate(config.arms)}
    typed.sort(key=lambda r: (order.get(r.arm, len(order)), r.seed, r.generation))
    records = [r.to_dict() for r in typed]
    rules = config.rules(setup.family.kind)
    summary, details = summarise(records, rules, config.generations, config.seeds, config.benefit_metric,
                                 config.bootstrap)
    results = {"records": records, "summary": summary}
    write_json(results, out / "results.json")
    left_out = {a.label: a.notes() for a in setup.arms if isinstance(a, PipelineArm) and a.notes()}
    # A continued run adds its time to the finished invocations' (a killed one's time is not known).
    earlier = _earlier_seconds(out / "run.json") if resume else []
    this = round(time.perf_counter() - started, 1)
    write_json({"command": command, "config": config.to_dict(), "arms_run": [a.label for a in setup.arms],
                "skipped": setup.skipped, "detectors_left_out": left_out,
                "arm_rules": {a.label: a.rules_used() for a in setup.arms if isinstance(a, PipelineArm)},
                "collapse_rules": [r.__dict__ for r in rules], "details": details,
                "seconds": round(sum(earlier) + this, 1), "seconds_per_invocation": [*earlier, this]},
               out / "run.json")
    png = plot(records, setup.family.kind, out / "results.png", f"{config.learner} / {config.schedule}"
               ) if config.plots else None
    skipped = setup.skipped | {f"{arm} (detector {name})": why for arm, notes in left_out.items()
                               for name, why in notes.items()}
    (out / "results.md").write_text(markdown(config, summary, details, records, skipped, command,
                                             png.name if png else None, rules), encoding="utf-8")
    return results


# --- the command line ---------------------------------------------------------------------------------------------

def parser() -> argparse.ArgumentParser:
    """The options of ``run`` (those of the former ``filterkit bench collapse``)."""
    p = argparse.ArgumentParser(prog=PROG, description="Recursive training with and without filtering: when does "
                                "each arm collapse? Writes OUT/results.json, results.md, results.png and run.json.")
    p.add_argument("-o", "--out", type=Path, required=True, help="Output directory.")
    p.add_argument("--learner", help="gaussian, gmm, ngram, transformer or hf.")
    p.add_argument("--schedule", help="replace, fixed, accumulate or subsample.")
    p.add_argument("--arms", help="Comma-separated: none, oracle, random, a detector name, filter:A+B, filter, "
                                  "weight, replay.")
    p.add_argument("--generations", type=int, help="Generations after generation 0.")
    p.add_argument("--seeds", type=int, help="Independent repetitions.")
    p.add_argument("--samples", type=int, help="N: generation 0's human items, and samples the metrics read per "
                                               "model.")
    p.add_argument("--alpha", type=float, help="Human share of each crawl (fixed).")
    p.add_argument("--crawl-rows", type=int, help="New rows per crawl (default N / alpha under fixed, else N).")
    p.add_argument("--learner-param", action="append", metavar="KEY=VALUE",
                   help="Learner parameter KEY=VALUE (VALUE read as YAML); repeatable.")
    p.add_argument("--param", action="append", metavar="DETECTOR.NAME=VALUE",
                   help="Detector parameter as DETECTOR.NAME=VALUE (VALUE read as YAML); repeatable.")
    p.add_argument("--config", type=Path, help="YAML or TOML collapse config.")
    p.add_argument("--set", dest="setting", action="append", metavar="KEY=VALUE",
                   help="Any other config key as KEY=VALUE (VALUE read as YAML), e.g. replay_pick=oldest; repeatable.")
    p.add_argument("--keep-work", action="store_true", help="Keep the per-generation crawls.")
    p.add_argument("--resume", action="store_true", help="Continue from OUT/_state (a killed run, or the same run "
                                                         "with more generations or seeds).")
    p.add_argument("-v", "--verbose", action="store_true", help="Log progress details.")
    return p


def config_from(args: argparse.Namespace) -> CollapseConfig:
    """The run's config: ``--config`` (or the defaults), then ``--set``, then the other options."""
    cfg = load(args.config) if args.config else CollapseConfig()
    cfg = cfg.replace(**parse_params(args.setting, "--set", dotted=False))
    learner_params = {**cfg.learner_params, **parse_params(args.learner_param, "--learner-param", dotted=False)}
    detector_params = {k: dict(v) for k, v in cfg.detector_params.items()}
    # Unlike filter, any detector may be named: an arm, not --detectors, decides which ones run.
    for name, values in parse_params(args.param, "--param", dotted=True).items():
        detector_params.setdefault(name, {}).update(values)
    return cfg.replace(learner=args.learner, schedule=args.schedule, arms=args.arms, generations=args.generations,
                       seeds=args.seeds, samples=args.samples, alpha=args.alpha, crawl_rows=args.crawl_rows,
                       learner_params=learner_params, detector_params=detector_params,
                       keep_work=args.keep_work or None)


def command_of(args: argparse.Namespace) -> str:
    """The command line a run writes into results.md and run.json: the options given, ``--resume`` left out (a
    resumed run reports as the uninterrupted one)."""
    given = [("--config", args.config), ("--learner", args.learner), ("--schedule", args.schedule),
             ("--arms", args.arms), ("--generations", args.generations), ("--seeds", args.seeds),
             ("--samples", args.samples), ("--alpha", args.alpha), ("--crawl-rows", args.crawl_rows)]
    given += [("--learner-param", v) for v in args.learner_param or []] + [("--param", v) for v in args.param or []]
    given += [("--set", v) for v in args.setting or []]
    words = [str(w) for k, v in given if v is not None for w in (k, v)]
    return shlex.join([*shlex.split(PROG), *words, *(["--keep-work"] if args.keep_work else []), "-o", str(args.out)])


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark from the command line and print a summary table per arm."""
    args = parser().parse_args(argv)
    log_warnings(args.verbose)
    out: Path = args.out
    try:
        cfg = config_from(args)
        with progress() as update:
            result = run_collapse(cfg, out, command=command_of(args), progress=update, resume=args.resume)
    except (ValueError, FileNotFoundError, RuntimeError) as exc:
        fail(exc)
    table = Table(title=f"collapse: {cfg.learner} / {cfg.schedule} → {out}")
    for column in ("arm", "collapse T per seed", "delay (95% CI)", "oracle benefit"):
        table.add_column(column)
    details = json.loads((out / "run.json").read_text())["details"]
    for arm, s in result["summary"].items():
        d = s["delay"]
        censored = details[arm]["censored"]
        times = ", ".join(f">{t}" if c else str(t) for t, c in zip(s["collapse_time"], censored, strict=True))
        delay = f"{d['median']:.1f} [{d['ci_low']:.1f}, {d['ci_high']:.1f}]" if d["median"] == d["median"] else ""
        benefit = f"{s['oracle_benefit']:.2f}" if s["oracle_benefit"] == s["oracle_benefit"] else ""
        table.add_row(arm, times, delay, benefit)
    Console().print(table)
    console.print(f"report: {out / 'results.md'}")
