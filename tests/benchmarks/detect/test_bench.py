"""The detector benchmark on a small labelled set: metrics measured on the held-out half, attacks, clear errors, and
``python -m benchmarks.detect run``."""
import json

import numpy as np
import pyarrow as pa
import pytest

from benchmarks.detect.__main__ import SUBCOMMANDS
from benchmarks.detect.bench import BenchConfig, bench_detect
from benchmarks.entry import dispatch
from filterkit import DetectorSpec, FilterConfig, Rule
from filterkit.testing.corpora import write


def labelled(tmp_path, n=800):
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n):
        machine = i % 2 == 1
        words = int(rng.integers(60, 90)) if machine else int(rng.integers(20, 80))
        text = f"article {i // 2} opens here. " + " ".join(["word"] * words)
        rows.append({"text": text, "label": "machine" if machine else "human",
                     "domain": ["news", "wiki"][i // 2 % 2], "generator": "gen-a" if machine else "human"})
    return write(tmp_path / "lab" / "x.parquet", pa.Table.from_pylist(rows), 100)


def test_metrics_on_held_out_half_with_groups_and_attacks(tmp_path):
    path = labelled(tmp_path)
    cfg = FilterConfig(detectors=(DetectorSpec("length"),), rules=(Rule("length.words", ">=", 85.0),))
    result = bench_detect([str(path)], cfg, BenchConfig(attacks=("whitespace", "article_deletion"), attack_sample=50),
                          tmp_path / "out")
    assert result["calibration_rows"] + result["test_rows"] == 800
    words = result["scores"]["length.words"]
    assert words["direction"] == "higher" and 0.7 < words["overall"]["auroc"] <= 1.0
    assert words["overall"]["fpr@0.05"] <= 0.12  # set on other articles' humans, so near but not exactly 5%
    assert set(words["by"]["domain"]) == {"news", "wiki"} and set(words["by"]["generator"]) == {"gen-a"}
    assert "filter" in result and 0 <= result["filter"]["overall"]["fpr"] <= 1
    attacks = result["attacks"]["results"]
    assert set(attacks) == {"none", "whitespace", "article_deletion"}
    assert attacks["whitespace"]["length.words"]["defended"] == attacks["none"]["length.words"]["defended"]
    saved = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert saved["test_rows"] == result["test_rows"]
    assert (tmp_path / "out" / "roc.png").stat().st_size > 1000
    assert "| `length.words` | higher |" in (tmp_path / "out" / "metrics.md").read_text()


def test_needs_both_classes_and_known_attacks(tmp_path):
    write(tmp_path / "one" / "x.parquet", pa.table({"text": ["a b"] * 4, "label": ["human"] * 4}))
    cfg = FilterConfig(detectors=(DetectorSpec("length"),))
    with pytest.raises(ValueError, match="both classes"):
        bench_detect([str(tmp_path / "one")], cfg, BenchConfig(), tmp_path / "o")
    path = labelled(tmp_path, 20)
    with pytest.raises(ValueError, match="valid attacks: homoglyph"):
        bench_detect([str(path)], cfg, BenchConfig(attacks=("rot13",)), tmp_path / "o2")


def test_too_few_humans_gives_no_threshold(tmp_path):
    path = labelled(tmp_path, 40)  # 20 humans, ~10 in calibration: 0.1% FPR cannot be resolved
    result = bench_detect([str(path)], FilterConfig(detectors=(DetectorSpec("length"),)), BenchConfig(), tmp_path / "o")
    t = result["scores"]["length.words"]["thresholds"]
    assert t["0.001"] != t["0.001"]  # NaN: no made-up threshold
    assert result["scores"]["length.words"]["overall"]["tpr@0.001"] is None


def test_attack_traces_and_no_identifiers_among_scores(tmp_path):
    rng = np.random.default_rng(1)
    # Case swaps in varied words make distinct mixed-case forms (in "word word ..." they would repeat).
    rows = [{"text": " ".join("".join(rng.choice(list("abcdefghijklmnop"), 6)) for _ in range(60 + 20 * (i % 2))),
             "label": "machine" if i % 2 else "human"} for i in range(200)]
    path = write(tmp_path / "lab" / "x.parquet", pa.Table.from_pylist(rows), 100)
    specs = (DetectorSpec("length"), DetectorSpec("obfuscation"), DetectorSpec("minhash"))
    cfg = FilterConfig(detectors=specs, rules=(Rule("obfuscation.mixed_case", ">", 0.06),))
    result = bench_detect([str(path)], cfg, BenchConfig(attacks=("upper_lower",), attack_sample=30), tmp_path / "o")
    assert "minhash.cluster_size" in result["scores"] and "minhash.cluster_id" not in result["scores"]
    attacks = result["attacks"]["results"]
    # The trace rule reads the text as written, so it removes case-swapped rows whether or not the defence runs.
    assert attacks["none"]["filter"] == {"defended": 0.0, "undefended": 0.0}
    assert attacks["upper_lower"]["filter"] == {"defended": 1.0, "undefended": 1.0}


def test_run_subcommand_prints_the_summary_and_reports_usage_errors(tmp_path, capsys):
    path = labelled(tmp_path, 200)
    words = ["run", "--data", str(path), "--detectors", "length"]
    dispatch("detect", "", SUBCOMMANDS, [*words, "--attacks", "whitespace", "--attack-sample", "20",
                                         "-o", str(tmp_path / "out")])
    printed = capsys.readouterr().out
    assert "# Detector benchmark" in printed and "| `length.words` | higher |" in printed and "###" not in printed
    saved = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert saved["bench"]["attacks"] == ["whitespace"] and saved["bench"]["attack_sample"] == 20
    with pytest.raises(SystemExit) as exit_info:
        dispatch("detect", "", SUBCOMMANDS, [*words, "--lm-model", "m", "-o", str(tmp_path / "bad")])
    assert exit_info.value.code == 2 and "detector 'lm' is not configured" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()
