"""The pretrained (``hf``) learner: fine-tuned from a local checkpoint, and a clear error without one."""
from __future__ import annotations

import math

import pytest

from benchmarks.collapse import run_collapse
from tests.benchmarks.collapse.fakes import cfg as _cfg
from tests.benchmarks.collapse.fakes import tiny_checkpoint


@pytest.mark.slow
def test_hf_learner_fine_tunes_a_local_checkpoint(tmp_path, shared_data):
    import pyarrow.parquet as pq

    corpus = pq.read_table(shared_data / "human" / "news_wiki_stories.parquet")["text"].to_pylist()[:200]
    ckpt = tiny_checkpoint(tmp_path / "ckpt", corpus)
    cfg = _cfg(learner="hf", schedule="replace", arms=("none",), generations=1, seeds=1, samples=8,
               test_docs=8, learner_params={"model": str(ckpt), "block": 48, "epochs": 1, "batch_size": 4,
                                           "threads": 1})
    records = run_collapse(cfg, tmp_path / "out")["records"]
    assert len(records) == 2 and all(math.isfinite(r["test_ce"]) for r in records)


def test_hf_learner_with_a_missing_model_fails_clearly(tmp_path):
    cfg = _cfg(learner="hf", arms=("none",), generations=1, seeds=1, samples=4, test_docs=4,
               learner_params={"model": str(tmp_path / "nowhere")})
    with pytest.raises(ValueError, match="does not exist"):
        run_collapse(cfg, tmp_path / "out")
