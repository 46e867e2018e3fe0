"""The trained classifier: training errors, safe saving, tamper checks, heads, and the pipeline."""
import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import filterkit
from detectors.classifier.detector import ClassifierDetector
from detectors.classifier.model import ClassifierModel, ModelFileError
from detectors.classifier.train import LM_FEATURES, TrainConfig, opening_groups, train_detector
from filterkit import DetectorSpec, FilterConfig
from filterkit.testing.corpora import read_dir, write


@pytest.fixture(scope="module")
def labelled(shared_data):
    t = pq.read_table(shared_data / "detect" / "open_models.parquet")
    index = pc.cast(pc.list_element(pc.split_pattern(t["pair_id"], "/"), 2), pa.int64())
    t = t.filter(pc.less(index, 40))  # 40 articles per domain, every generator
    rng = np.random.default_rng(0)
    # Fake LM columns that carry a weak signal, so the stacked head and the cascade can be tested without an LM.
    y = np.array([v == "machine" for v in t["label"].to_pylist()])
    for i, c in enumerate(LM_FEATURES[:4]):
        t = t.append_column(c, pa.array(rng.normal(y * (i + 1) * 0.5, 1.0)))
    return t


@pytest.fixture(scope="module")
def model_dir(labelled, tmp_path_factory):
    model = train_detector(labelled, TrainConfig(stack="lm", folds=3))
    return model.save(tmp_path_factory.mktemp("clf") / "model")


def test_manifest_records_metrics_and_data(model_dir, labelled):
    m = json.loads((model_dir / "manifest.json").read_text())
    assert m["training_data"]["rows"] == labelled.num_rows
    assert m["features"]["stacked"]["lm"] == list(LM_FEATURES[:4])
    assert 0.6 < m["metrics_out_of_fold"]["text"]["auroc"] <= 1.0
    assert m["metrics_out_of_fold"]["stacked"]["auroc"] > 0.7  # the planted LM signal is found
    assert set(m["files"]) == {"text", "text_calibration", "stacked", "stacked_calibration"}


def test_round_trip_gives_same_scores(model_dir, labelled):
    batch = labelled.slice(0, 20).rename_columns(["text" if c == "text" else c for c in labelled.column_names])
    a = ClassifierDetector(model_dir=str(model_dir), head="text").score(batch)
    b = ClassifierDetector(model_dir=str(model_dir), head="text").score(batch)
    assert a.equals(b)
    p = a["classifier.p_machine"].to_numpy()
    assert ((p >= 0) & (p <= 1)).all()


def test_cascade_uses_stacked_head_only_in_band(model_dir, labelled):
    batch = labelled.slice(0, 60)
    out = ClassifierDetector(model_dir=str(model_dir), head="cascade", band=(0.3, 0.7)).score(batch)
    text_p = ClassifierDetector(model_dir=str(model_dir), head="text").score(batch)["classifier.p_machine"].to_numpy()
    in_band = (text_p > 0.3) & (text_p < 0.7)
    assert (np.array(out["classifier.head"].to_pylist()) == "stacked").tolist() == in_band.tolist()
    assert np.allclose(out["classifier.p_machine"].to_numpy()[~in_band], text_p[~in_band])


def test_pipeline_defences_undo_homoglyphs_and_zero_width(model_dir, tmp_path):
    clean = "The government announced new measures on Tuesday to support local businesses."
    attacked = clean.replace("o", "\u043e").replace("a", "\u0430").replace(" ", " \u200b")
    write(tmp_path / "in" / "x.parquet", pa.table({"text": [clean, attacked]}))
    spec = DetectorSpec("classifier", {"model_dir": str(model_dir), "head": "text"})
    p = {}
    for defend in (True, False):
        out = filterkit.score([str(tmp_path / "in")], tmp_path / f"o{defend}", FilterConfig(detectors=(spec,),
                                                                                            defend=defend))
        p[defend] = read_dir(out.out / "kept")["classifier.p_machine"].to_numpy()
    assert p[True][0] == pytest.approx(p[True][1])
    assert p[False][0] != pytest.approx(p[False][1])
    assert p[True][0] == pytest.approx(p[False][0])


