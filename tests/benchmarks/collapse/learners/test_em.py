"""EM for a 1-D Gaussian mixture with every step in a chosen dtype."""
from __future__ import annotations

import numpy as np

from benchmarks.collapse.learners import em, precision


def test_float32_em_matches_scikit_learn_on_separated_data():
    from sklearn.mixture import GaussianMixture

    rng = np.random.default_rng(6)
    x = np.concatenate([rng.normal(-5, 0.7, 300), rng.normal(4, 1.2, 700)])
    fit = em.fit(x, 2, em.init_uniforms(0, 2), "float32", max_iter=300, tol=1e-6)
    ref = GaussianMixture(2, random_state=0, tol=1e-8, max_iter=500).fit(x.reshape(-1, 1))
    order = np.argsort(ref.means_[:, 0])
    assert fit.means.dtype == np.float32
    np.testing.assert_allclose(np.sort(fit.means), ref.means_[order, 0], atol=2e-3)
    np.testing.assert_allclose(fit.variances[np.argsort(fit.means)], ref.covariances_[order, 0, 0], rtol=5e-3)
    np.testing.assert_allclose(fit.weights[np.argsort(fit.means)], ref.weights_[order], atol=2e-3)


def test_em_rows_do_not_depend_on_their_neighbours():
    rng = np.random.default_rng(7)
    x = rng.normal(0, 1, (6, 80)) + np.where(rng.random((6, 80)) < 0.4, -3, 2)
    u = rng.random((6, 2))
    together = em.fit(x, 2, u, "bfloat16")
    alone = em.fit(x[3:4], 2, u[3:4], "bfloat16")
    assert np.array_equal(together.means[3:4], alone.means) and np.array_equal(together.variances[3:4],
                                                                                alone.variances)
    means = together.means.astype(np.float64)
    assert np.array_equal(precision.to_dtype(means, "bfloat16").astype(np.float64), means)  # bfloat16 values
