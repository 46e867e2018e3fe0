"""``python -m benchmarks.dedup vs-datatrove`` at a tiny size: the corpus, filterkit's and datatrove's arms, counts."""
import json

import pyarrow.parquet as pq
import pytest

pytest.importorskip("datatrove", reason="datatrove is not installed (pip install datatrove) to benchmark against")

from benchmarks.dedup import vs_datatrove as vs

DOCS = 300


def test_corpus_is_seeded_with_planted_copies_after_their_originals(tmp_path):
    info = vs.make_corpus(DOCS, 230, tmp_path / "a", tmp_path / "a.parquet")
    again = vs.make_corpus(DOCS, 230, tmp_path / "b", tmp_path / "b.parquet")
    corpus = pq.read_table(tmp_path / "a")
    assert corpus.column_names == ["id", "text"] and corpus.num_rows == DOCS
    assert corpus.equals(pq.read_table(tmp_path / "b")) and info == again
    assert info["files"] >= 2 and info["planted_copies"] == round(DOCS / 11)
    truth = pq.read_table(tmp_path / "a.parquet").to_pylist()
    assert len(truth) == info["planted_copies"] == len({t["original_id"] for t in truth})
    text = dict(zip(corpus["id"].to_pylist(), corpus["text"].to_pylist(), strict=True))
    for t in truth:
        assert t["original_id"] < t["id"]  # ids follow corpus order: the copy comes later
        assert t["jaccard"] == vs.jaccard(text[t["original_id"]], text[t["id"]]) > 0.8
    assert 0.85 * 230 <= info["mean_words"] <= 1.15 * 230


def test_both_arms_remove_planted_copies_and_counts_add_up(tmp_path):
    arms = (vs.ARMS[0], vs.ARMS[2])  # filterkit with datatrove's LSH, datatrove with its default tokenizer if any
    results = vs.benchmark(DOCS, 230, 2, tmp_path / "work", timeout=120, tokenizer="auto", arms=arms)
    planted = results["corpus"]["planted_copies"]
    runs = {r["arm"]: r for r in results["runs"]}
    assert set(runs) == set(arms)
    for r in runs.values():
        assert "timed_out_after_s" not in r and r["seconds"] > 0 and r["peak_rss_total_mib"] > 0
        assert r["rows_accounted"] and r["removed"] + r["kept"] == DOCS
        assert 0 <= r["planted_copies_removed"] <= planted
        assert r["removed"] == r["planted_copies_removed"] + r["other_rows_removed"]
        assert (r["planted_copies_removed"] + r["pairs_both_kept"] + r["pairs_original_removed_copy_kept"]
                == planted)
        assert sum(b["pairs"] for b in r["copy_removed_by_jaccard"].values()) == planted
    assert runs[vs.ARMS[0]]["planted_copies_removed"] >= 0.9 * planted
    assert runs[vs.ARMS[0]]["other_rows_removed"] <= 1
    assert runs[vs.ARMS[2]]["planted_copies_removed"] >= 0.8 * planted
    assert runs[vs.ARMS[2]]["tokenizer"] == results["datatrove_tokenizer"]

    results["command"] = "python -m benchmarks.dedup vs-datatrove --docs 300"
    page = vs.markdown(results)
    assert "| filterkit (datatrove's LSH) |" in page and "| datatrove |" in page and f"of {planted}" in page
    vs.plot(results, tmp_path / "plot.png")
    assert (tmp_path / "plot.png").stat().st_size > 0
    json.dumps(results)  # what main writes