def test_tampered_or_foreign_files_refused(model_dir, tmp_path):
    import shutil

    import skops.io as sio
    from sklearn.preprocessing import FunctionTransformer

    copy = tmp_path / "m"
    shutil.copytree(model_dir, copy)
    data = bytearray((copy / "text_calibration.skops").read_bytes())
    data[-10] ^= 0xFF
    (copy / "text_calibration.skops").write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="modified"):
        ClassifierModel.load(copy)
    # A file whose hash matches but which holds a type that would run code on load.
    sio.dump(FunctionTransformer(func=eval), copy / "text_calibration.skops")
    manifest = json.loads((copy / "manifest.json").read_text())
    import hashlib

    digest = hashlib.sha256((copy / "text_calibration.skops").read_bytes()).hexdigest()
    manifest["files"]["text_calibration"]["sha256"] = digest
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelFileError, match="does not trust"):
        ClassifierModel.load(copy)
    manifest["versions"]["sklearn"] = "0.1.0"
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelFileError, match="retrain"):
        ClassifierModel.load(copy)


@pytest.mark.parametrize("labels,match", [
    (["human", "human", "human"], "two classes"),
    (["human", None, "machine"], "null"),
    (["human", "ai", "machine"], "two classes"),
])
def test_bad_labels(labels, match):
    with pytest.raises(ValueError, match=match):
        train_detector(pa.table({"text": ["a", "b", "c"], "label": labels}), TrainConfig())


def test_bad_model_dir_fails_before_data(tmp_path):
    write(tmp_path / "in" / "x.parquet", pa.table({"text": ["a"]}))
    spec = DetectorSpec("classifier", {"model_dir": str(tmp_path / "nope")})
    with pytest.raises(ModelFileError, match="not a trained model directory"):
        filterkit.run([str(tmp_path / "in")], tmp_path / "o", FilterConfig(detectors=(spec,)))
    assert not (tmp_path / "o" / "kept").exists()


def test_construction_does_no_io_and_setup_fails_fast(tmp_path):
    det = ClassifierDetector(model_dir=str(tmp_path / "nope"), head="text")
    assert det.columns == ["classifier.p_machine", "classifier.head"] and det.requires == ()
    routed = ClassifierDetector(model_dir=str(tmp_path / "nope"), head="cascade", router_dir=str(tmp_path / "r"))
    assert routed.columns == ["classifier.p_machine", "classifier.head", "classifier.p_route"]
    assert routed.reason_column == "classifier.head"
    assert det.get_params() == {"model_dir": str(tmp_path / "nope"), "model": "default", "head": "text",
                                "band": (0.1, 0.9),
                                "router_dir": "", "route_share": None, "lm": {}, "languages": None, "min_chars": 40,
                                "device": "auto"}
    with pytest.raises(ModelFileError, match="not a trained model directory"):
        det.setup()
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "manifest.json").write_text("{not json")
    with pytest.raises(ModelFileError, match="not valid JSON"):
        ClassifierDetector(model_dir=str(tmp_path / "bad")).setup()
    with pytest.raises(ValueError, match="head"):
        ClassifierDetector(model_dir=str(tmp_path / "nope"), head="best")


def test_setup_reads_and_verifies_once(model_dir, labelled, monkeypatch):
    from detectors.classifier import model as classifier_model

    reads, hashes = [], []
    real_read, real_hash = ClassifierModel.read_manifest, classifier_model._sha256
    monkeypatch.setattr(ClassifierModel, "read_manifest", staticmethod(lambda d: reads.append(d) or real_read(d)))
    monkeypatch.setattr(classifier_model, "_sha256", lambda p: hashes.append(p) or real_hash(p))
    det = ClassifierDetector(model_dir=str(model_dir), head="cascade")
    assert reads == []
    det.setup()
    assert det.requires == tuple(LM_FEATURES[:4]) and det.default_rules()
    det.score(labelled.slice(0, 10))
    assert len(reads) == 1 and len(hashes) == 4


def test_pipeline_removes_at_manifest_threshold(model_dir, labelled, tmp_path):
    write(tmp_path / "in" / "x.parquet", labelled.select(["text", "label"]).slice(0, 200), 50)
    spec = DetectorSpec("classifier", {"model_dir": str(model_dir), "head": "text"})
    result = filterkit.run([str(tmp_path / "in")], tmp_path / "o", FilterConfig(detectors=(spec,)))
    threshold = json.loads((model_dir / "manifest.json").read_text())["metrics_out_of_fold"]["text"]["threshold"]
    removed = read_dir(tmp_path / "o" / "removed")
    assert result.report["rules"][0]["threshold"] == pytest.approx(threshold)
    assert all(p >= threshold for p in removed["classifier.p_machine"].to_pylist())
    assert set(removed["filter_reason"].to_pylist()) <= {"machine_text"}


