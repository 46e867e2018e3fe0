"""Markovian generation chains: cycle detection, start texts, and a tiny causal LM run end to end through
``python -m benchmarks.chains``, rerun, resumed and checked byte for byte."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from benchmarks.chains import ChainsConfig, load, run_chains
from benchmarks.chains.__main__ import main
from benchmarks.chains.generate import Rephraser, advance
from benchmarks.chains.measures import SIMILARITY, chain_measures, cycle, jaccard
from benchmarks.chains.starts import opening_span
from benchmarks.chains.state import ResumeError

CORPUS = ["The council approved the new library after a long campaign by residents.",
          "Rephrase the following text in your own words. Reply with the rephrased text only.",
          "She walked to the lighthouse every morning and found a message in a bottle."]
TEMPLATE = ("{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}<eos>{% endfor %}"
            "{% if add_generation_prompt %}<|assistant|>{% endif %}")


def _save_tiny(path: Path, arch: str, chat: bool) -> str:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import (
        GPT2Config,
        GPT2LMHeadModel,
        LlamaConfig,
        LlamaForCausalLM,
        PreTrainedTokenizerFast,
    )

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(CORPUS * 20, trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<eos>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<eos>")
    if chat:
        tokenizer.chat_template = TEMPLATE
    torch.manual_seed(0)
    if arch == "llama":
        model = LlamaForCausalLM(LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64,
                                             num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                             max_position_embeddings=1024, tie_word_embeddings=True))
    else:
        model = GPT2LMHeadModel(GPT2Config(vocab_size=len(tokenizer), n_embd=32, n_layer=2, n_head=4,
                                           n_positions=1024))
    with torch.no_grad():  # larger weights than the init, so greedy decoding is far from uniform
        for p in model.parameters():
            p.mul_(4.0)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return str(path)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> dict[str, str]:
    """A tiny llama with a chat template and a tiny gpt2 without one, saved so the real loader reads them."""
    root = tmp_path_factory.mktemp("chain_models")
    return {"llama": _save_tiny(root / "llama", "llama", chat=True),
            "gpt2": _save_tiny(root / "gpt2", "gpt2", chat=False)}


def test_cycle_detection():
    assert cycle(["A", "B", "C", "B", "C"]) == (3, 2)
    assert cycle(["A", "B", "B"]) == (2, 1)
    assert cycle(["A", "B", "A"]) == (2, 2)
    assert cycle(["A", "B", "C"]) == (None, None)
    assert cycle(["a  b\n", "a b"]) == (1, 1)  # whitespace does not make a new text
    m = chain_measures([["A"], ["B"], ["C"], ["B"], ["C"]])[0]
    assert (m["distinct_outputs"], m["first_repeat"], m["cycle_length"]) == (2, 3, 2)


def test_opening_span_cuts_at_a_sentence_end():
    text = " ".join(f"w{i}" for i in range(8)) + ". " + " ".join(f"x{i}" for i in range(20)) + "."
    assert opening_span(text, 5, 12) == " ".join(f"w{i}" for i in range(7)) + " w7."
    assert len(opening_span(" ".join(["word"] * 50), 5, 12).split()) == 12  # no sentence end: a hard cut


def test_jaccard_of_equal_and_disjoint_texts():
    got = jaccard(["one two three four five six", "a b c d e f", ""], ["one two three four five six",
                                                                         "g h i j k l", "x"], SIMILARITY["w1"])
    assert got[0] == 1.0 and got[1] == 0.0 and got[2] != got[2]


def test_config_reads_yaml_and_refuses_unknown_keys(tmp_path):
    (tmp_path / "c.yaml").write_text("temperatures: 0,1\nchains: 3\nscore_depths: [0, 2]\nsteps: 2\n")
    cfg = load(tmp_path / "c.yaml")
    assert cfg.temperatures == (0.0, 1.0) and cfg.depths() == [0, 2]
    (tmp_path / "c.toml").write_text("chain = 3\n")
    with pytest.raises(ValueError, match="unknown chains config keys"):
        load(tmp_path / "c.toml")
    with pytest.raises(ValueError, match="score_depths"):
        ChainsConfig(steps=2, score_depths=(3,))


def test_greedy_chains_from_the_same_start_are_identical(tiny, tmp_path):
    cfg = ChainsConfig(model=tiny["gpt2"], chains=3, steps=3, max_new_tokens=8, reuse_greedy_cycles=False)
    rephraser = Rephraser.load(cfg.model, cfg.prompt)
    assert not rephraser.chat and rephraser.render("x").startswith("Rephrase")
    start = "The council approved the new library after a long campaign by residents."
    history = [[start, start, "Another text."]]
    for _ in range(cfg.steps):
        advance(rephraser, history, 0.0, cfg, tmp_path)
    assert len(history) == cfg.steps + 1
    assert all(step[0] == step[1] for step in history)


def _state_bytes(work: Path) -> dict[str, bytes]:
    return {str(p.relative_to(work)): p.read_bytes() for p in sorted((work / "_state").rglob("step_*.parquet"))}


def test_bad_options_are_usage_errors_before_any_work(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--source", "nope", "-o", str(tmp_path / "out")])
    assert exit_info.value.code == 2 and "source must be one of" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_chains_end_to_end_rerun_and_resume(tiny, tmp_path):
    out, work = tmp_path / "out", tmp_path / "work"
    args = ["--model", tiny["llama"], "--temperatures", "0,1.0", "--chains", "4", "--steps", "3",
            "--min-words", "10", "--max-words", "20", "--max-new-tokens", "12", "--batch-size", "4",
            "--detectors", "lm,replay,classifier", "--work-dir", str(work), "-o", str(out)]
    config = tmp_path / "chains.yaml"
    config.write_text("human_holdout: 40\nclassifier_rows: 200\nlm_params: {min_tokens: 1}\n")
    main(["--config", str(config), *args])
    for name in ("results.json", "results.md", "results.png"):
        assert (out / name).is_file()
    assert not (out / "_state").exists()  # the state went to the work dir
    res = json.loads((out / "results.json").read_text())
    md = (out / "results.md").read_text()
    assert md.startswith("`python -m benchmarks.chains --config") and "<|user|>" in md  # command, rendered prompt
    for t in ("0", "1"):
        r = res["temperatures"][t]
        assert len(r["chains"]) == 4 and len(r["by_depth"]) == 4
        assert all(1 <= c["distinct_outputs"] <= 3 for c in r["chains"])
        assert r["by_depth"][0]["sim_start_w1"] == 1.0
        assert 0.0 <= r["by_depth"][3]["converged_share"] <= 1.0
    rep = res["detectors"]["replay"]["by_temperature"]["0"]["by_depth"]
    assert rep[1]["match_share"] == pytest.approx(sum(bool(t.strip()) for t in _depth1(work, 0.0)) / 4)
    assert rep[1]["own_match_share"] == rep[1]["match_share"]  # depth 1 is the index itself
    lm = res["detectors"]["lm"]["columns"]["lm.fastdetect"]
    assert lm["holdout_rows"] == 40 and [r["depth"] for r in lm["by_temperature"]["1"]] == [0, 1, 2, 3]
    assert res["detectors"]["classifier"]["training"]["rows"] == 200
    first = _state_bytes(work)
    assert len(first) == 6

    # Without --resume an existing state is refused; a fresh rerun gives the same bytes.
    with pytest.raises(ResumeError):
        run_chains(load(config).replace(model=tiny["llama"]), out, work=work)
    cfg = load(config).replace(model=tiny["llama"], temperatures="0,1.0", chains=4, steps=3, min_words=10,
                               max_words=20, max_new_tokens=12, batch_size=4, detectors="replay", plots=False)
    run_chains(cfg, tmp_path / "out2", work=tmp_path / "work2")
    assert _state_bytes(tmp_path / "work2") == first
    # Resume after losing the last step of each temperature: regenerated byte for byte.
    for p in (tmp_path / "work2" / "_state").rglob("step_003.parquet"):
        p.unlink()
    calls: list[tuple[str, int, int]] = []
    run_chains(cfg, tmp_path / "out2", work=tmp_path / "work2", resume=True, progress=lambda *c: calls.append(c))
    assert _state_bytes(tmp_path / "work2") == first
    # progress opens at the saved steps and then counts only the step made now, so the rate is that of new steps
    assert [c for c in calls if c[0] != "detect"] == [("T=0", 2, 3), ("T=1", 2, 3), ("T=0", 3, 3), ("T=1", 3, 3)]


def _depth1(work: Path, temperature: float) -> list[str]:
    import pyarrow.parquet as pq

    return pq.read_table(work / "_state" / f"t{temperature:g}" / "step_001.parquet")["text"].to_pylist()
