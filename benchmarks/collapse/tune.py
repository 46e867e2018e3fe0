"""Which learner settings fit generation 0 best on validation articles? The test documents only measure.

    python -m benchmarks.collapse tune --config CONFIG --grid 'steps=[150,300,600]' [--grid 'lr=[5e-4,1e-3]']
        [--validation-fraction 0.1] [--seeds N] -o OUT.md

For every combination of the ``--grid`` values (each a YAML list of one learner parameter's values), every seed's
learner is fitted on that seed's generation-0 documents, as a run's generation 0 is, and scored on the validation
articles and on the test documents. The combination with the lowest mean validation NLL per word is chosen; the
config's own values are marked beside it, with what the test documents say of both. A config without validation
articles takes them with ``--validation-fraction``: they leave the training pool, so generation 0's documents (and
a pretraining, keyed by its pool) differ from those of the config's runs.
"""
from __future__ import annotations

import argparse
import itertools
import json
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.collapse.data.human import HumanSplit, seed_data
from benchmarks.collapse.experiment import config as collapse_config
from benchmarks.collapse.experiment.loop import Progress
from benchmarks.collapse.experiment.schedules import build as build_schedule
from benchmarks.collapse.experiment.setup import text_split
from benchmarks.collapse.experiment.streams import learner_seed
from benchmarks.collapse.learners.base import Family
from benchmarks.collapse.learners.base import build as build_family
from benchmarks.entry import fail, log_warnings, progress
from filterkit.config import parse_params

PROG = "python -m benchmarks.collapse tune"


def validation_split(cfg: collapse_config.CollapseConfig) -> HumanSplit:
    """The config's human split; refused without validation articles, which every choice here is made on."""
    if cfg.validation_fraction <= 0:
        raise SystemExit("the config sets no validation articles (validation_fraction: 0): give --validation-fraction")
    return text_split(cfg)


def gen0_scores(cfg: collapse_config.CollapseConfig, split: HumanSplit, family: Family,
                update: Progress | None = None, done: int = 0, total: int = 0) -> list[dict[str, float]]:
    """Per seed: validation and test NLL per word of the learner fitted on that seed's generation-0 documents."""
    schedule = build_schedule(cfg.schedule, cfg.samples, cfg.alpha, cfg.budget, cfg.crawl())
    rows = []
    for seed in range(cfg.seeds):
        gen0 = seed_data(split.train, seed, cfg.samples, schedule.human_per_generation(), cfg.generations).gen0
        model = family.new(learner_seed(seed, 0))
        model.fit(gen0)
        rows.append({"validation": model.evaluate(split.validation)["nll_per_word"],
                     "test": model.evaluate(split.test)["nll_per_word"]})
        if update:
            update("fits", done + seed + 1, total)
    return rows


