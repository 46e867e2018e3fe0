"""Does the learner beat the word n-gram at generation 0, with the n-gram's smoothing floor chosen on validation?

    python -m benchmarks.collapse baseline --config CONFIG --run RUN_DIR -o OUT.md

For every seed of the config, the word n-gram is fitted on that seed's generation-0 documents (the same ones the
learner of ``RUN_DIR`` trained on) and scored at each ``--floors`` value on the config's validation articles and on
its test documents. The floor with the lowest mean validation NLL per word is the one chosen; the test set only
measures. The learner's generation-0 NLL per word on the same test documents comes from the run's records; the
margin (n-gram minus learner, per seed) is reported at every floor, so a reader sees how much it hangs on the floor.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.collapse.experiment import config as collapse_config
from benchmarks.collapse.learners.ngram import NGramFamily
from benchmarks.collapse.tune import gen0_scores, spread, validation_split

FLOORS = (1e-4, 1e-3, 1e-2, 3e-2, 0.1, 0.2, 0.3, 0.5, 0.7)


def ngram_table(cfg: collapse_config.CollapseConfig, floors: tuple[float, ...]) -> dict[str, Any]:
    """Validation and test NLL per word of the n-gram on every seed's generation-0 documents, per floor."""
    split = validation_split(cfg)
    out: dict[str, Any] = {"validation_docs": len(split.validation), "test_docs": len(split.test), "floors": {}}
    for floor in floors:
        family = NGramFamily(floor=floor)
        family.prepare(split.train)
        out["floors"][f"{floor:g}"] = gen0_scores(cfg, split, family)
    means = {f: float(np.mean([r["validation"] for r in rows])) for f, rows in out["floors"].items()}
    out["chosen"] = min(means, key=means.__getitem__)
    return out


def learner_g0(run: Path) -> dict[int, float]:
    """The run's generation-0 NLL per word on its test documents, per seed."""
    records = json.loads((run / "results.json").read_text())["records"]
    return {r["seed"]: r["nll_per_word"] for r in records if r["generation"] == 0 and r["arm"] == records[0]["arm"]}


def markdown(table: dict[str, Any], learner: dict[int, float], command: str, learner_name: str) -> str:
    """The floors, the chosen one, and the learner's margin at each."""
    lines = ["# Generation 0: the learner against the word n-gram, floor chosen on validation", "", "```", command,
             "```", "", f"{table['validation_docs']} validation and {table['test_docs']} test documents; NLL in nats "
             f"per word, mean [min, max] over {len(next(iter(table['floors'].values())))} seeds. Margin: n-gram "
             f"minus `{learner_name}` on the test documents, per seed (positive: the learner is better). The chosen "
             f"floor (lowest mean validation NLL) is marked; the test column never chose it.", "",
             "| floor | validation NLL | test NLL | margin on test [min, max] |", "|---|---|---|---|"]
    for floor, rows in table["floors"].items():
        v, t = np.array([r["validation"] for r in rows]), np.array([r["test"] for r in rows])
        margins = np.array([t[s] - learner[s] for s in range(len(t)) if s in learner])
        m = spread(margins, "+.2f") if margins.size else "-"
        mark = " (chosen)" if floor == table["chosen"] else ""
        lines.append(f"| {floor}{mark} | {spread(v)} | {spread(t)} | {m} |")
    if learner:
        vals = np.array(list(learner.values()))
        lines += ["", f"`{learner_name}` generation 0 on the test documents: {spread(vals)} nats per word over "
                      f"{len(vals)} seeds."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.collapse baseline", description=__doc__.split("\n")[0])
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--run", type=Path, help="a finished run of the config whose generation 0 to compare")
    parser.add_argument("--seeds", type=int, help="seeds (default: the config's)")
    parser.add_argument("--floors", default=",".join(f"{f:g}" for f in FLOORS))
    parser.add_argument("-o", "--out", type=Path, required=True, help="markdown file (JSON beside it)")
    args = parser.parse_args(argv)
    cfg = collapse_config.load(args.config)
    if args.seeds:
        cfg = cfg.replace(seeds=args.seeds)
    table = ngram_table(cfg, tuple(float(f) for f in args.floors.split(",")))
    learner = learner_g0(args.run) if args.run else {}
    command = ("python -m benchmarks.collapse baseline " + " ".join(sys.argv[1:] if argv is None else argv)).strip()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps({"command": command, "ngram": table, "learner": learner},
                                                        indent=1) + "\n")
    text = markdown(table, learner, command, cfg.learner if args.run else "-")
    args.out.write_text(text)
    sys.stdout.write(text)
    return 0

