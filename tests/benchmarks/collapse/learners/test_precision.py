"""Arithmetic in a chosen floating-point format rounds every elementary result, as a low-precision machine would."""
from __future__ import annotations

import numpy as np

from benchmarks.collapse.learners import precision


def test_float16_tree_mean_rounds_each_partial():
    """1 + 2^-10 and 1 + 2^-9 sum to 2 + 3 * 2^-10, halfway between two float16 values 2^-9 apart: ties go to
    the even one, 2 + 2^-8, so the mean is 1 + 2^-9, not float64's 1 + 0.75 * 2^-9."""
    x = np.array([1 + 2**-10, 1 + 2**-9])
    got = precision.tree_mean(precision.to_dtype(x, "float16"), "float16")
    assert got.dtype == np.float16
    assert float(got) == 1 + 2**-9 != x.mean()


def test_tree_mean_is_not_numpys_float32_accumulation():
    """numpy's float16 mean accumulates in float32 and lands on the exact mean; the tree rounds at every level."""
    rng = np.random.default_rng(3)
    x = precision.to_dtype(rng.normal(100, 1, (200, 1000)), "float16")
    exact = x.astype(np.float64).mean(axis=-1)
    h = precision.spacing(100, "float16")
    numpy_mean = np.mean(x, axis=-1).astype(np.float64)
    tree = precision.tree_mean(x, "float16").astype(np.float64)
    assert np.all(np.abs(numpy_mean - exact) <= h / 2)  # numpy: a float32 sum, then one final rounding
    assert np.mean(tree != numpy_mean) > 0.2 and np.max(np.abs(tree - exact)) > h / 2
    # Ten levels, each off by at most half a spacing of a partial near 100, and the 1000/1024 division.
    assert np.all(np.abs(tree - exact) <= 11 * h)


def test_bfloat16_mean_of_a_constant_is_off_by_a_spacing():
    """100 copies of 1000: the tree's last partial is 1000 * 100/128 = 781.25, which bfloat16 (spacing 4 there)
    stores as 780 or 784; dividing by 0.78125 lands a spacing away from 1000. The point mass cannot be fitted,
    and the error enters every deviation: the sd of a constant sample comes out as 4, not 0."""
    mu, sigma = precision.fit_gaussian(np.full(100, 1000.0), 1, "bfloat16")
    assert float(mu) in (996.0, 1004.0) and float(sigma) == 4.0
    mu16, _ = precision.fit_gaussian(np.full(100, 1000.0), 1, "float16")
    assert abs(float(mu16) - 1000.0) <= 0.5


def test_stagnation_in_a_bfloat16_sum():
    """Adding 1 to 256 in bfloat16 (spacing 2 there) is a tie that rounds back to 256: the sum stagnates."""
    a = precision.to_dtype(256.0, "bfloat16")
    assert float(a + precision.to_dtype(1.0, "bfloat16")) == 256.0
    assert float(precision.tree_mean(precision.to_dtype([256.0, 1.0], "bfloat16"), "bfloat16")) == 128.0
