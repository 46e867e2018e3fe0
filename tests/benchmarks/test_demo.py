"""The demo on the shared data: it runs, and what it prints is measured, not assumed."""
import json

import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

import benchmarks.demo
from benchmarks.demo import DemoSizes, build_crawl, run_demo
from benchmarks.demo.__main__ import main

SMALL = DemoSizes(human=120, machine=40, exact_copies=15, near_copies=10, bad_rows=4, files=2)


def test_demo_crawl_holds_no_row_the_shipped_classifier_trained_on(tmp_path, shared_data):
    from benchmarks.demo.run import held_out_texts, wikitext_documents
    from benchmarks.transfer.protocol_data import _WORD, _hash, article_key, load_rows
    from detectors.classifier.layout import training_texts

    crawl = build_crawl(tmp_path / "crawl", SMALL)
    texts = [t for t in ds.dataset(crawl).to_table(columns=["text"])["text"].to_pylist() if t and t.strip()]
    trusted = pq.read_table(tmp_path / "trusted_human.parquet")["text"].to_pylist()
    trained = set(load_rows()[0].text)
    assert not trained & set(training_texts(texts + trusted))
    assert not set(trusted) & set(texts)
    # No crawl or trusted human shares a 12-word opening (nor its 10-word article key) with any news_wiki_stories
    # text, all of which the default trained on as human.
    crawl_humans = ds.dataset(crawl).to_table(filter=ds.field("demo_origin") == "human",
                                              columns=["text", "demo_source"]).to_pylist()
    humans = training_texts([r["text"] for r in crawl_humans] + trusted)
    news = training_texts(pq.read_table(shared_data / "human" / "news_wiki_stories.parquet")["text"].to_pylist())
    keys = {article_key(t) for t in news}
    runs = {" ".join(w[i:i + 12]) for w in (_WORD.findall(t.lower()) for t in news) for i in range(len(w) - 11)}
    assert not [t for t in humans if article_key(t) in keys or " ".join(_WORD.findall(t.lower())[:12]) in runs]
    # Crawl and trusted wikitext documents come from different articles.
    wiki = wikitext_documents(shared_data)
    article = {text: row for text, row, _ in wiki}
    crawl_articles = {article[r["text"]] for r in crawl_humans if r["demo_source"] == "wikitext2"}
    trusted_articles = {article[t] for t in trusted if t in article}
    assert crawl_articles and trusted_articles and not crawl_articles & trusted_articles
    held_out = set(held_out_texts(shared_data)[0])
    assert all(t in article or t in held_out for t in trusted)
    assert all(_hash(article_key(t)) % 1000 >= 500 for t in training_texts(list(held_out & set(trusted))))


@pytest.mark.parametrize("model", ["default", pytest.param("lora", marks=pytest.mark.slow)])
def test_demo_reports_both_regimes_of_the_shipped_classifier(tmp_path, shared_data, model):
    result = run_demo(tmp_path, SMALL, model=model)
    assert result["detectors"] == ["exact", "minhash", "classifier"] and result["classifier_model"] == model
    assert result["documents_in"] == 120 + 40 + 15 + 10 + 4
    assert result["quarantined"] == 4
    assert set(result["machine_documents_removed"]) == {"out of box", "calibrated"}
    assert result["human_documents_lost"]["out of box"].endswith("/120")
    assert "target 1%" in result["classifier_realised_fpr"]["out of box"]
    assert "5-95% of draws" in result["classifier_realised_fpr"]["calibrated"]
    assert "kept" in result["conservation"]
    truth = json.loads((tmp_path / "ground_truth.json").read_text())
    assert result["ground_truth"] == str(tmp_path / "ground_truth.json")
    assert truth["human_documents"] == 120 and truth["machine_documents"] == 40
    assert sum(truth["rows_by_origin"]["exact_copy"].values()) == 15
    regimes = truth["classifier"]
    # Which way calibration moves the threshold is measured, not assumed (unseen human text can score either way).
    assert all(0 < m["threshold"] < 1 for m in regimes.values())
    assert sum(truth["human_documents_by_source"].values()) == 120
    assert regimes["calibrated"]["target_fpr"] == 0.01 and regimes["calibrated"]["expected_fpr"] <= 0.01
    assert regimes["calibrated"]["crawl_human_texts"] == 120
    for regime, m in regimes.items():
        # The LoRA model's unseen-domain threshold (p >= 0.995) may remove no machine text at all out of the box.
        if regime == "calibrated" or model == "default":
            assert m["machine_share_after"] < result["machine_share_before"]
        assert m["human_documents_lost"] >= m["crawl_human_texts_removed"]


def test_entry_point_prints_every_measure_as_a_table(tmp_path, shared_data, monkeypatch, capsys):
    monkeypatch.setattr(benchmarks.demo, "run_demo", lambda out, progress, model: run_demo(out, SMALL, progress, model))
    main(["-o", str(tmp_path / "demo")])
    printed = capsys.readouterr().out
    assert "filterkit demo" in printed and "documents in" in printed and "exact copies removed" in printed
    assert "machine documents removed" in printed and "human documents lost" in printed and "ground truth" in printed
    assert "out of box:" in printed and "calibrated:" in printed
    assert (tmp_path / "demo" / "filtered" / "report" / "report.md").is_file()
