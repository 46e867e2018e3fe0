"""1-D numeric learners: a Gaussian refitted by mean and variance, and a Gaussian mixture fitted by EM, each
computing in a chosen floating-point format (``precision``, ``em``)."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from benchmarks.collapse.learners import em, precision
from benchmarks.collapse.learners.base import Learner, NumericFamily


@dataclass
class GaussianFamily(NumericFamily):
    """1-D Gaussian refitted by mean and variance: the statistical approximation error of Shumailov et al."""

    mean: float = 0.0
    std: float = 1.0
    ddof: int = 1
    """1: unbiased variance, so a collapse is not just the MLE's shrinking bias."""
    dtype: str = "float64"
    """The floating-point format the learner computes in (``precision.DTYPES``); human data stay float64."""

    def __post_init__(self) -> None:
        precision.check(self.dtype)

    def draw_human(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Draws from N(mean, std^2)."""
        return rng.normal(self.mean, self.std, n)

    def new(self, seed: int) -> Learner:
        """A Gaussian fitted by sample mean and standard deviation."""
        return GaussianLearner(ddof=self.ddof, dtype=self.dtype)


@dataclass
class MixtureFamily(NumericFamily):
    """A Gaussian mixture as the human distribution, fitted by a GMM of ``components`` (1: one Gaussian)."""

    weights: tuple[float, ...] = (0.3, 0.7)
    means: tuple[float, ...] = (-2.0, 1.5)
    stds: tuple[float, ...] = (0.5, 1.0)
    components: int = 2
    dtype: str = "float64"
    """float64: scikit-learn's GaussianMixture; any other format: ``em.fit`` in that format."""

    def __post_init__(self) -> None:
        precision.check(self.dtype)
        # Lists from a YAML config become tuples, so families compare and hash as configs.
        self.weights, self.means, self.stds = tuple(self.weights), tuple(self.means), tuple(self.stds)
        if not len(self.weights) == len(self.means) == len(self.stds) or not self.weights:
            raise ValueError("gmm: weights, means and stds must be non-empty and of equal length")
        if self.components < 1:
            raise ValueError(f"gmm: components must be >= 1, got {self.components}")

    def draw_human(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Draws from the mixture."""
        w = np.asarray(self.weights, dtype=float)
        comp = rng.choice(len(w), size=n, p=w / w.sum())
        return rng.normal(np.asarray(self.means)[comp], np.asarray(self.stds)[comp])

    def new(self, seed: int) -> Learner:
        """A single Gaussian when ``components`` is 1, else a scikit-learn GaussianMixture."""
        if self.components == 1:
            return GaussianLearner(ddof=0, dtype=self.dtype)
        if self.dtype != "float64":
            return LowPrecisionMixture(components=self.components, seed=seed, dtype=self.dtype)
        return MixtureLearner(components=self.components, seed=seed)


@dataclass
class GaussianLearner:
    """Mean and standard deviation of the data, computed in ``dtype`` (float64: plain numpy)."""

    ddof: int = 1
    mu: float = float("nan")
    sigma: float = float("nan")
    dtype: str = "float64"

    def fit(self, data: np.ndarray) -> None:
        """Sample mean and standard deviation."""
        x = np.asarray(data, dtype=np.float64)
        if x.size <= self.ddof:
            raise ValueError(f"a Gaussian needs more than {self.ddof} values, got {x.size}")
        if self.dtype == "float64":
            self.mu, self.sigma = float(x.mean()), float(x.std(ddof=self.ddof))
            return
        mu, sigma = precision.fit_gaussian(x, self.ddof, self.dtype)
        self.mu, self.sigma = float(mu), float(sigma)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Draws from the fitted Gaussian (values of ``dtype``, returned as float64)."""
        if self.dtype == "float64":
            return rng.normal(self.mu, self.sigma, n)
        return precision.normal(self.mu, self.sigma, n, rng, self.dtype).astype(np.float64)

    def std(self) -> float:
        """Standard deviation of the fitted distribution."""
        return self.sigma

    def evaluate(self, human_test: np.ndarray) -> dict[str, float]:
        """Mean Gaussian negative log-likelihood of the test values (inf once sigma is 0)."""
        x = np.asarray(human_test, dtype=np.float64)
        if self.dtype != "float64":
            x = precision.to_dtype(x, self.dtype).astype(np.float64)  # the model reads its input in its format
        if not self.sigma > 0:
            return {"test_ce": math.inf}
        z = (x - self.mu) / self.sigma
        return {"test_ce": float(np.mean(0.5 * z**2 + math.log(self.sigma) + 0.5 * math.log(2 * math.pi)))}


@dataclass
class MixtureLearner:
    """A 1-D Gaussian mixture fitted by EM (scikit-learn)."""

    components: int
    seed: int
    _model: Any = field(default=None, init=False, repr=False)

    def fit(self, data: np.ndarray) -> None:
        """EM from k-means initialisation, seeded."""
        from sklearn.mixture import GaussianMixture

        x = np.asarray(data, dtype=np.float64).reshape(-1, 1)
        if x.shape[0] < self.components:
            raise ValueError(f"a {self.components}-component mixture needs that many values, got {x.shape[0]}")
        self._model = GaussianMixture(self.components, random_state=self.seed % 2**32, reg_covar=1e-9).fit(x)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Draws from the fitted mixture, with the loop's generator (scikit-learn's sample has its own state)."""
        m = self._model
        comp = rng.choice(self.components, size=n, p=m.weights_ / m.weights_.sum())
        return rng.normal(m.means_[comp, 0], np.sqrt(m.covariances_[comp, 0, 0]))

    def std(self) -> float:
        """Standard deviation of the whole fitted mixture."""
        m = self._model
        w, mu, var = m.weights_, m.means_[:, 0], m.covariances_[:, 0, 0]
        mean = float(np.sum(w * mu))
        return float(np.sqrt(np.sum(w * (var + mu**2)) - mean**2))

    def evaluate(self, human_test: np.ndarray) -> dict[str, float]:
        """Mean negative log-likelihood of the test values under the mixture."""
        x = np.asarray(human_test, dtype=np.float64).reshape(-1, 1)
        return {"test_ce": float(-self._model.score(x))}


@dataclass
class LowPrecisionMixture:
    """A 1-D Gaussian mixture fitted by ``em.fit`` with every step in ``dtype``."""

    components: int
    seed: int
    dtype: str
    _fit: em.Mixture | None = field(default=None, init=False, repr=False)

    def fit(self, data: np.ndarray) -> None:
        """EM from a start placed by the seed (one mean per stratum of the sorted data)."""
        x = np.asarray(data, dtype=np.float64)[None, :]  # one row, the layout the vectorised runs use
        self._fit = em.fit(x, self.components, em.init_uniforms(self.seed, self.components)[None, :], self.dtype)

    def params(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Weights, means and variances as float64 arrays of dtype values."""
        assert self._fit is not None, "fit first"
        return tuple(a[0].astype(np.float64) for a in (self._fit.weights, self._fit.means, self._fit.variances))

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """A component per draw (float64 probabilities, as rng.choice needs), then a normal draw in dtype."""
        w, mu, var = self.params()
        comp = rng.choice(self.components, size=n, p=w / w.sum())
        sd = np.sqrt(precision.to_dtype(var, self.dtype))
        return precision.normal(mu[comp], sd[comp], n, rng, self.dtype).astype(np.float64)

    def std(self) -> float:
        """Standard deviation of the whole fitted mixture."""
        return float(em.std(*self.params()))

    def evaluate(self, human_test: np.ndarray) -> dict[str, float]:
        """Mean negative log-likelihood of the test values, read in dtype, under the mixture."""
        x = precision.to_dtype(human_test, self.dtype).astype(np.float64)
        return {"test_ce": em.nll(x, *self.params())}
