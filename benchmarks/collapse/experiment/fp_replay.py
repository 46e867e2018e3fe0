"""The floating-point-error experiment's simulations: (a) estimates of mean and sd computed in each dtype against
float64 on the same draws, over N and the true mean; (b) the Gaussian learner's and (c) the 2-component mixture
learner's lineages under the replace schedule, per dtype, over thousands of seeds at once.

Running the loop itself costs about a millisecond per generation (it also scores 10,000 test values each time), far
too slow for thousands of seeds, so (b) and (c) replay the loop's own random streams (``streams``) over all seeds
at once; tests/benchmarks/collapse/experiment/test_fp_replay.py checks that the replay gives the learner's
trajectory exactly.
"""
from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from benchmarks.collapse.analysis.fp_stats import Lineages
from benchmarks.collapse.data.human import seed_data
from benchmarks.collapse.experiment.streams import learner_seed, rng_for
from benchmarks.collapse.learners import em, precision
from benchmarks.collapse.learners.base import NumericFamily
from benchmarks.collapse.learners.gaussian import GaussianFamily, MixtureFamily

log = logging.getLogger(__name__)
THRESHOLD = 0.5
"""The loop's numeric collapse rule: sigma_ratio < 0.5 (``config.DEFAULT_RULES``)."""


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
    """Generation 0's human training rows per seed, drawn and shuffled exactly as the loop does (replace schedule)."""
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
        for (_, name), st in state.items():
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
                for p, new in zip(params, (fit.weights, fit.means, fit.variances), strict=True):
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
    return np.stack([em.init_uniforms(learner_seed(s, generation), k) for s in seeds])


def _mixture_draw(w: np.ndarray, mu: np.ndarray, var: np.ndarray, n: int, rng: np.random.Generator,
                  name: str) -> np.ndarray:
    """What the learner's ``sample`` draws: LowPrecisionMixture, or MixtureLearner's arithmetic for float64."""
    comp = rng.choice(len(w), size=n, p=w / w.sum())
    sd = np.sqrt(var) if name == "float64" else np.sqrt(precision.to_dtype(var, name))
    return precision.affine(mu[comp], sd[comp], rng.standard_normal(n), name).astype(np.float64)
