"""The transformer learner: pretrained once on the human pool (cached), and a whole run through the loop."""
from __future__ import annotations

import math

import numpy as np
import pytest

from benchmarks.collapse import run_collapse
from benchmarks.collapse.learners.base import build
from benchmarks.collapse.learners.transformer import TransformerFamily
from tests.benchmarks.collapse.fakes import TEST, TINY
from tests.benchmarks.collapse.fakes import cfg as _cfg
from tests.benchmarks.collapse.fakes import tiny_transformer as _family


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
    other = _family(**params | {"pretrain_seed": 1})  # another pretraining: its own file, other weights
    assert len(list(tmp_path.glob("transformer-*.safetensors"))) == 3
    assert not all(np.array_equal(first._pretrained[k].numpy(), other._pretrained[k].numpy())
                   for k in first._pretrained)
    with pytest.raises(ValueError, match="pretrain"):
        build("transformer", TINY | {"pretrain_steps": -1})
    with pytest.raises(ValueError, match="pretrain_seed"):
        build("transformer", TINY | {"pretrain_seed": -1})


@pytest.mark.slow
def test_transformer_learner_trains_samples_and_scores(tmp_path):
    cfg = _cfg(learner="transformer", schedule="fixed", alpha=0.5, arms=("none", "oracle"), generations=1,
               seeds=1, samples=24, test_docs=20,
               learner_params={"vocab_size": 512, "layers": 1, "width": 32, "heads": 2, "block": 64, "epochs": 2,
                               "batch_size": 8, "threads": 1})
    records = run_collapse(cfg, tmp_path)["records"]
    assert [r["generation"] for r in records] == [0, 1, 0, 1]
    assert all(math.isfinite(r["test_ce"]) and 0 < r["test_ce"] < math.log(512) + 1 for r in records)
    assert all(r["distinct_1"] > 0 for r in records)
