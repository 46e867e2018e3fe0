"""Arithmetic carried out in a chosen floating-point format: the third error source of Shumailov et al. (2024).

Every function takes a dtype *name* and works on arrays of that dtype, rounding each elementary result to it; a
value is never computed in float64 and cast at the end. numpy (float16) and ml_dtypes (bfloat16) evaluate an
elementary operation in float32 and round the result back. For +, -, *, / and sqrt that double rounding is
innocuous (float32's 24 bits are at least 2p + 2 for p = 11 and p = 8), so those results are correctly rounded;
exp and log are float32's libm results rounded once more, which is as good as a low-precision library gets.

Reductions run over the last axis, so leading axes (seeds, components) are computed at once.
"""
from __future__ import annotations

import math

import ml_dtypes
import numpy as np

DTYPES: dict[str, np.dtype] = {
    "float64": np.dtype(np.float64),
    "float32": np.dtype(np.float32),
    "bfloat16": np.dtype(ml_dtypes.bfloat16),
    "float16": np.dtype(np.float16),
}


def check(name: str) -> str:
    """``name`` itself when it names a supported dtype; else a ValueError listing the valid names."""
    if name not in DTYPES:
        raise ValueError(f"unknown dtype {name!r}; valid dtypes: {', '.join(DTYPES)}")
    return name


def resolve(name: str) -> np.dtype:
    """The numpy dtype called ``name``."""
    return DTYPES[check(name)]


def eps(name: str) -> float:
    """Machine epsilon of the dtype (the spacing of its values in [1, 2))."""
    return float(ml_dtypes.finfo(resolve(name)).eps)


def spacing(x: float, name: str) -> float:
    """The gap between representable values of the dtype around ``x`` (its normal range)."""
    if x == 0:
        return float(ml_dtypes.finfo(resolve(name)).smallest_subnormal)
    return eps(name) * 2.0 ** math.floor(math.log2(abs(x)))


def to_dtype(x: np.ndarray | float, name: str) -> np.ndarray:
    """``x`` rounded to the nearest value of the dtype (ties to even)."""
    return np.asarray(x, dtype=np.float64).astype(resolve(name))


def normal(mu: np.ndarray | float, sigma: np.ndarray | float, size: int | tuple[int, ...],
           rng: np.random.Generator, name: str) -> np.ndarray:
    """Draws ``mu + sigma * z`` in the dtype: standard normals from ``rng`` rounded to it, then one rounded
    product and one rounded sum. ``rng`` advances exactly as ``rng.normal(mu, sigma, size)`` would, so every
    dtype sees the same underlying draws (common random numbers)."""
    return affine(mu, sigma, rng.standard_normal(size), name)


def affine(mu: np.ndarray | float, sigma: np.ndarray | float, z: np.ndarray, name: str) -> np.ndarray:
    """``mu + sigma * z`` in the dtype, ``z`` rounded to it first (float64: exactly numpy's ``normal``)."""
    dt = resolve(name)
    return np.asarray(mu, dtype=dt) + np.asarray(sigma, dtype=dt) * np.asarray(z, dtype=np.float64).astype(dt)


def _tree(x: np.ndarray, dt: np.dtype) -> tuple[np.ndarray, int]:
    """The pairwise (tree) sum over the last axis divided by the padded width 2^k, and that width.

    Each level forms (a + b) * 0.5: the sum is rounded to the dtype and the halving is exact (a power of two,
    barring subnormals), so every partial carries exactly the rounding of a plain pairwise sum, yet stays a
    mean of its leaves and never grows past the largest |value|. A plain sum of 1e5 values near 1000 (1e8)
    would overflow float16 (max 65504); this only needs |values| < 32752, which holds for every range used here.
    Zero padding up to 2^k adds exact zeros, so it changes no rounding.
    """
    n = x.shape[-1]
    if n == 0:
        raise ValueError("a reduction needs at least one value")
    width = 1 << (n - 1).bit_length()
    if width != n:
        x = np.concatenate([x, np.zeros(x.shape[:-1] + (width - n,), dtype=dt)], axis=-1)
    half = np.asarray(0.5, dtype=dt)
    while x.shape[-1] > 1:
        x = (x[..., 0::2] + x[..., 1::2]) * half
    return x[..., 0], width


def tree_mean(x: np.ndarray, name: str, divisor: int | None = None) -> np.ndarray:
    """The sum over the last axis divided by ``divisor`` (default: the count), every step in the dtype.

    numpy's own reductions will not do: np.sum and np.mean of float16 accumulate in float32 inside the loop
    (and np.mean of float16 even returns a float32-accurate result), so the rounding studied here would vanish.
    The final division is by divisor / 2^k rounded to the dtype: exact when the divisor is representable
    (every count up to 256 in bfloat16, 2048 in float16), else one more rounding of up to half an ulp, which a
    real low-precision mean over that many values would suffer too.
    """
    dt = resolve(name)
    x = np.asarray(x, dtype=dt)
    scaled, width = _tree(x, dt)
    n = x.shape[-1] if divisor is None else divisor
    return scaled / np.asarray(n / width, dtype=dt)


def tree_var(x: np.ndarray, name: str, ddof: int = 0, mean: np.ndarray | None = None) -> np.ndarray:
    """Two-pass variance over the last axis in the dtype: the tree mean, rounded deviations, rounded squares,
    their tree sum over (count - ddof)."""
    dt = resolve(name)
    x = np.asarray(x, dtype=dt)
    m = tree_mean(x, name) if mean is None else np.asarray(mean, dtype=dt)
    d = x - m[..., None]
    return tree_mean(d * d, name, divisor=x.shape[-1] - ddof)


def fit_gaussian(x: np.ndarray, ddof: int, name: str, tree: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation over the last axis, in the dtype; float64 uses numpy's own reductions, as the
    learner does, unless ``tree`` asks for the same tree as the other dtypes."""
    if name == "float64" and not tree:
        x = np.asarray(x, dtype=np.float64)
        return x.mean(axis=-1), x.std(axis=-1, ddof=ddof)
    xd = to_dtype(x, name)
    m = tree_mean(xd, name)
    return m, np.sqrt(tree_var(xd, name, ddof, mean=m))
