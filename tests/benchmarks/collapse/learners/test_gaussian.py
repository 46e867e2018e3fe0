"""The 1-D numeric learners: float64 is plain numpy and scikit-learn, low precision really rounds."""
from __future__ import annotations

import numpy as np
import pytest

from benchmarks.collapse.experiment.fp_replay import FPConfig
from benchmarks.collapse.learners import precision
from benchmarks.collapse.learners.base import build
from benchmarks.collapse.learners.gaussian import GaussianFamily, GaussianLearner, MixtureFamily, MixtureLearner


def _representable(x: np.ndarray, name: str) -> bool:
    """Whether every value of ``x`` is exactly a value of the dtype."""
    x = np.asarray(x, dtype=np.float64)
    return bool(np.array_equal(precision.to_dtype(x, name).astype(np.float64), x, equal_nan=True))


def test_low_precision_results_are_representable():
    rng = np.random.default_rng(0)
    for name in ("bfloat16", "float16"):
        x = precision.normal(10.0, 1.0, (5, 200), rng, name)
        mu, sigma = precision.fit_gaussian(x, 1, name)
        assert x.dtype == mu.dtype == sigma.dtype == precision.resolve(name)
        learner = GaussianFamily(mean=10.0, dtype=name).new(0)
        learner.fit(rng.normal(10, 1, 100))
        draws = learner.sample(300, rng)
        assert draws.dtype == np.float64
        assert _representable(draws, name) and _representable(np.array([learner.mu]), name)
        assert not _representable(rng.normal(10, 1, 100), name)


def test_bfloat16_quantises_a_narrow_gaussian_to_a_point():
    """Near 1000 bfloat16 values are 4 apart: N(1000, 0.1^2) draws all round to 1000; over 128 of them (a power
    of two, every partial 1000) the sd is exactly 0 and the model is degenerate."""
    draws = precision.normal(1000.0, 0.1, 500, np.random.default_rng(1), "bfloat16")
    assert set(draws.astype(float)) == {1000.0}
    learner = GaussianLearner(dtype="bfloat16")
    learner.fit(np.random.default_rng(2).normal(1000, 0.1, 128))
    assert learner.sigma == 0.0 and learner.mu == 1000.0
    assert learner.evaluate(np.array([1000.0, 1001.0]))["test_ce"] == np.inf


def test_float64_gaussian_learner_is_plain_numpy():
    data = np.random.default_rng(4).normal(3, 2, 57)
    learner = build("gaussian", {"dtype": "float64"}).new(0)
    learner.fit(data)
    assert (learner.mu, learner.sigma) == (float(data.mean()), float(data.std(ddof=1)))
    assert np.array_equal(learner.sample(40, np.random.default_rng(9)),
                          np.random.default_rng(9).normal(data.mean(), data.std(ddof=1), 40))


def test_float64_mixture_learner_is_scikit_learn():
    from sklearn.mixture import GaussianMixture

    family = MixtureFamily()
    assert family.dtype == "float64" and isinstance(family.new(5), MixtureLearner)
    data = family.draw_human(200, np.random.default_rng(5))
    learner = family.new(5)
    learner.fit(data)
    ref = GaussianMixture(2, random_state=5, reg_covar=1e-9).fit(data.reshape(-1, 1))
    assert np.array_equal(learner._model.means_, ref.means_)


def test_bad_dtype_names_the_valid_ones():
    for make in (lambda: build("gaussian", {"dtype": "float8"}),
                 lambda: MixtureFamily(dtype="half"), lambda: precision.resolve("fp16")):
        with pytest.raises(ValueError, match="valid dtypes: float64, float32, bfloat16, float16"):
            make()
    with pytest.raises(ValueError, match="unknown dtype"):
        FPConfig(dtypes=("float64", "int8"))