def grid_points(grid: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """Every combination of the grid's values, the first key varying slowest."""
    return [dict(zip(grid, values, strict=True)) for values in itertools.product(*grid.values())]


def sweep(cfg: collapse_config.CollapseConfig, grid: dict[str, list[Any]], update: Progress | None = None
          ) -> dict[str, Any]:
    """Validation and test NLL per seed at every grid point, and the point with the lowest mean validation NLL."""
    split = validation_split(cfg)
    points = grid_points(grid)
    if update:  # starts the clock, so the time left counts the first fit's minutes too
        update("fits", 0, len(points) * cfg.seeds)
    results = []
    for i, point in enumerate(points):
        family = build_family(cfg.learner, {**cfg.learner_params, **point})
        family.prepare(split.train)
        results.append({"params": point, "seeds": gen0_scores(cfg, split, family, update, i * cfg.seeds,
                                                               len(points) * cfg.seeds)})
    means = [float(np.mean([r["validation"] for r in p["seeds"]])) for p in results]
    configured = {k: cfg.learner_params.get(k) for k in grid}
    return {"validation_docs": len(split.validation), "test_docs": len(split.test), "train_pool": len(split.train),
            "points": results, "chosen": results[int(np.argmin(means))]["params"], "configured": configured}


def _label(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items())


def spread(values: Sequence[float], fmt: str = ".2f") -> str:
    """``mean [min, max]`` of per-seed values, each written with ``fmt``."""
    return f"{np.mean(values):{fmt}} [{min(values):{fmt}}, {max(values):{fmt}}]"


def markdown(table: dict[str, Any], learner: str, command: str, png: str) -> str:
    """One row per grid point, the chosen and the configured ones marked, and what the test documents say."""
    seeds = len(table["points"][0]["seeds"])
    lines = [f"# Generation 0 of `{learner}`: settings chosen on validation articles", "", "```", command, "```", "",
             f"Each learner is fitted on its seed's generation-0 documents (drawn from a training pool of "
             f"{table['train_pool']:,} documents) and scored on {table['validation_docs']} validation and "
             f"{table['test_docs']} test documents: NLL in nats per word, mean [min, max] over {seeds} seeds. The "
             f"chosen row has the lowest mean validation NLL; the test column never chose it. Figure: `{png}`.", "",
             "| setting | validation NLL | test NLL |", "|---|---|---|"]
    for p in table["points"]:
        marks = [m for m, ref in (("chosen", table["chosen"]), ("config", table["configured"])) if p["params"] == ref]
        mark = f" ({', '.join(marks)})" if marks else ""
        lines.append(f"| {_label(p['params'])}{mark} | {spread([r['validation'] for r in p['seeds']])} | "
                     f"{spread([r['test'] for r in p['seeds']])} |")
    by_params = {_label(p["params"]): p["seeds"] for p in table["points"]}
    chosen, configured = _label(table["chosen"]), _label(table["configured"])
    lines.append("")
    if chosen == configured:
        lines.append(f"The validation articles choose the config's own setting ({chosen}).")
    elif configured in by_params:
        diff = [c["test"] - o["test"] for c, o in zip(by_params[chosen], by_params[configured], strict=True)]
        lines.append(f"The validation articles choose {chosen}, not the config's {configured}. On the test documents "
                     f"the chosen setting is {spread(diff, '+.3f')} nats per word from the config's, paired by seed "
                     f"(negative: better).")
    else:
        lines.append(f"The validation articles choose {chosen}; the config's {configured} is not in the grid.")
    edges = [k for k, v in table["chosen"].items()
             if len(values := sorted({p["params"][k] for p in table["points"]})) > 1 and v in (values[0], values[-1])]
    if edges:
        lines.append(f"The choice sits at the edge of the grid in {', '.join(edges)}: the best setting may lie beyond "
                     f"it.")
    return "\n".join(lines) + "\n"


def draw(table: dict[str, Any], path: Path, learner: str) -> None:
    """Mean validation and test NLL against the first grid key, one line pair per value of the other keys."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    first = next(iter(table["chosen"]))
    groups: dict[str, list[dict[str, Any]]] = {}
    for p in table["points"]:
        groups.setdefault(_label({k: v for k, v in p["params"].items() if k != first}), []).append(p)
    fig, ax = plt.subplots(figsize=(6, 4))
    colours = itertools.cycle(plt.rcParams["axes.prop_cycle"].by_key()["color"])
    for (rest, points), colour in zip(groups.items(), colours, strict=False):
        xs = [p["params"][first] for p in points]
        for part, style in (("validation", "-o"), ("test", "--x")):
            ax.plot(xs, [np.mean([r[part] for r in p["seeds"]]) for p in points], style, color=colour,
                    label=f"{part}{' ' + rest if rest else ''}")
    ax.axvline(table["chosen"][first], color="grey", lw=0.8, ls=":")
    values = sorted({p["params"][first] for p in table["points"]})
    if all(isinstance(v, (int, float)) and v > 0 for v in values):
        ax.set_xscale("log")
        ax.set_xticks(values, [f"{v:g}" for v in values])
        ax.minorticks_off()
    ax.set_xlabel(first)
    ax.set_ylabel("NLL per word (mean over seeds)")
    ax.set_title(f"{learner}, generation 0 (dotted: chosen on validation)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: Sequence[str] | None = None) -> int:
    """Sweep the grid, write OUT.md, OUT.json and OUT.png."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n")[0])
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--grid", action="append", required=True, metavar="KEY=[V1,V2,...]",
                        help="a learner parameter and the values to try (a YAML list; repeat for a product)")
    parser.add_argument("--validation-fraction", type=float, help="validation articles for a config without them")
    parser.add_argument("--seeds", type=int, help="seeds (default: the config's)")
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument("-o", "--out", type=Path, required=True, help="markdown file (JSON and PNG beside it)")
    args = parser.parse_args(argv)
    log_warnings(args.verbose)
    try:
        grid = {k: v if isinstance(v, list) else [v] for k, v in parse_params(args.grid, "--grid", False).items()}
        cfg = collapse_config.load(args.config)
        changes = {k: v for k, v in (("seeds", args.seeds), ("validation_fraction", args.validation_fraction))
                   if v is not None}
        cfg = cfg.replace(**changes) if changes else cfg
        with progress() as update:
            table = sweep(cfg, grid, update)
    except (ValueError, FileNotFoundError, RuntimeError) as exc:
        fail(exc)
    command = shlex.join([*shlex.split(PROG), *argv])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    png = args.out.with_suffix(".png")
    draw(table, png, cfg.learner)
    args.out.with_suffix(".json").write_text(json.dumps({"command": command, **table}, indent=1) + "\n")
    text = markdown(table, cfg.learner, command, png.name)
    args.out.write_text(text)
    sys.stdout.write(text)
    return 0
