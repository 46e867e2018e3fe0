"""The torch causal-LM learners: decoding modes, tail (frequency-band) metrics, training schedules, warm starts and
precision. Tiny models, one torch thread."""
from __future__ import annotations

import inspect
import math
import warnings
from dataclasses import replace

import numpy as np
import pytest

from benchmarks.collapse.learners.base import build
from benchmarks.collapse.learners.causal_lm import Decoding, _cosine, cache_keyword
from tests.benchmarks.collapse.fakes import TEST, TRAIN
from tests.benchmarks.collapse.fakes import tiny_transformer as _family


@pytest.fixture(scope="module")
def fitted():
    """One trained learner per decoding mode, sharing the weights of a single fit."""
    base = _family().new(7)
    base.fit(TRAIN)
    out = {}
    for mode in ("sample", "prefix", "beam"):
        learner = replace(base, decoding=Decoding(mode, prefix_tokens=4, num_beams=3))
        learner._model, learner._codec = base._model, base._codec
        out[mode] = learner
    return out


@pytest.mark.parametrize("mode", ["sample", "prefix", "beam"])
def test_each_decoding_returns_n_documents_deterministically(fitted, mode):
    learner = fitted[mode]
    a = learner.sample(6, np.random.default_rng(3))
    b = learner.sample(6, np.random.default_rng(3))
    assert len(a) == 6 and all(isinstance(s, str) and s for s in a)
    assert list(a) == list(b)


def test_sampling_passes_the_cache_under_the_name_the_installed_transformers_takes(fitted):
    # transformers 5.x warns on the old ``past_key_values`` name and drops it in 5.40; the range we allow spans both.
    learner = fitted["sample"]
    assert cache_keyword(learner._model) in inspect.signature(learner._model.forward).parameters
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        learner.sample(2, np.random.default_rng(0))


def test_prefix_documents_start_with_a_human_prompt(fitted):
    learner = fitted["prefix"]
    codec = learner._codec
    prompts = {t.strip() for t in codec.decode([ids[:4] for ids in codec.encode(list(TRAIN))])}
    out = learner.sample(8, np.random.default_rng(5))
    assert all(any(s.startswith(p) for p in prompts) for s in out)


def test_beam_documents_differ_across_prompts(fitted):
    out = fitted["beam"].sample(8, np.random.default_rng(5))
    assert len(set(out)) > 4


def test_prompted_decoding_without_the_human_pool_is_refused(fitted):
    learner = fitted["prefix"]
    pool, learner.pool = learner.pool, None
    try:
        with pytest.raises(RuntimeError, match="human pool"):
            learner.sample(2, np.random.default_rng(0))
    finally:
        learner.pool = pool


def test_band_metrics_are_finite_and_ordered(fitted):
    metrics = fitted["sample"].evaluate(TEST)
    bands = [metrics[f"nll_{b}"] for b in ("head", "torso", "tail")]
    shares = [metrics[f"band_share_{b}"] for b in ("head", "torso", "tail")]
    assert all(math.isfinite(v) and v > 0 for v in bands)
    assert sum(shares) == pytest.approx(1.0)
    # test_ce is the share-weighted mix of the bands, and frequent tokens are the ones a trained model predicts best
    assert sum(s * v for s, v in zip(shares, bands, strict=True)) == pytest.approx(metrics["test_ce"], rel=1e-4)
    assert metrics["nll_head"] < metrics["nll_tail"]


def test_init_from_copies_weights_only_with_warm_start(fitted):
    import torch

    previous = fitted["sample"]
    cold = _family().new(11)
    assert cold.init_from(previous) is False and cold._model is None
    warm = _family(warm_start=True, steps=2).new(11)
    assert warm.init_from(previous) is True
    pairs = list(zip(warm._model.parameters(), previous._model.parameters(), strict=True))
    assert all(torch.equal(a, b) for a, b in pairs)
    warm.fit(TRAIN[:8])
    assert not all(torch.equal(a, b) for a, b in pairs)  # trained on from the copy, without touching the original


def test_cosine_schedule_warms_up_then_decays_to_zero():
    f = _cosine(100, 0.1)
    assert f(0) == pytest.approx(0.1) and f(9) == pytest.approx(1.0)
    assert f(10) == pytest.approx(1.0) and 0 < f(55) < 1 and f(100) == pytest.approx(0.0)
    learner = _family(steps=3, schedule="cosine").new(1)
    learner.fit(TRAIN[:10])
    assert math.isfinite(learner.evaluate(TEST[:4])["test_ce"])


@pytest.mark.parametrize("precision", ["autocast", "weights"])
def test_bfloat16_trains_samples_and_scores_in_that_precision(precision, tmp_path):
    import torch

    full = _family(steps=20).new(5)
    full.fit(TRAIN)
    low = _family(steps=20, dtype="bfloat16", precision=precision).new(5)
    low.fit(TRAIN)
    stored = {p.dtype for p in low._model.parameters()}
    assert stored == ({torch.bfloat16} if precision == "weights" else {torch.float32})
    a, b = full.evaluate(TEST)["test_ce"], low.evaluate(TEST)["test_ce"]
    assert math.isfinite(b) and a != b and abs(a - b) < 0.5  # the same run, rounded differently
    assert len(low.sample(4, np.random.default_rng(0))) == 4
    low.save_state(tmp_path)  # a checkpoint restores the low-precision model exactly
    back = _family(steps=20, dtype="bfloat16", precision=precision).new(5)
    back.load_state(tmp_path)
    assert back.evaluate(TEST)["test_ce"] == b


@pytest.mark.parametrize("params", [{"decoding": "greedy"}, {"schedule": "linear"}, {"top_p": 0.0},
                                    {"num_beams": 0}, {"dtype": "float8"}, {"precision": "half"}])
def test_bad_lm_parameters_are_refused(params):
    with pytest.raises(ValueError):
        build("transformer", params)
