"""The collapse benchmark harness: sanity reproductions, arms, summaries, outputs and bad input."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import pytest

from benchmarks.collapse import CollapseConfig, CollapseRule, learners, run_collapse
from benchmarks.collapse.human import NotEnoughHumanData
from benchmarks.collapse.learners import Family
from benchmarks.collapse.summary import collapse_time, delay, oracle_benefit
from filterkit.contract import registry


def _cfg(**fields) -> CollapseConfig:
    """A config for a test: no plot (matplotlib's drawing is most of a small run's time)."""
    return CollapseConfig(plots=False, **fields)


def _by(records: list[dict], arm: str, metric: str) -> np.ndarray:
    """Per generation, the mean of ``metric`` over seeds for one arm."""
    gens = sorted({r["generation"] for r in records if r["arm"] == arm})
    return np.array([np.mean([r[metric] for r in records if r["arm"] == arm and r["generation"] == g])
                     for g in gens])


def _final(records: list[dict], arm: str, metric: str) -> np.ndarray:
    last = max(r["generation"] for r in records if r["arm"] == arm)
    return np.array([r[metric] for r in records if r["arm"] == arm and r["generation"] == last])


# --- sanity reproductions -------------------------------------------------------------------------------------

def test_gaussian_sigma_collapses_under_replace(tmp_path):
    """Shumailov et al., Theorem 3.1: refitting on N own samples per generation drives sigma to zero."""
    cfg = _cfg(learner="gaussian", schedule="replace", arms=("none",), generations=200, seeds=8,
               samples=50, numeric_test_size=2000)
    result = run_collapse(cfg, tmp_path)
    final = _final(result["records"], "none", "sigma_ratio")
    assert np.median(final) < 0.35
    assert all(t < 200 for t in result["summary"]["none"]["collapse_time"])


@pytest.mark.parametrize("schedule", ["fixed", "accumulate"])
def test_gaussian_sigma_stays_with_fresh_or_accumulated_data(tmp_path, schedule):
    """10% fresh human data per generation, or keeping all past data, holds sigma near its start."""
    cfg = _cfg(learner="gaussian", schedule=schedule, arms=("none",), generations=200, seeds=8,
               samples=50, alpha=0.1, crawl_rows=50, numeric_test_size=2000)
    records = run_collapse(cfg, tmp_path)["records"]
    final = _final(records, "none", "sigma_ratio")
    assert 0.6 < np.median(final) < 1.6
    assert min(r["sigma_ratio"] for r in records) > 0.3


def test_ngram_loses_rare_types_under_replace(tmp_path):
    """Each generation of the n-gram model can produce fewer human types and less of the rare tail."""
    cfg = _cfg(learner="ngram", schedule="replace", arms=("none",), generations=3, seeds=2,
               samples=80, test_docs=40)
    records = run_collapse(cfg, tmp_path)["records"]
    for metric in ("human_types_kept", "tail_coverage"):
        curve = _by(records, "none", metric)
        assert np.all(np.diff(curve) < 0), (metric, curve)
    assert _by(records, "none", "tail_coverage")[-1] < 0.6 * _by(records, "none", "tail_coverage")[0]
    test_ce = _by(records, "none", "test_ce")
    assert test_ce[-1] > test_ce[0]


def test_ngram_oracle_keeps_rare_types(tmp_path):
    """With fresh human data in each crawl, dropping exactly the synthetic rows keeps the model's human types
    where they started, while training on the whole crawl loses them."""
    cfg = _cfg(learner="ngram", schedule="fixed", alpha=0.25, arms=("none", "oracle"), generations=2,
               seeds=2, samples=80, test_docs=40)
    records = run_collapse(cfg, tmp_path)["records"]
    oracle, none = _by(records, "oracle", "human_types_kept"), _by(records, "none", "human_types_kept")
    assert np.all(oracle[1:] > 0.85 * oracle[0]), oracle
    assert none[-1] < 0.9 * oracle[-1], (none, oracle)
    assert all(r["synthetic_share"] == 0.0 for r in records if r["arm"] == "oracle")
    assert all(r["filter_tpr"] == 1.0 and r["filter_fpr"] == 0.0
               for r in records if r["arm"] == "oracle" and r["generation"] > 0)


# --- arms that run the real pipeline -----------------------------------------------------------------------------

@dataclass
class ParrotFamily(Family):
    """Test learner: samples are copies of its training documents, so its output holds exact duplicates."""

    kind: ClassVar[str] = "text"

    def new(self, seed: int):
        return _Parrot()


class _Parrot:
    def fit(self, data):
        self.docs = np.asarray(data, dtype=object)

    def sample(self, n, rng):
        return self.docs[rng.integers(0, len(self.docs), n)]

    def evaluate(self, human_test):
        return {"test_ce": 1.0 + 1.0 / len(set(self.docs))}


@dataclass
class SilentFamily(Family):
    """Test learner whose every sample is empty from generation 1 on."""

    kind: ClassVar[str] = "text"

    def new(self, seed: int):
        return _Silent()


class _Silent(_Parrot):
    def sample(self, n, rng):
        return np.array([""] * n, dtype=object) if len(self.docs) < 50 else super().sample(n, rng)


@pytest.fixture
def parrot(monkeypatch):
    monkeypatch.setitem(learners.REGISTRY, "parrot", "tests.benchmarks.collapse.test_collapse:ParrotFamily")
    monkeypatch.setitem(learners.REGISTRY, "silent", "tests.benchmarks.collapse.test_collapse:SilentFamily")


def test_exact_arm_runs_the_pipeline_and_drops_duplicate_copies(tmp_path, parrot):
    cfg = _cfg(learner="parrot", schedule="fixed", alpha=0.5,
               arms=("none", "exact", "random"), generations=1, seeds=1, samples=60, test_docs=10)
    result = run_collapse(cfg, tmp_path)
    rows = [r for r in result["records"] if r["arm"] == "exact" and r["generation"] > 0]
    for r in rows:
        # 60 synthetic copies of 60 training documents repeat some; dedup removes all but one copy of each.
        assert 0.05 < r["filter_tpr"] < 0.9
        assert r["filter_fpr"] == 0.0
    randoms = [r for r in result["records"] if r["arm"] == "random" and r["generation"] > 0]
    assert [r["retain_rate"] for r in randoms] == pytest.approx([r["retain_rate"] for r in rows], abs=0.01)
    assert all(r["filter_tpr"] == 0.0 for r in result["records"] if r["arm"] == "none" and r["generation"] > 0)


def test_weight_arm_resamples_by_score_column(tmp_path, parrot):
    cfg = _cfg(learner="parrot", schedule="fixed", alpha=0.5, arms=("none", "weight"), generations=1,
               seeds=1, samples=60, test_docs=10, weight_column="exact.is_duplicate", weight_power=1.0)
    records = run_collapse(cfg, tmp_path)["records"]
    weight = next(r for r in records if r["arm"] == "weight" and r["generation"] == 1)
    none = next(r for r in records if r["arm"] == "none" and r["generation"] == 1)
    assert weight["train_size"] == none["train_size"]  # resampled back to the crawl's size
    assert weight["synthetic_share"] < none["synthetic_share"]


@pytest.mark.skipif("replay" not in registry.available(), reason="replay detector not registered")
def test_replay_arm_catches_the_models_own_output(tmp_path, parrot):
    cfg = _cfg(learner="parrot", schedule="fixed", alpha=0.5, arms=("none", "replay"),
               generations=1, seeds=1, samples=40, test_docs=10)
    result = run_collapse(cfg, tmp_path)
    rows = [r for r in result["records"] if r["arm"] == "replay" and r["generation"] > 0]
    assert rows and all(r["filter_tpr"] == 1.0 and r["filter_fpr"] == 0.0 for r in rows)


def test_unavailable_arm_is_skipped_with_its_reason(tmp_path):
    cfg = _cfg(learner="ngram", schedule="replace", arms=("none", "weight"), generations=1, seeds=1,
               samples=30, test_docs=10, weight_column="nosuchdetector.p_machine")
    run_collapse(cfg, tmp_path)
    run = json.loads((tmp_path / "run.json").read_text())
    assert "weight" in run["skipped"] and "nosuchdetector" in run["skipped"]["weight"]
    assert "weight" in (tmp_path / "results.md").read_text()


# --- collapse time, delay, benefit --------------------------------------------------------------------------------

def _rec(g, **m):
    return {"arm": "a", "seed": 0, "generation": g, **m}


def test_collapse_time_first_rule_to_fire_and_censoring():
    rules = (CollapseRule("test_ce", ">=", 1.10), CollapseRule("sigma_ratio", "<", 0.5, relative=False))
    rows = [_rec(0, test_ce=2.0, sigma_ratio=1.0), _rec(1, test_ce=2.1, sigma_ratio=0.9),
            _rec(2, test_ce=2.3, sigma_ratio=0.8), _rec(3, test_ce=2.0, sigma_ratio=0.1)]
    assert collapse_time(rows, rules, 3)[:2] == (2, False)
    assert collapse_time(rows[:2], rules, 3) == (3, True, "censored")
    crashed = rows[:2] + [_rec(2, test_ce=None, collapsed=1, collapse_reason="every sample was empty")]
    assert collapse_time(crashed, rules, 3) == (2, False, "every sample was empty")


def test_delay_and_bootstrap_interval():
    d = delay([5, 6, 7, 8], [2, 2, 3, 3], n_boot=500)
    assert d["median"] == 4.0
    assert 0 < d["ci_low"] <= d["median"] <= d["ci_high"]
    same = delay([3, 3, 3], [3, 3, 3], n_boot=100)
    assert same == {"median": 0.0, "ci_low": 0.0, "ci_high": 0.0}


def test_oracle_benefit_is_one_for_the_oracle_and_zero_for_no_filter():
    recs = []
    for arm, slope in (("none", 1.0), ("oracle", 0.0), ("half", 0.5)):
        recs += [{"arm": arm, "seed": 0, "generation": g, "test_ce": 5.0 + slope * g} for g in range(5)]
    assert oracle_benefit(recs, "oracle", "test_ce", 4, 1)[0] == pytest.approx(1.0)
    assert oracle_benefit(recs, "none", "test_ce", 4, 1)[0] == pytest.approx(0.0)
    assert oracle_benefit(recs, "half", "test_ce", 4, 1)[0] == pytest.approx(0.5)


def test_results_json_has_the_issue_shape(tmp_path):
    cfg = CollapseConfig(learner="gmm", schedule="replace", arms=("none", "oracle", "random"), generations=3,
                         seeds=2, samples=40, numeric_test_size=2000)
    result = run_collapse(cfg, tmp_path, command="filterkit bench collapse --learner gmm")
    on_disk = json.loads((tmp_path / "results.json").read_text())
    assert set(on_disk) == {"records", "summary"}
    assert set(on_disk["summary"]) == {"none", "oracle", "random"}
    for arm in on_disk["summary"].values():
        assert {"collapse_time", "delay", "oracle_benefit", "survival"} <= set(arm)
        assert set(arm["delay"]) == {"median", "ci_low", "ci_high"}
        assert len(arm["collapse_time"]) == 2
    first = on_disk["records"][0]
    assert {"arm", "seed", "generation", "test_ce", "sigma_ratio", "w2"} <= set(first)
    assert len(result["records"]) == len(on_disk["records"])
    # Under replace the oracle drops every row: recorded as a collapse, never a silent zero.
    oracle = [r for r in on_disk["records"] if r["arm"] == "oracle" and r["generation"] == 1]
    assert all(r["collapsed"] == 1 and r["train_size"] == 0 and r.get("test_ce") is None for r in oracle)
    md = (tmp_path / "results.md").read_text()
    assert md.startswith("`filterkit bench collapse --learner gmm`")
    assert (tmp_path / "results.png").stat().st_size > 1000
    assert not (tmp_path / "_work").exists()


def test_runs_repeat_exactly(tmp_path):
    cfg = _cfg(learner="gmm", schedule="fixed", arms=("none", "random", "oracle"), generations=3, seeds=2,
               samples=30, learner_params={"components": 1})
    a = run_collapse(cfg, tmp_path / "a")["records"]
    b = run_collapse(cfg, tmp_path / "b")["records"]
    assert a == b


# --- bad input ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("field,value,listed", [
    ("learner", "lstm", "gaussian, gmm, hf, ngram, transformer"),
    ("schedule", "sometimes", "replace, fixed, accumulate, subsample"),
])
def test_unknown_learner_or_schedule_lists_valid_names(field, value, listed):
    with pytest.raises(ValueError, match=listed):
        CollapseConfig(**{field: value})


def test_unknown_arm_lists_valid_arms(tmp_path):
    with pytest.raises(ValueError, match=r"unknown arm 'magic'; valid arms: none, oracle, random, filter"):
        run_collapse(_cfg(learner="gaussian", arms=("none", "magic"), generations=1, seeds=1), tmp_path)


def test_text_arm_with_numeric_learner_is_refused(tmp_path):
    with pytest.raises(ValueError, match="numeric learner"):
        run_collapse(_cfg(learner="gaussian", arms=("none", "exact"), generations=1, seeds=1), tmp_path)


def test_unknown_config_key_and_learner_param_are_refused(tmp_path):
    with pytest.raises(ValueError, match="unknown collapse config keys"):
        CollapseConfig.from_dict({"learnr": "ngram"})
    with pytest.raises(ValueError, match="unknown parameters"):
        run_collapse(_cfg(learner="gaussian", learner_params={"sigma": 2}, generations=1, seeds=1),
                     tmp_path)


def test_too_little_human_data_is_a_clear_error(tmp_path):
    cfg = _cfg(learner="ngram", schedule="fixed", alpha=0.5, arms=("none",), generations=10, seeds=1,
               samples=2000)
    with pytest.raises(NotEnoughHumanData, match="the human training pool holds"):
        run_collapse(cfg, tmp_path)


def test_empty_samples_are_recorded_as_collapse(tmp_path, parrot):
    cfg = _cfg(learner="silent", schedule="replace", arms=("none",), generations=3, seeds=1, samples=30,
               test_docs=10)
    result = run_collapse(cfg, tmp_path)
    records = result["records"]
    assert records[0]["collapsed"] == 1 and records[0]["collapse_reason"] == "every sample was empty"
    assert len(records) == 1
    assert result["summary"]["none"]["collapse_time"] == [0]
    assert math.isnan(records[0]["tail_coverage"])


# --- command line ------------------------------------------------------------------------------------------------

def test_cli_runs_and_writes_every_output(tmp_path):
    from typer.testing import CliRunner

    from cli import app

    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["bench", "collapse", "--learner", "gmm", "--schedule", "fixed", "--arms",
                                      "none,oracle,random", "--generations", "2", "--seeds", "2", "--samples", "30",
                                      "--crawl-rows", "30", "--learner-param", "components=1", "-o", str(out)])
    assert result.exit_code == 0, result.output
    for name in ("results.json", "results.md", "results.png", "run.json"):
        assert (out / name).is_file()
    run = json.loads((out / "run.json").read_text())
    assert run["config"]["learner_params"] == {"components": 1}
    assert (out / "results.md").read_text().startswith("`filterkit bench collapse")


def test_cli_unknown_learner_is_a_clear_error(tmp_path):
    from typer.testing import CliRunner

    from cli import app

    result = CliRunner().invoke(app, ["bench", "collapse", "--learner", "lstm", "-o", str(tmp_path)])
    assert result.exit_code == 2
    assert "unknown learner 'lstm'" in result.output and "ngram" in result.output


# --- torch learners (slow: they import torch and transformers and train) ------------------------------------------

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


def _tiny_checkpoint(path, corpus):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=300, special_tokens=["<|endoftext|>"],
                                                        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|endoftext|>", eos_token="<|endoftext|>",
                                   pad_token="<|endoftext|>")
    eos = tok.token_to_id("<|endoftext|>")
    model = GPT2LMHeadModel(GPT2Config(vocab_size=tok.get_vocab_size(), n_positions=64, n_embd=32, n_layer=1,
                                       n_head=2, bos_token_id=eos, eos_token_id=eos))
    model.save_pretrained(path)
    fast.save_pretrained(path)
    return path


@pytest.mark.slow
def test_hf_learner_fine_tunes_a_local_checkpoint(tmp_path, shared_data):
    import pyarrow.parquet as pq

    corpus = pq.read_table(shared_data / "human" / "news_wiki_stories.parquet")["text"].to_pylist()[:200]
    ckpt = _tiny_checkpoint(tmp_path / "ckpt", corpus)
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


def test_accumulate_keeps_old_rows_and_dedups_new_copies_of_them(tmp_path, parrot):
    cfg = _cfg(learner="parrot", schedule="accumulate", arms=("none", "exact"),
               generations=1, seeds=1, samples=40, test_docs=10)
    records = run_collapse(cfg, tmp_path)["records"]
    none = [r for r in records if r["arm"] == "none"]
    exact = [r for r in records if r["arm"] == "exact" and r["generation"] > 0]
    assert [r["train_size"] for r in none] == [40, 80]
    # Every new synthetic row copies a kept row, so exact dedup (seeing the old rows too) drops all of them.
    assert all(r["filter_tpr"] == 1.0 and r["train_size"] == 40 for r in exact)


def test_subsample_trains_on_a_fixed_budget(tmp_path):
    cfg = _cfg(learner="gaussian", schedule="subsample", arms=("none",), generations=4, seeds=1,
               samples=30, budget=20, numeric_test_size=500)
    records = run_collapse(cfg, tmp_path)["records"]
    assert [r["train_size"] for r in records] == [30, 20, 20, 20, 20]
    assert 0.2 <= records[1]["synthetic_share"] <= 0.8  # 30 human and 30 synthetic rows, subsampled to 20


def test_combined_filter_leaves_out_unusable_detectors_and_says_why(tmp_path, parrot, monkeypatch):
    cheap = {k: v for k, v in registry.available().items() if k in ("exact", "length", "lm")}
    if set(cheap) != {"exact", "length", "lm"}:
        pytest.skip("needs the exact, length and lm detectors registered")
    monkeypatch.setattr(registry, "available", lambda: cheap)  # keep `filter` to three cheap-to-build detectors
    cfg = _cfg(learner="parrot", schedule="fixed", alpha=0.5, arms=("none", "filter"), generations=1, seeds=1,
               samples=30, test_docs=10, detector_params={"lm": {"model": str(tmp_path / "no-model")}})
    result = run_collapse(cfg, tmp_path / "out")
    left_out = json.loads((tmp_path / "out" / "run.json").read_text())["detectors_left_out"]["filter"]
    assert "does not exist" in left_out["lm"]
    assert "no default rules" in left_out["length"]
    assert "exact" not in left_out and "filter" in result["summary"]
    assert "filter (detector lm)" in (tmp_path / "out" / "results.md").read_text()


def test_bad_parameters_for_a_named_detector_arm_are_an_error(tmp_path, parrot):
    if "lm" not in registry.available():
        pytest.skip("lm detector not registered")
    cfg = _cfg(learner="parrot", schedule="fixed", alpha=0.5, arms=("none", "lm"), generations=1, seeds=1,
               samples=20, test_docs=5, detector_params={"lm": {"model": str(tmp_path / "no-model")}})
    with pytest.raises(ValueError, match="does not exist"):
        run_collapse(cfg, tmp_path / "out")
