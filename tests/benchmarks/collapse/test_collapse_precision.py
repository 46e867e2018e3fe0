"""Floating-point precision in the collapse benchmark: low-precision arithmetic really rounds, float64 learners
are unchanged, EM works in low precision, the replay of the harness is exact, and the experiment runs."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from benchmarks.collapse import CollapseConfig, em, learners, precision, run_collapse
from benchmarks.collapse.fp_error import (
    FPConfig,
    gaussian_lineages,
    gmm_lineages,
    run,
    two_sample,
)

RESULTS = Path(__file__).resolve().parents[3] / "benchmarks" / "results"
LOW = ("float32", "bfloat16", "float16")


# --- the arithmetic rounds -----------------------------------------------------------------------------------

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


def test_low_precision_results_are_representable():
    rng = np.random.default_rng(0)
    for name in ("bfloat16", "float16"):
        x = precision.normal(10.0, 1.0, (5, 200), rng, name)
        mu, sigma = precision.fit_gaussian(x, 1, name)
        assert x.dtype == mu.dtype == sigma.dtype == precision.resolve(name)
        learner = learners.GaussianFamily(mean=10.0, dtype=name).new(0)
        learner.fit(rng.normal(10, 1, 100))
        draws = learner.sample(300, rng)
        assert draws.dtype == np.float64
        assert precision.representable(draws, name) and precision.representable(np.array([learner.mu]), name)
        assert not precision.representable(rng.normal(10, 1, 100), name)


def test_bfloat16_quantises_a_narrow_gaussian_to_a_point():
    """Near 1000 bfloat16 values are 4 apart: N(1000, 0.1^2) draws all round to 1000; over 128 of them (a power
    of two, every partial 1000) the sd is exactly 0 and the model is degenerate."""
    draws = precision.normal(1000.0, 0.1, 500, np.random.default_rng(1), "bfloat16")
    assert set(draws.astype(float)) == {1000.0}
    learner = learners.GaussianLearner(dtype="bfloat16")
    learner.fit(np.random.default_rng(2).normal(1000, 0.1, 128))
    assert learner.sigma == 0.0 and learner.mu == 1000.0
    assert learner.evaluate(np.array([1000.0, 1001.0]))["test_ce"] == np.inf


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


# --- float64 is today's code ---------------------------------------------------------------------------------

def test_float64_gaussian_learner_is_plain_numpy():
    data = np.random.default_rng(4).normal(3, 2, 57)
    learner = learners.build("gaussian", {"dtype": "float64"}).new(0)
    learner.fit(data)
    assert (learner.mu, learner.sigma) == (float(data.mean()), float(data.std(ddof=1)))
    assert np.array_equal(learner.sample(40, np.random.default_rng(9)),
                          np.random.default_rng(9).normal(data.mean(), data.std(ddof=1), 40))


def test_float64_mixture_learner_is_scikit_learn():
    from sklearn.mixture import GaussianMixture

    family = learners.MixtureFamily()
    assert family.dtype == "float64" and isinstance(family.new(5), learners.MixtureLearner)
    data = family.draw_human(200, np.random.default_rng(5))
    learner = family.new(5)
    learner.fit(data)
    ref = GaussianMixture(2, random_state=5, reg_covar=1e-9).fit(data.reshape(-1, 1))
    assert np.array_equal(learner._model.means_, ref.means_)


@pytest.mark.parametrize("name, generations", [("collapse_gaussian_replace", 25), ("collapse_gmm_replace", 6)])
def test_float64_reproduces_committed_results(name, generations, tmp_path):
    """The committed runs, replayed with dtype float64 spelled out, give the same numbers bit for bit."""
    committed = json.loads((RESULTS / name / "results.json").read_text())["records"]
    cmd = json.loads((RESULTS / name / "run.json").read_text())["config"]
    cfg = CollapseConfig(learner=cmd["learner"], schedule="replace", arms=("none",), generations=generations,
                         seeds=1, samples=cmd["samples"], learner_params={"dtype": "float64"}, checkpoint=False,
                         plots=False, bootstrap=10)
    records = run_collapse(cfg, tmp_path)["records"]
    want = [r for r in committed if r["seed"] == 0 and r["generation"] <= generations]
    got = np.array([(r["sigma"], r["test_ce"]) for r in records])
    ref = np.array([(r["sigma"], r["test_ce"]) for r in want])
    if name == "collapse_gaussian_replace":
        assert np.array_equal(got, ref)
    else:
        # The committed gmm numbers differ from today's scikit-learn/numpy stack in the last bit or two (EM
        # inside scikit-learn); the float64 path is the unchanged MixtureLearner, so only that drift is allowed.
        np.testing.assert_allclose(got, ref, rtol=1e-13)


def test_bad_dtype_names_the_valid_ones():
    for build in (lambda: learners.build("gaussian", {"dtype": "float8"}),
                  lambda: learners.MixtureFamily(dtype="half"), lambda: precision.resolve("fp16")):
        with pytest.raises(ValueError, match="valid dtypes: float64, float32, bfloat16, float16"):
            build()
    with pytest.raises(ValueError, match="unknown dtype"):
        FPConfig(dtypes=("float64", "int8"))


# --- EM ------------------------------------------------------------------------------------------------------

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
    assert precision.representable(together.means.astype(np.float64), "bfloat16")


# --- the replay is the harness -------------------------------------------------------------------------------

def _harness(learner: str, params: dict, generations: int, out: Path) -> list[dict]:
    """Seed 0 of the real harness, replace schedule, N = 100."""
    cfg = CollapseConfig(learner=learner, schedule="replace", arms=("none",), generations=generations, seeds=1,
                         samples=100, learner_params=params, checkpoint=False, plots=False, numeric_test_size=100,
                         bootstrap=10)
    return run_collapse(cfg, out)["records"]


@pytest.mark.parametrize("name", ["float64", *LOW])
def test_gaussian_replay_is_the_learners_trajectory(name, tmp_path):
    mean, g = 100.0, 40
    records = _harness("gaussian", {"mean": mean, "dtype": name}, g, tmp_path)
    lin = gaussian_lineages([mean], [name], [0], 100, g)[(mean, name)]
    sigma = np.array([r["sigma"] for r in records])
    t = int(lin.times[0])
    assert np.array_equal(lin.sigma[0, :t + 1], sigma[:t + 1])
    ratio = sigma / sigma[0]
    first = next((i for i in range(1, g + 1) if ratio[i] < 0.5), g)
    assert t == first and bool(lin.events[0]) == bool(np.any(ratio[1:] < 0.5))


def test_gmm_replay_is_the_learners_trajectory(tmp_path):
    offset, g = 100.0, 8
    records = _harness("gmm", {"means": [98.0, 101.5], "dtype": "bfloat16"}, g, tmp_path)
    lin = gmm_lineages(offset, ["bfloat16"], [0], 100, g)["bfloat16"]
    t = int(lin.times[0])
    assert np.array_equal(lin.sigma[0, :t + 1], [r["sigma"] for r in records][:t + 1])


# --- statistics and the experiment ---------------------------------------------------------------------------

def test_two_sample_rejects_a_clear_difference_and_not_identical_samples():
    rng = np.random.default_rng(8)
    early = np.minimum(rng.exponential(20, 300).round() + 1, 200)
    late = np.minimum(rng.exponential(60, 300).round() + 1, 200)
    e_early, e_late = early < 200, late < 200
    diff = two_sample(early, e_early, late, e_late)
    assert diff["logrank_p"] < 1e-6 and diff["mannwhitney_p"] < 1e-6
    same = two_sample(early, e_early, early.copy(), e_early.copy())
    assert same["logrank_p"] == 1.0 and same["mannwhitney_p"] == 1.0
    other = np.minimum(rng.exponential(20, 300).round() + 1, 200)  # same law, fresh draws
    assert two_sample(early, e_early, other, other < 200)["logrank_p"] > 0.01


def test_fp_error_runs_end_to_end(tmp_path):
    cfg = FPConfig(sizes=(50, 200), means=(0.0, 100.0), rounding_seeds=4, seeds=12, generations=15, samples=30,
                   collapse_means=(0.0, 100.0), gmm_seeds=3, gmm_generations=3, gmm_offsets=(0.0,), bootstrap=20)
    results = run(cfg, tmp_path, command="python -m benchmarks.collapse.fp_error -o x")
    for f in ("results.json", "results.md", "rounding.png", "km_gaussian.png", "km_gmm.png"):
        assert (tmp_path / f).stat().st_size > 0
    md = (tmp_path / "results.md").read_text()
    assert md.splitlines()[0] == "`python -m benchmarks.collapse.fp_error -o x`"
    saved = json.loads((tmp_path / "results.json").read_text())
    assert set(saved["gaussian"]) == {"0.0", "100.0"} and set(saved["gaussian"]["0.0"]) == set(precision.DTYPES)
    assert saved["gaussian"]["0.0"]["float64"]["logrank_p"] == 1.0
    assert len(saved["rounding"]) == 2 * 2 * 4 and results["seconds"]["total"] > 0
