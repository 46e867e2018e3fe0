"""Neighbour- and cluster-normalised scores: they undo a shift of the human scores between domains."""
import numpy as np
from scipy import sparse
from sklearn.metrics import roc_auc_score

from benchmarks.transfer.local import cluster_normalise, local_normalise


def _two_domains(seed: int = 0):
    """Two domains with orthogonal vectors; domain B's humans and machines score 3 higher than domain A's."""
    rng = np.random.default_rng(seed)
    n = 400
    domain = np.repeat([0, 1], n // 2)
    y = rng.random(n) < 0.5
    s = rng.normal(size=n) + 1.5 * y + 3.0 * domain
    vec = np.zeros((n, 2))
    vec[np.arange(n), domain] = 1.0
    vec += rng.normal(scale=0.01, size=vec.shape)
    trusted = np.flatnonzero(~y)[::2]
    rest = np.setdiff1d(np.arange(n), trusted)
    return vec, s, y, trusted, rest


def test_local_normalisation_recovers_within_domain_separation():
    vec, s, y, trusted, rest = _two_domains()
    sim_r, sim_t = vec[rest] @ vec[trusted].T, vec[trusted] @ vec[trusted].T
    nr, nt = local_normalise(sim_r, sim_t, s[rest], s[trusted], k=20)
    assert roc_auc_score(y[rest], nr) > roc_auc_score(y[rest], s[rest]) + 0.05
    assert nt.shape == trusted.shape and np.isfinite(nt).all()


def test_cluster_normalisation_recovers_within_domain_separation():
    vec, s, y, trusted, rest = _two_domains(1)
    m = sparse.csr_matrix(vec)
    nr, _ = cluster_normalise(m[rest], m[trusted], s[rest], s[trusted], c=2, seed=0)
    assert roc_auc_score(y[rest], nr) > roc_auc_score(y[rest], s[rest]) + 0.05
