"""A 1-D Gaussian mixture fitted by EM with every E and M step in a chosen dtype (see ``precision.py``).

Vectorised over leading axes: ``x`` of shape (..., N) fits one mixture per leading index, each row iterating
until its own log-likelihood settles, so a row's result never depends on the rows fitted beside it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import logsumexp

from benchmarks.collapse.learners.precision import resolve, to_dtype, tree_mean

VAR_FLOOR = 1e-4
"""The smallest variance a component may take: a round number above float16's smallest normal (6.1e-5), so
one floor serves every dtype; scikit-learn's reg_covar of 1e-9 would be zero in float16."""
_MAX_Q = 1e4
"""Squared standardised distances are capped here (exp(-5000) is 0 in every dtype) so that a float16 overflow to
inf never turns a log-density into -inf for every component and the responsibilities into NaN."""


@dataclass
class Mixture:
    """Weights, means and variances, each of shape (..., K), in the dtype they were fitted in."""

    weights: np.ndarray
    means: np.ndarray
    variances: np.ndarray
    iterations: np.ndarray


def init_uniforms(seed: int, components: int) -> np.ndarray:
    """The uniforms that place the initial means, from the learner's seed."""
    return np.random.default_rng([seed, 0xE3]).random(components)


def fit(x: np.ndarray, components: int, u: np.ndarray, name: str, max_iter: int = 100, tol: float = 1e-3,
        var_floor: float = VAR_FLOOR) -> Mixture:
    """EM in the dtype from a deterministic start: component j's mean is the sorted datum at a rank drawn (by
    the uniform ``u[..., j]``) from the j-th of K equal strata, so every component starts in its own part of the
    data; variances start at the overall variance, weights at 1/K. Stops per row when no parameter moves by more
    than ``tol`` (weights absolutely, means in units of their sd, variances relatively) or after ``max_iter``.

    The stop rule reads parameters, not the log-likelihood: in bfloat16 the mean log-likelihood (about -1.8,
    spacing 2^-7) stops changing while the means are still walking, and an ``ll`` rule would stop EM there."""
    dt = resolve(name)
    x = to_dtype(x, name)
    lead, n, k = x.shape[:-1], x.shape[-1], components
    if n < k:
        raise ValueError(f"a {k}-component mixture needs that many values, got {n}")
    ranks = np.minimum(((np.arange(k) + np.asarray(u, dtype=np.float64)) * n / k).astype(np.int64), n - 1)
    means = np.take_along_axis(np.sort(x, axis=-1), np.broadcast_to(ranks, lead + (k,)), axis=-1)
    m = tree_mean(x, name)
    d = x - m[..., None]
    floor = np.asarray(var_floor, dtype=dt)
    var0 = np.maximum(tree_mean(d * d, name), floor)
    state = Mixture(np.full(lead + (k,), 1.0 / k, dtype=dt), means.copy(), np.repeat(var0[..., None], k, axis=-1),
                    np.zeros(lead, dtype=np.int64))
    flat = [a.reshape((-1,) + a.shape[len(lead):]) for a in (x, state.weights, state.means, state.variances)]
    xs, w, mu, var = flat
    its = state.iterations.reshape(-1)
    active = np.arange(xs.shape[0])
    for step in range(1, max_iter + 1):
        nw, nmu, nvar = _step(xs[active], w[active], mu[active], var[active], name, floor)
        settled = _moved(w[active], nw, mu[active], nmu, var[active], nvar) < tol
        w[active], mu[active], var[active], its[active] = nw, nmu, nvar, step
        active = active[~settled]
        if not active.size:
            break
    return Mixture(w.reshape(lead + (k,)), mu.reshape(lead + (k,)), var.reshape(lead + (k,)),
                   its.reshape(lead))


def _step(x: np.ndarray, w: np.ndarray, mu: np.ndarray, var: np.ndarray, name: str, floor: np.ndarray
          ) -> tuple[np.ndarray, ...]:
    """One E step and one M step on rows x (R, N) with parameters (R, K); returns the new parameters."""
    dt = resolve(name)
    half, two_pi = np.asarray(0.5, dtype=dt), np.asarray(2 * math.pi, dtype=dt)
    d = x[:, None, :] - mu[:, :, None]                                   # (R, K, N)
    with np.errstate(over="ignore"):  # a float16 overflow to inf is what the cap is for
        q = np.minimum(d * d / var[:, :, None], np.asarray(_MAX_Q, dtype=dt))
    lp = (np.log(w) - half * np.log(two_pi * var))[:, :, None] - half * q
    top = lp.max(axis=1, keepdims=True)
    e = np.exp(lp - top)
    total = _add(e, axis=1)
    r = e / total                                                        # responsibilities
    nk = tree_mean(r, name) + np.asarray(10 * float(np.finfo(np.float32).eps), dtype=dt)
    new_mu = tree_mean(r * x[:, None, :], name) / nk
    dn = x[:, None, :] - new_mu[:, :, None]
    new_var = np.maximum(tree_mean(r * (dn * dn), name) / nk, floor)
    return nk / _add(nk, axis=-1), new_mu, new_var


def _moved(w: np.ndarray, nw: np.ndarray, mu: np.ndarray, nmu: np.ndarray, var: np.ndarray, nvar: np.ndarray
           ) -> np.ndarray:
    """Per row, the largest parameter change (a stopping test, so float64 is fine here)."""
    w, nw, mu, nmu, var, nvar = (a.astype(np.float64) for a in (w, nw, mu, nmu, var, nvar))
    return np.max(np.stack([np.abs(nw - w), np.abs(nmu - mu) / np.sqrt(nvar), np.abs(nvar / var - 1)]), axis=(0, 2))


def _add(a: np.ndarray, axis: int) -> np.ndarray:
    """The sum over a short axis (the K components) one rounded addition at a time, keeping the axis; np.sum
    of float16 would accumulate in float32."""
    parts = np.moveaxis(a, axis, 0)
    total = parts[0]
    for part in parts[1:]:
        total = total + part
    return np.expand_dims(total, axis)


def nll(x: np.ndarray, w: np.ndarray, mu: np.ndarray, var: np.ndarray) -> float:
    """Mean negative log-likelihood (float64) of 1-D values under a mixture: a measurement, not the model's
    arithmetic, so it is done in float64 from the dtype's parameters (weights normalised, as sampling does)."""
    x = np.asarray(x, dtype=np.float64)[:, None]
    w, mu, var = (np.asarray(a, dtype=np.float64) for a in (w, mu, var))
    w = w / w.sum()
    with np.errstate(divide="ignore"):
        lp = np.log(w) - 0.5 * np.log(2 * math.pi * var) - 0.5 * (x - mu) ** 2 / var
    return float(-np.mean(logsumexp(lp, axis=1)))


def std(w: np.ndarray, mu: np.ndarray, var: np.ndarray) -> np.ndarray:
    """Standard deviation of the whole mixture over the last axis (float64), as MixtureLearner.std.

    The weights are normalised first: low-precision weights sum to 1 only to within an ulp, and at a mean of
    100 an excess of 0.4% in the sum (one bfloat16 ulp) would shift E[x^2] - E[x]^2 by about 40."""
    w, mu, var = (np.asarray(a, dtype=np.float64) for a in (w, mu, var))
    w = w / w.sum(axis=-1, keepdims=True)
    mean = np.sum(w * mu, axis=-1)
    return np.sqrt(np.sum(w * (var + mu**2), axis=-1) - mean**2)
