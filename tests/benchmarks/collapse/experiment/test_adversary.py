"""The replay adversary: which earlier outputs it re-injects, and which filters catch them (the replay index with a
window, TPR on own and replayed rows apart)."""
from __future__ import annotations

import numpy as np
import pytest

from benchmarks.collapse import CollapseConfig, run_collapse
from benchmarks.collapse.data.foreign import draw
from benchmarks.collapse.experiment.adversary import HumanUnigram, pick
from filterkit.contract import registry

HISTORY = [f"gen0 doc {i}" for i in range(4)] + [f"gen1 the cat sat {i}" for i in range(4)] + \
          [f"gen2 latest {i}" for i in range(4)]


def test_oldest_replays_generation_zero_and_random_matches_the_plain_draw():
    rng = np.random.default_rng(0)
    assert set(pick(HISTORY, 4, 3, "oldest", rng)) <= set(HISTORY[:4])
    older = np.array(HISTORY[:8], dtype=object)
    a = pick(HISTORY, 4, 5, "random", np.random.default_rng(1))
    assert list(a) == list(draw(older, 5, np.random.default_rng(1)))  # the behaviour runs had before the adversary
    assert not set(a) & set(HISTORY[8:])  # never the latest model's own samples


def test_humanlike_replays_the_most_human_scoring_documents_once_each():
    human = HumanUnigram().fit(np.array(["the cat sat on the mat", "the cat sat down"], dtype=object))
    history = ["zzz qqq", "the cat sat", "the cat sat", "qqq the", "latest"]
    got = pick(history, 1, 2, "humanlike", np.random.default_rng(0), human)
    assert list(got) == ["the cat sat", "qqq the"]
    with pytest.raises(ValueError, match="unigram"):
        pick(history, 1, 2, "humanlike", np.random.default_rng(0))


@pytest.mark.skipif("replay" not in registry.available(), reason="replay detector not registered")
def test_a_replay_index_of_the_latest_model_only_misses_replayed_old_outputs(tmp_path):
    base = {"learner": "ngram", "schedule": "fixed", "alpha": 0.5, "arms": ("none", "replay"), "generations": 3,
            "seeds": 1, "samples": 40, "doc_words": 20, "test_docs": 10, "foreign_share": 0.5,
            "foreign_source": "older", "replay_pick": "oldest", "plots": False, "checkpoint": False}
    rows = {}
    for window in (0, 1):
        records = run_collapse(CollapseConfig(replay_window=window, **base), tmp_path / f"w{window}")["records"]
        rows[window] = [r for r in records if r["arm"] == "replay" and r["generation"] >= 2]
    assert rows[0] and all(r["filter_tpr_foreign"] == 1.0 for r in rows[0])  # the whole log holds them
    assert all(r["filter_tpr_own"] >= 0.9 for r in rows[1])  # the latest model's samples are in its index
    assert all(r["filter_tpr_foreign"] <= 0.2 for r in rows[1])  # generation 0's are not
    assert all(r["crawl_foreign_rows"] == 20 for r in rows[1])  # half of the 40 synthetic rows of a crawl of 80
