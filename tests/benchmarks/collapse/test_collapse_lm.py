"""The collapse benchmark's language-model learners: decoding modes, tail (frequency-band) metrics, the n-gram's
OOV split, training schedules and warm starts. Tiny models, one torch thread."""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from benchmarks.collapse import learners
from benchmarks.collapse.causal_lm import Decoding, _cosine
from benchmarks.collapse.ngram import NGramFamily
from benchmarks.collapse.transformer import TransformerFamily

TINY = {"vocab_size": 300, "layers": 1, "width": 32, "heads": 2, "block": 32, "batch_size": 8, "threads": 1,
        "steps": 120, "lr": 3e-3}


def _corpus(n: int, seed: int) -> np.ndarray:
    """Short documents of Zipf-distributed made-up words: a frequent head and a rare tail."""
    rng = np.random.default_rng(seed)
    syl = [c + v for c in "bdkmrst" for v in "aeiou"]
    vocab = [syl[i % 35] + syl[(i * 7 + 3) % 35] + ("" if i < 35 else syl[i // 35]) for i in range(150)]
    p = 1.0 / np.arange(1, len(vocab) + 1)
    return np.array([" ".join(rng.choice(vocab, size=int(rng.integers(6, 14)), p=p / p.sum()))
                     for _ in range(n)], dtype=object)


TRAIN, TEST = _corpus(60, 0), _corpus(20, 1)


def _family(**params) -> TransformerFamily:
    family = learners.build("transformer", TINY | params)
    family.prepare(TRAIN)
    return family


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
    assert sum(s * v for s, v in zip(shares, bands)) == pytest.approx(metrics["test_ce"], rel=1e-4)
    assert metrics["nll_head"] < metrics["nll_tail"]


def test_init_from_copies_weights_only_with_warm_start(fitted):
    import torch

    previous = fitted["sample"]
    cold = _family().new(11)
    assert cold.init_from(previous) is False and cold._model is None
    warm = _family(warm_start=True, steps=2).new(11)
    assert warm.init_from(previous) is True
    pairs = list(zip(warm._model.parameters(), previous._model.parameters()))
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
        learners.build("transformer", params)


def test_ngram_splits_oov_and_bands():
    family = NGramFamily()
    family.prepare(TRAIN)
    model = family.new(0)
    model.fit(TRAIN[:15])  # a small training set leaves many test words out of its vocabulary
    m = model.evaluate(TEST)
    assert 0 < m["oov_rate"] < 1 and m["test_oov"] == m["oov_rate"]
    mix = (1 - m["oov_rate"]) * m["test_ce_in_vocab"] + m["oov_rate"] * m["test_ce_oov"]
    assert mix == pytest.approx(m["test_ce"])
    assert m["test_ce_in_vocab"] < m["test_ce"] < m["test_ce_oov"]
    assert sum(m[f"band_share_{b}"] for b in ("head", "torso", "tail")) == pytest.approx(1.0)
    assert all(math.isfinite(m[f"nll_{b}"]) for b in ("head", "torso", "tail"))
    assert m["nll_head"] < m["nll_tail"]


def _start(family: TransformerFamily) -> float:
    """Held-out cross-entropy of the model a new learner starts from, before any fit."""
    learner = family.new(3)
    learner._model, learner._codec = learner._load()
    learner._model.eval()
    return learner.evaluate(TEST)["test_ce"]


def test_pretraining_is_cached_and_every_learner_starts_from_it(tmp_path):
    params = {"pretrain_steps": 60, "pretrain_cache": str(tmp_path)}
    first = _family(**params)
    files = list(tmp_path.glob("transformer-*.safetensors"))
    assert len(files) == 1
    stamp = files[0].stat().st_mtime_ns
    again = _family(**params)  # the same settings and pool: loaded, not retrained
    assert files[0].stat().st_mtime_ns == stamp
    assert all(np.array_equal(first._pretrained[k].numpy(), again._pretrained[k].numpy()) for k in first._pretrained)
    assert _start(first) == _start(again) < _start(_family()) - 0.5  # far better than a random initialisation
    _family(**params | {"pretrain_steps": 30})
    assert len(list(tmp_path.glob("transformer-*.safetensors"))) == 2
    with pytest.raises(ValueError, match="pretrain"):
        learners.build("transformer", TINY | {"pretrain_steps": -1})
