"""Finite floating-point precision as a collapse mechanism (Shumailov et al. 2024's third error source).

    python -m benchmarks.collapse.fp_error -o benchmarks/results/fp_error [--seeds 1000 ...]

(a) Where rounding starts to matter: estimates of mean and sd computed in a dtype against float64 on the same
draws, over N and the true mean. (b) Collapse time of the Gaussian learner under the replace schedule per dtype,
(c) the same for the 2-component mixture learner. Running the harness itself costs about a millisecond per
generation (it also scores 10,000 test values each time), far too slow for thousands of seeds, so (b) and (c)
replay the harness's own random streams over all seeds at once; tests/test_collapse_precision.py checks that
the replay gives the learner's trajectory exactly.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import shlex
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from benchmarks.collapse import em, precision
from benchmarks.collapse.human import seed_data
from benchmarks.collapse.learners import GaussianFamily, MixtureFamily, NumericFamily
from benchmarks.collapse.loop import (  # the loop's own seeding, so replays match it
    _learner_seed,
    rng_for,
)
from benchmarks.collapse.survival import kaplan_meier, resample, survival_summary

log = logging.getLogger(__name__)
THRESHOLD = 0.5
"""The harness's numeric collapse rule: sigma_ratio < 0.5 (config.DEFAULT_RULES)."""


@dataclass(frozen=True)
class FPConfig:
    """Every setting of the experiment; equal configs give equal results."""

    dtypes: tuple[str, ...] = tuple(precision.DTYPES)
    sizes: tuple[int, ...] = (100, 1_000, 10_000, 100_000)
    """(a): sample sizes N."""
    means: tuple[float, ...] = (0.0, 10.0, 100.0, 1000.0)
    """(a): true means (sd 1)."""
    rounding_seeds: int = 300
    """(a): seeds per cell (enough to know each sampling sd to about 4%)."""
    seeds: int = 1000
    """(b): Gaussian lineages per dtype and mean."""
    generations: int = 400
    samples: int = 100
    """(b) and (c): N per generation (the committed gmm config's 100; the committed gaussian one used 50)."""
    collapse_means: tuple[float, ...] = (0.0, 100.0, 1000.0)
    gmm_seeds: int = 300
    gmm_generations: int = 200
    gmm_offsets: tuple[float, ...] = (0.0, 100.0)
    """(c): the default MixtureFamily's component means, shifted by these."""
    em_iters: int = 100
    em_tol: float = 1e-3
    bootstrap: int = 1000
    plots: bool = True

    def __post_init__(self) -> None:
        for name in self.dtypes:
            precision.check(name)
        if "float64" not in self.dtypes:
            raise ValueError("the dtypes must include float64, the reference every other one is tested against")
        if min(self.seeds, self.gmm_seeds, self.rounding_seeds) < 2 or min(self.generations, self.gmm_generations) < 1:
            raise ValueError("need at least 2 seeds and 1 generation in every part")
        if self.samples < 2 or min(self.sizes) < 2:
            raise ValueError("need N >= 2")

    def to_dict(self) -> dict[str, Any]:
        """Plain data, for results.json."""
        return dataclasses.asdict(self)


@dataclass
class Lineages:
    """Per seed: collapse generation (or the horizon, censored), whether it collapsed, sigma per generation."""

    times: np.ndarray
    events: np.ndarray
    sigma: np.ndarray
    """(seeds, G + 1), NaN after the collapse."""
    sigma0: np.ndarray = field(default_factory=lambda: np.empty(0))
    degenerate: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=bool))
    """Collapsed because the fit overflowed (a non-finite mean or sd): the harness's "degenerate model" verdict,
    reached by the variance exploding, not shrinking."""


# --- (a) where rounding starts to matter -----------------------------------------------------------------------

