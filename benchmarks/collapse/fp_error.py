"""Finite floating-point precision as a collapse mechanism (Shumailov et al. 2024's third error source):
``run_fp_error`` runs the experiment and writes its outputs; ``main`` is the ``fp-error`` subcommand.

    python -m benchmarks.collapse fp-error -o benchmarks/results/fp_error [--seeds 1000 ...]

(a) Where rounding starts to matter: estimates of mean and sd computed in a dtype against float64 on the same
draws, over N and the true mean. (b) Collapse time of the Gaussian learner under the replace schedule per dtype,
(c) the same for the 2-component mixture learner (``experiment/fp_replay.py``), with the statistics of
``analysis/fp_stats.py`` and the report of ``reports/fp_report.py``.
"""
from __future__ import annotations

import argparse
import logging
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks.collapse.analysis.fp_stats import Lineages, survival_block
from benchmarks.collapse.experiment.fp_replay import FPConfig, gaussian_lineages, gmm_lineages, rounding_cells
from benchmarks.collapse.reports import fp_report
from benchmarks.collapse.reports.json_file import write_json

log = logging.getLogger(__name__)
PROG = "python -m benchmarks.collapse fp-error"


def run_fp_error(cfg: FPConfig, out: str | Path, command: str | None = None) -> dict[str, Any]:
    """All three parts; writes results.json, results.md and the PNGs into ``out`` and returns results.json."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    seconds: dict[str, float] = {}
    clock = time.perf_counter()
    cells = rounding_cells(cfg)
    seconds["rounding"] = time.perf_counter() - clock
    clock = time.perf_counter()
    gauss = gaussian_lineages(cfg.collapse_means, cfg.dtypes, range(cfg.seeds), cfg.samples, cfg.generations)
    seconds["gaussian"] = time.perf_counter() - clock
    clock = time.perf_counter()
    gmm: dict[tuple[float, str], Lineages] = {}
    for offset in cfg.gmm_offsets:
        lin = gmm_lineages(offset, cfg.dtypes, range(cfg.gmm_seeds), cfg.samples, cfg.gmm_generations,
                           cfg.em_iters, cfg.em_tol)
        gmm |= {(offset, name): v for name, v in lin.items()}
    seconds["gmm"] = time.perf_counter() - clock
    clock = time.perf_counter()
    g_stats = {m: survival_block({n: gauss[(m, n)] for n in cfg.dtypes}, cfg.generations, cfg.bootstrap)
               for m in cfg.collapse_means}
    m_stats = {o: survival_block({n: gmm[(o, n)] for n in cfg.dtypes}, cfg.gmm_generations, cfg.bootstrap)
               for o in cfg.gmm_offsets}
    seconds["statistics"] = time.perf_counter() - clock
    results = {"command": command, "config": cfg.to_dict(), "rounding": cells,
               "gaussian": {str(m): {n: s | {"times": gauss[(m, n)].times.tolist()} for n, s in b.items()}
                            for m, b in g_stats.items()},
               "gmm": {str(o): {n: s | {"times": gmm[(o, n)].times.tolist()} for n, s in b.items()}
                       for o, b in m_stats.items()}}
    clock = time.perf_counter()
    plots = fp_report.plots(cfg, cells, gauss, gmm, out) if cfg.plots else []
    seconds["plots"] = time.perf_counter() - clock
    seconds["total"] = time.perf_counter() - started
    results["seconds"] = {k: round(v, 1) for k, v in seconds.items()}
    write_json(results, out / "results.json")
    (out / "results.md").write_text(fp_report.markdown(cfg, results, plots), encoding="utf-8")
    log.info("wrote %s in %.0f s", out, seconds["total"])
    return results


def parse_args(argv: Sequence[str]) -> tuple[FPConfig, Path]:
    """The config and output folder from the command line (defaults: FPConfig's)."""
    d = FPConfig()
    p = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n")[0])
    p.add_argument("-o", "--out", required=True, type=Path)
    p.add_argument("--seeds", type=int, default=d.seeds, help="(b) Gaussian lineages per dtype and mean")
    p.add_argument("--generations", type=int, default=d.generations, help="(b) horizon G")
    p.add_argument("--samples", type=int, default=d.samples, help="(b, c) N per generation")
    p.add_argument("--rounding-seeds", type=int, default=d.rounding_seeds, help="(a) seeds per cell")
    p.add_argument("--sizes", type=_ints, default=d.sizes, help="(a) comma-separated N")
    p.add_argument("--gmm-seeds", type=int, default=d.gmm_seeds)
    p.add_argument("--gmm-generations", type=int, default=d.gmm_generations)
    p.add_argument("--bootstrap", type=int, default=d.bootstrap)
    p.add_argument("--no-plots", action="store_true")
    a = p.parse_args(list(argv))
    cfg = FPConfig(seeds=a.seeds, generations=a.generations, samples=a.samples, rounding_seeds=a.rounding_seeds,
                   sizes=a.sizes, gmm_seeds=a.gmm_seeds, gmm_generations=a.gmm_generations, bootstrap=a.bootstrap,
                   plots=not a.no_plots)
    return cfg, a.out


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(v) for v in text.split(",") if v.strip())


def main(argv: Sequence[str] | None = None) -> None:
    """Run the experiment from the command line; the command goes into results.json and results.md."""
    argv = sys.argv[1:] if argv is None else list(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    cfg, out = parse_args(argv)
    run_fp_error(cfg, out, command=shlex.join([*shlex.split(PROG), *argv]))