def test_opening_groups_split_both_ways():
    """Same opening, same group; the hashes are integers, so ``% 2`` gives two halves of a corpus."""
    texts = [f"document {i} opens with its own words and then goes on at length" for i in range(400)]
    groups = opening_groups([*texts, texts[0] + " with a different ending"], 12)
    assert groups.dtype == np.uint64
    assert groups[0] == groups[-1]
    assert 0.35 < np.mean(groups[:-1] % 2) < 0.65


def test_stacked_head_abstains_where_the_lm_did(model_dir, labelled):
    batch = labelled.slice(0, 6)
    for c in LM_FEATURES[:4]:
        values = batch[c].to_numpy().copy()
        values[:2] = np.nan  # an unjudgeable or too-short text: the LM gives no score
        batch = batch.set_column(batch.schema.get_field_index(c), c, pa.array(values))
    out = ClassifierDetector(model_dir=str(model_dir), head="stacked").score(batch)
    p = out["classifier.p_machine"].to_numpy(zero_copy_only=False)
    assert np.isnan(p[:2]).all() and np.isfinite(p[2:]).all()
    assert out["classifier.head"].to_pylist() == ["lm_abstained"] * 2 + ["stacked"] * 4


def test_router_sends_its_share_to_the_stacked_head_and_leaves_the_rest_unjudged(model_dir, labelled, tmp_path):
    from detectors.classifier.router import routing_cut, sample_texts, train_router

    expensive = ClassifierDetector(model_dir=str(model_dir), head="stacked")
    router = train_router(labelled, expensive, share=0.3, folds=3)
    assert router.manifest["router"]["expensive_removed"] == int(expensive.default_rules()[0].fires(
        expensive.score(labelled)).sum())
    router_dir = router.save(tmp_path / "router")
    det = ClassifierDetector(model_dir=str(model_dir), head="cascade", router_dir=str(router_dir))
    det.setup()
    out = det.score(labelled)
    heads = np.array(out["classifier.head"].to_pylist())
    routed = out["classifier.p_route"].to_numpy() >= routing_cut(router.manifest)
    assert (heads[routed] == "stacked").all() and (heads[~routed] == "not_routed").all()
    assert 0.15 < routed.mean() < 0.45  # the out-of-fold cut routes about the share asked for
    p = out["classifier.p_machine"].to_numpy()
    assert np.isnan(p[~routed]).all()
    assert np.allclose(p[routed], expensive.score(labelled)["classifier.p_machine"].to_numpy()[routed])
    # the router learned where the expensive rule fires: it routes most of those rows
    fires = expensive.default_rules()[0].fires(expensive.score(labelled))
    assert routed[fires].mean() > routed.mean()
    write(tmp_path / "crawl" / "a.parquet", labelled.select(["text"]))
    texts = sample_texts([str(tmp_path / "crawl")], 50, seed=1)
    assert len(texts) == 50 and set(texts) <= set(labelled["text"].to_pylist())
    assert texts == sample_texts([str(tmp_path / "crawl")], 50, seed=1)
    with pytest.raises(ValueError, match="router_dir needs head='cascade'"):
        ClassifierDetector(model_dir=str(model_dir), head="stacked", router_dir=str(router_dir))
    with pytest.raises(ModelFileError, match="not a router"):
        ClassifierDetector(model_dir=str(model_dir), head="cascade", router_dir=str(model_dir)).setup()


def test_tfidf_head_trains_from_the_cli_saves_safely_and_scores(labelled, tmp_path):
    from typer.testing import CliRunner

    from cli import app

    write(tmp_path / "in" / "x.parquet", labelled.select(["text", "label"]), 500)
    out = CliRunner().invoke(app, ["train-detector", "--data", str(tmp_path / "in"), "-o", str(tmp_path / "m"),
                                   "--tfidf"])
    assert out.exit_code == 0, out.output
    manifest = json.loads((tmp_path / "m" / "manifest.json").read_text())
    assert manifest["train_config"]["idf"] is True and "TF-IDF" in manifest["features"]["text"]
    p = ClassifierDetector(model_dir=str(tmp_path / "m"), head="text").score(labelled.slice(0, 40))
    raw = ClassifierDetector(model_dir=str(train_detector(labelled, TrainConfig()).save(tmp_path / "raw")),
                             head="text").score(labelled.slice(0, 40))
    assert not np.allclose(p["classifier.p_machine"].to_numpy(), raw["classifier.p_machine"].to_numpy())