def rounding_cells(cfg: FPConfig, chunk: int = 2_000_000) -> list[dict[str, Any]]:
    """Per dtype, N and mean: RMS of (dtype estimate - float64 estimate) on the same draws against the float64
    estimates' spread over seeds, for the mean and the sd (ddof 1)."""
    cells = []
    for n in cfg.sizes:
        rows = max(1, chunk // n)
        for mean in cfg.means:
            acc: dict[str, list[np.ndarray]] = {}
            for start in range(0, cfg.rounding_seeds, rows):
                count = min(rows, cfg.rounding_seeds - start)
                z = np.random.default_rng([0xF9, n, start]).standard_normal((count, n))
                m64, s64 = precision.fit_gaussian(mean + z, 1, "float64")
                acc.setdefault("m64", []).append(m64)
                acc.setdefault("s64", []).append(s64)
                for name in cfg.dtypes:
                    x = precision.affine(mean, 1.0, z, name)
                    m, s = precision.fit_gaussian(x, 1, name, tree=True)
                    acc.setdefault(f"m:{name}", []).append(m.astype(np.float64))
                    acc.setdefault(f"s:{name}", []).append(s.astype(np.float64))
                    distinct = 1 + np.count_nonzero(np.diff(np.sort(x, axis=-1), axis=-1), axis=-1)
                    acc.setdefault(f"d:{name}", []).append(distinct)
            got = {k: np.concatenate(v) for k, v in acc.items()}
            m64, s64 = got["m64"], got["s64"]
            for name in cfg.dtypes:
                m, s = got[f"m:{name}"], got[f"s:{name}"]
                h = precision.spacing(mean if mean else 1.0, name)
                cells.append({
                    "dtype": name, "n": n, "mean": mean, "spacing_at_mean": h,
                    "rms_round_mu": _rms(m - m64), "sd_sampling_mu": float(np.std(m64, ddof=1)),
                    "rms_round_sigma": _rms(s - s64), "sd_sampling_sigma": float(np.std(s64, ddof=1)),
                    "bias_mu": float(np.mean(m - m64)), "bias_sigma": float(np.mean(s - s64)),
                    "var_inflation": float(np.mean(s**2) / np.mean(s64**2) - 1.0),
                    "sheppard": h**2 / 12 if mean else 0.0,
                    "distinct_values": float(np.mean(got[f"d:{name}"])), "point_mass_share": float(np.mean(s == 0)),
                    "spread_mu": float(np.std(m, ddof=1)),
                })
                c = cells[-1]
                c["ratio_mu"] = c["rms_round_mu"] / c["sd_sampling_mu"]
                c["ratio_sigma"] = c["rms_round_sigma"] / c["sd_sampling_sigma"]
            log.info("rounding: N = %d, mean = %g done", n, mean)
    return cells


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x))))


# --- (b) the Gaussian learner's lineages -------------------------------------------------------------------------

def _gen0(family: NumericFamily, seeds: Sequence[int], samples: int, generations: int) -> np.ndarray:
    """Generation 0's human training rows per seed, drawn and shuffled exactly as loop._start does (replace)."""
    return np.stack([seed_data(family.draw_human(samples, rng_for(s, 0, "human")), s, samples, 0, generations).gen0
                     for s in seeds])


def gaussian_lineages(means: Sequence[float], dtypes: Sequence[str], seeds: Sequence[int], samples: int,
                      generations: int, ddof: int = 1) -> dict[tuple[float, str], Lineages]:
    """GaussianLearner(dtype) under the replace schedule for every seed at once, replaying the loop's streams:
    generation t >= 1 fits the N samples drawn by model t - 1 with rng_for(seed, t - 1, "sample"). The standard
    normals behind those samples do not depend on the model, so every dtype and mean reuses them."""
    seeds = list(seeds)
    state: dict[tuple[float, str], dict[str, np.ndarray]] = {}
    for mean in means:
        human = _gen0(GaussianFamily(mean=mean), seeds, samples, generations)
        for name in dtypes:
            mu, sigma = (a.astype(np.float64) for a in precision.fit_gaussian(human, ddof, name))
            sig = np.full((len(seeds), generations + 1), np.nan)
            sig[:, 0] = sigma
            dead = ~(sigma > 0)  # the loop's gen-0 verdict: a zero sd scores test_ce = inf
            state[(mean, name)] = {"mu": mu, "sigma": sigma, "sigma0": sigma.copy(), "sig": sig,
                                   "t": np.where(dead, 0, generations), "event": dead,
                                   "degenerate": np.zeros(len(seeds), dtype=bool)}
    for t in range(1, generations + 1):
        alive = np.zeros(len(seeds), dtype=bool)
        for st in state.values():
            alive |= ~st["event"]
        if not alive.any():
            break
        rows = np.flatnonzero(alive)
        z = np.zeros((len(seeds), samples))
        z[rows] = np.stack([rng_for(seeds[i], t - 1, "sample").standard_normal(samples) for i in rows])
        for (mean, name), st in state.items():
            live = np.flatnonzero(~st["event"])
            if not live.size:
                continue
            with np.errstate(over="ignore", invalid="ignore"):  # a float16 overflow is an outcome, recorded below
                x = precision.affine(st["mu"][live, None], st["sigma"][live, None], z[live], name)
                mu, sigma = (a.astype(np.float64) for a in precision.fit_gaussian(x, ddof, name))
            st["mu"][live], st["sigma"][live] = mu, sigma
            st["sig"][live, t] = sigma
            bad = ~np.isfinite(mu) | ~np.isfinite(sigma)  # the harness scores test_ce = inf or NaN: "degenerate"
            down = live[bad | ~(sigma > 0) | (sigma / st["sigma0"][live] < THRESHOLD)]
            st["t"][down], st["event"][down] = t, True
            st["degenerate"][live[bad]] = True
        if t % 50 == 0:
            log.info("gaussian: generation %d/%d, %d seeds still running somewhere", t, generations, rows.size)
    return {k: Lineages(st["t"], st["event"], st["sig"], st["sigma0"], st["degenerate"]) for k, st in state.items()}


