"""The LM default threshold's analysis: the cut removes at most 1% of each domain's humans that set it, a held-out
domain is judged by a cut set without it, and the report renders what it computed."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.lm.default import evaluate, render, rounded_up
from detectors.lm.detector import FASTDETECT_THRESHOLD


def _scored(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 1200
    shifted = np.arange(n) % 3 == 0  # one domain whose humans score higher, as news did for the old default
    human = pd.DataFrame({"kind": "human", "source": "s", "domain": np.where(shifted, "news", "wiki"),
                          "language": "en", "article": np.arange(n) // 2,
                          "lm.fastdetect": rng.normal(0, 0.1, n) + np.where(shifted, 0.15, 0.0)})
    machine = pd.DataFrame({"kind": "machine", "source": "m", "domain": "wiki", "language": "en",
                            "article": 10_000 + np.arange(200), "lm.fastdetect": rng.normal(0.5, 0.2, 200)})
    foreign = pd.DataFrame({"kind": "foreign", "source": "f", "domain": "x", "language": "de",
                            "article": 20_000 + np.arange(60), "lm.fastdetect": np.nan})
    return pd.concat([human, machine, foreign], ignore_index=True)


def test_the_cut_removes_at_most_one_percent_of_every_domains_humans_and_held_out_domains_see_a_cut_without_them():
    result = evaluate(_scored())
    assert result["threshold_shipped"] >= result["threshold"] > result["threshold_pooled"]
    assert result["threshold"] == result["threshold_by_domain"]["news"]  # the domain whose humans score higher
    for name in ("worst", "pooled"):
        lo, hi = result["threshold_interval"][name]
        assert lo <= result["threshold" if name == "worst" else "threshold_pooled"] <= hi
    # In sample, every domain loses at most 1% at the new cut; the pooled cut loses more of the shifted domain.
    assert all(g["new"] <= 0.01 for g in result["human_by_group"].values())
    assert result["human_by_group"]["s/news"]["pooled"] > 0.01
    # Set without the high-scoring domain, both rules cut lower and that domain's FPR is well above 1%.
    news = result["held_out_domain"]["news"]
    assert news["strictest_domain"]["threshold"] < result["threshold"] and news["strictest_domain"]["fpr"] > 0.03
    assert result["held_out_domain"]["wiki"]["strictest_domain"]["fpr"] <= 0.01
    assert result["held_out_group"]["s/news"]["fpr"] > 0.03
    assert result["foreign_by_language"]["de"] == {"n": 60, "nan": 1.0, "new": 0.0, "pooled": 0.0, "old": 0.0}
    assert result["machine_by_source"]["m"]["new"] > 0.5
    text = render({"commands": ["cmd"], **result})
    assert f"lm.fastdetect >= {result['threshold_shipped']:.2f}" in text and "s/news" in text


def test_rounding_up_never_lowers_the_cut():
    assert rounded_up(0.3312) == 0.34 and rounded_up(0.34) == 0.34 and rounded_up(-0.051) == -0.05


def test_a_repeated_human_text_counts_once():
    df = _scored().assign(text=lambda d: [f"t{i}" for i in range(len(d))])
    copies = pd.concat([df.iloc[[0]].assign(**{"lm.fastdetect": 9.0, "text": "repeated"})] * 30)
    assert evaluate(pd.concat([df, copies]))["threshold"] == evaluate(pd.concat([df, copies.iloc[:1]]))["threshold"]


def test_the_detectors_default_is_the_committed_result():
    result = json.loads((Path(__file__).parents[3] / "benchmarks/results/lm_default.json").read_text())
    assert FASTDETECT_THRESHOLD == result["threshold_shipped"] == rounded_up(result["threshold"])
    assert result["rule"] == "strictest_domain" and result["threshold"] == max(result["threshold_by_domain"].values())