# --- (c) the mixture learner's lineages --------------------------------------------------------------------------

def mixture_family(offset: float) -> MixtureFamily:
    """The default MixtureFamily with its component means shifted by ``offset``."""
    base = MixtureFamily()
    return MixtureFamily(means=tuple(m + offset for m in base.means))


def gmm_lineages(offset: float, dtypes: Sequence[str], seeds: Sequence[int], samples: int, generations: int,
                 max_iter: int = 100, tol: float = 1e-3) -> dict[str, Lineages]:
    """The mixture learner (``em.fit`` in each dtype, float64 included, so that only the format differs) under
    the replace schedule for every seed at once, with the loop's streams and learner seeds."""
    seeds = list(seeds)
    family = mixture_family(offset)
    k = family.components
    human = _gen0(family, seeds, samples, generations)
    out = {}
    for name in dtypes:
        fit = em.fit(human, k, _uniforms(seeds, 0, k), name, max_iter, tol)
        sigma0 = em.std(fit.weights, fit.means, fit.variances)
        sig = np.full((len(seeds), generations + 1), np.nan)
        sig[:, 0] = sigma0
        event = ~(sigma0 > 0)
        degenerate = np.zeros(len(seeds), dtype=bool)
        times = np.where(event, 0, generations)
        params = [a.astype(np.float64) for a in (fit.weights, fit.means, fit.variances)]
        for t in range(1, generations + 1):
            live = np.flatnonzero(~event)
            if not live.size:
                break
            with np.errstate(over="ignore", invalid="ignore"):  # an overflow is an outcome, recorded below
                x = np.stack([_mixture_draw(params[0][i], params[1][i], params[2][i], samples,
                                            rng_for(seeds[i], t - 1, "sample"), name) for i in live])
                fit = em.fit(x, k, _uniforms([seeds[i] for i in live], t, k), name, max_iter, tol)
                for p, new in zip(params, (fit.weights, fit.means, fit.variances)):
                    p[live] = new.astype(np.float64)
                sigma = em.std(*(p[live] for p in params))
            sig[live, t] = sigma
            bad = ~np.isfinite(sigma)
            down = live[bad | ~(sigma > 0) | (sigma / sigma0[live] < THRESHOLD)]
            times[down], event[down] = t, True
            degenerate[live[bad]] = True
            if t % 50 == 0:
                log.info("gmm offset %g, %s: generation %d/%d, %d seeds running", offset, name, t, generations,
                         live.size)
        out[name] = Lineages(times, event, sig, sigma0, degenerate)
    return out


def _uniforms(seeds: Sequence[int], generation: int, k: int) -> np.ndarray:
    return np.stack([em.init_uniforms(_learner_seed(s, generation), k) for s in seeds])


def _mixture_draw(w: np.ndarray, mu: np.ndarray, var: np.ndarray, n: int, rng: np.random.Generator,
                  name: str) -> np.ndarray:
    """What the learner's ``sample`` draws: LowPrecisionMixture, or MixtureLearner's arithmetic for float64."""
    comp = rng.choice(len(w), size=n, p=w / w.sum())
    sd = np.sqrt(var) if name == "float64" else np.sqrt(precision.to_dtype(var, name))
    return precision.affine(mu[comp], sd[comp], rng.standard_normal(n), name).astype(np.float64)


# --- statistics --------------------------------------------------------------------------------------------------

def two_sample(t: np.ndarray, e: np.ndarray, t_ref: np.ndarray, e_ref: np.ndarray) -> dict[str, float]:
    """Log-rank test (censoring handled) and Mann-Whitney U on the times (a censored run counts as the horizon),
    both two-sided. Identical samples get p = 1 (both statistics are 0/0 there)."""
    t, t_ref = np.asarray(t, dtype=float), np.asarray(t_ref, dtype=float)
    e, e_ref = np.asarray(e, dtype=bool), np.asarray(e_ref, dtype=bool)
    same = np.array_equal(np.sort(t[e]), np.sort(t_ref[e_ref])) and np.array_equal(np.sort(t[~e]), np.sort(t_ref[~e_ref]))
    if same:
        return {"logrank_p": 1.0, "logrank_stat": 0.0, "mannwhitney_p": 1.0}
    lr = stats.logrank(stats.CensoredData(uncensored=t[e], right=t[~e]),
                       stats.CensoredData(uncensored=t_ref[e_ref], right=t_ref[~e_ref]))
    mw = stats.mannwhitneyu(t, t_ref, alternative="two-sided")
    return {"logrank_p": _finite(lr.pvalue), "logrank_stat": _finite(lr.statistic), "mannwhitney_p": _finite(mw.pvalue)}


def _finite(x: float) -> float:
    x = float(x)
    return x if np.isfinite(x) else 1.0  # all-tied samples (e.g. every run censored): nothing to tell apart


def survival_row(lin: Lineages, ref: Lineages, horizon: int, n_boot: int) -> dict[str, Any]:
    """KM median (with a bootstrap 95% CI), RMST with its CI and the paired RMST delay against ``ref``, the two
    tests, and how many seeds' collapse times differ from the reference's."""
    row = survival_summary(lin.times, lin.events, ref.times, ref.events, horizon, n_boot)
    idx = resample(len(lin.times), n_boot)  # the resamples survival_summary drew for the RMST interval
    medians = np.array([_median(kaplan_meier(lin.times[i], lin.events[i]), horizon) for i in idx])
    row["km_median_ci"] = [_median_bound(medians, 2.5, horizon), _median_bound(medians, 97.5, horizon)]
    row |= two_sample(lin.times, lin.events, ref.times, ref.events)
    row["seeds_changed"] = int(np.sum((lin.times != ref.times) | (lin.events != ref.events)))
    row["degenerate"] = int(np.sum(lin.degenerate))
    alive = ~lin.events
    ratio = lin.sigma[alive, -1] / lin.sigma0[alive]
    # Where the sd went in the runs that never collapsed: held near 1, or exploding.
    row["survivor_ratio_at_G"] = [float(v) for v in np.percentile(ratio, [5, 50, 95])] if ratio.size else None
    return row


def _median(curve: Any, horizon: int) -> float:
    m = curve.median()
    return float(m) if m is not None else np.inf


def _median_bound(medians: np.ndarray, q: float, horizon: int) -> float | None:
    """A percentile of the bootstrap medians; None where it lies past the horizon (not reached)."""
    v = float(np.percentile(medians, q, method="inverted_cdf"))  # no interpolation between inf and a finite value
    return v if np.isfinite(v) else None


def survival_block(lineages: dict[str, Lineages], horizon: int, n_boot: int) -> dict[str, dict[str, Any]]:
    """``survival_row`` for every dtype against float64."""
    ref = lineages["float64"]
    return {name: survival_row(lin, ref, horizon, n_boot) for name, lin in lineages.items()}


# --- the run -----------------------------------------------------------------------------------------------------

def run(cfg: FPConfig, out: str | Path, command: str | None = None) -> dict[str, Any]:
    """All three parts; writes results.json, results.md and the PNGs into ``out`` and returns results.json."""
    from benchmarks.collapse import fp_report

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
    (out / "results.json").write_text(json.dumps(_clean(results), indent=1, allow_nan=False) + "\n", encoding="utf-8")
    (out / "results.md").write_text(fp_report.markdown(cfg, results, plots), encoding="utf-8")
    log.info("wrote %s in %.0f s", out, seconds["total"])
    return results


def _clean(value: Any) -> Any:
    """NaN and infinities become null (JSON has no such numbers)."""
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def parse_args(argv: Sequence[str]) -> tuple[FPConfig, Path]:
    """The config and output folder from the command line (defaults: FPConfig's)."""
    d = FPConfig()
    p = argparse.ArgumentParser(prog="python -m benchmarks.collapse.fp_error", description=__doc__.split("\n")[0])
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
    """Command-line entry point."""
    argv = sys.argv[1:] if argv is None else list(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    cfg, out = parse_args(argv)
    run(cfg, out, command=shlex.join(["python", "-m", "benchmarks.collapse.fp_error", *argv]))


if __name__ == "__main__":
    main()
