"""What the classifier cannot judge (another language, too short a text) gets NaN and a reason, and is kept;
its device; and calibration on trusted human text as the documented second step, end to end."""
import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import yaml
from typer.testing import CliRunner

from cli import app
from detectors.classifier.detector import ClassifierDetector
from detectors.classifier.language import identify, unjudged_reasons
from detectors.classifier.train import TrainConfig, train_detector
from detectors.device import check_device, resolve_device
from filterkit.testing.corpora import read_dir, write

runner = CliRunner()
GERMAN = ("Die Stadtverwaltung hat am Dienstag neue Maßnahmen angekündigt, um kleine Unternehmen in der Region "
          "zu unterstützen. Die Händler begrüßten die Entscheidung, wünschen sich aber schnellere Hilfe.")
JAPANESE = ("市は火曜日、地域の中小企業を支援するための新しい対策を発表した。商店主たちはこの決定を歓迎したが、"
            "より迅速な支援を求めている。")
ENGLISH = ("The city council announced new measures on Tuesday to support small businesses in the region. "
           "Shopkeepers welcomed the decision but asked for faster help.")


@pytest.fixture(scope="module")
def model_dir(shared_data, tmp_path_factory):
    t = pq.read_table(shared_data / "detect" / "open_models.parquet", columns=["text", "label", "pair_id"])
    index = pc.cast(pc.list_element(pc.split_pattern(t["pair_id"], "/"), 2), pa.int64())
    t = t.filter(pc.less(index, 150))  # 150 articles per domain, every generator: English only
    return train_detector(t, TrainConfig(folds=3)).save(tmp_path_factory.mktemp("clf") / "model")


def test_identify_and_reasons():
    assert identify([GERMAN, JAPANESE, ENGLISH]) == ["de", "ja", "en"]
    assert unjudged_reasons([GERMAN, JAPANESE, ENGLISH, "Too short.", "   "], ["en"]) == [
        "unsupported_language:de", "unsupported_language:ja", None, "too_short", "too_short"]
    assert unjudged_reasons([GERMAN, "Too short."], ["*"], min_chars=0) == [None, None]


@pytest.mark.parametrize("head", ["text", "auto"])
def test_other_languages_and_short_texts_get_nan_and_a_reason(model_dir, head):
    det = ClassifierDetector(model_dir=str(model_dir), head=head)
    assert det.judged_languages == ("en",)  # the manifest names none: English
    out = det.score(pa.table({"text": [GERMAN, JAPANESE, ENGLISH, "Great article!"]}))
    p = out["classifier.p_machine"].to_numpy()
    assert np.isnan(p[[0, 1, 3]]).all() and 0.0 <= p[2] <= 1.0
    assert out["classifier.head"].to_pylist() == ["unsupported_language:de", "unsupported_language:ja", "text",
                                                  "too_short"]
    # A model declared (or told) to judge German scores it.
    both = ClassifierDetector(model_dir=str(model_dir), head=head, languages=("en", "de"))
    assert not np.isnan(both.score(pa.table({"text": [GERMAN]}))["classifier.p_machine"].to_numpy()).any()


def test_parameters_checked_at_construction(model_dir):
    for bad in ({"languages": "en"}, {"languages": []}, {"min_chars": -1}, {"device": "gpu"}, {"device": "cuda:x"}):
        with pytest.raises(ValueError):
            ClassifierDetector(model_dir=str(model_dir), **bad)
    for good in ("auto", "cpu", "cuda", "cuda:1"):
        assert check_device(good) == good
    assert resolve_device("cpu") == "cpu"
    import torch

    if not torch.cuda.is_available():
        assert resolve_device("auto") == "cpu"
        with pytest.raises(ValueError, match="not on this machine"):
            resolve_device("cuda:0")
        with pytest.raises(ValueError, match="not on this machine"):
            ClassifierDetector(model_dir=str(model_dir), device="cuda").setup()
    else:
        assert resolve_device("auto") == "cuda"


def test_filter_keeps_what_the_classifier_cannot_judge(model_dir, tmp_path):
    # A rule that fires on every score: only what was not scored survives.
    write(tmp_path / "in" / "x.parquet", pa.table({"text": [GERMAN, JAPANESE, ENGLISH]}))
    cfg = {"detectors": [{"name": "classifier", "params": {"model_dir": str(model_dir), "head": "text"}}],
           "rules": [{"column": "classifier.p_machine", "op": ">=", "threshold": 0.0, "reason": "machine_text"}]}
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    result = runner.invoke(app, ["filter", str(tmp_path / "in"), "-o", str(tmp_path / "o"),
                                 "--config", str(tmp_path / "cfg.yaml")])
    assert result.exit_code == 0, result.output
    assert sorted(read_dir(tmp_path / "o" / "kept")["text"].to_pylist()) == sorted([GERMAN, JAPANESE])
    assert read_dir(tmp_path / "o" / "removed")["text"].to_pylist() == [ENGLISH]


def test_calibrate_on_trusted_human_then_filter(model_dir, shared_data, tmp_path):
    """The documented second step: calibrate on trusted human text, then filter the crawl with that config."""
    human = pq.read_table(shared_data / "human" / "news_wiki_stories.parquet", columns=["text"])["text"].to_pylist()
    machine = pq.read_table(shared_data / "detect" / "open_models.parquet", columns=["text", "label", "pair_id"])
    index = pc.cast(pc.list_element(pc.split_pattern(machine["pair_id"], "/"), 2), pa.int64())
    machine = machine.filter(pc.and_(pc.equal(machine["label"], "machine"), pc.greater_equal(index, 100)))
    machine = machine["text"].to_pylist()[::20][:100]  # articles the model never saw
    rng = np.random.default_rng(0)
    order = rng.permutation(len(human))
    trusted = [human[i] for i in order[:400]]
    crawl_human = [human[i] for i in order[400:600]]
    write(tmp_path / "trusted" / "t.parquet", pa.table({"text": trusted}))
    crawl = crawl_human + machine + [GERMAN, JAPANESE]
    write(tmp_path / "crawl" / "c.parquet", pa.table({"text": crawl, "is_machine": [False] * 200 + [True] * 100
                                                      + [False, False]}))
    cal = tmp_path / "cal.yaml"
    result = runner.invoke(app, ["calibrate", str(tmp_path / "trusted"), "--detectors", "classifier",
                                 "--param", f"classifier.model_dir={model_dir}", "--param", "classifier.head=text",
                                 "--max-fpr", "0.01", "-o", str(cal)])
    assert result.exit_code == 0, result.output
    (rule,) = yaml.safe_load(cal.read_text())["rules"]
    assert rule["column"] == "classifier.p_machine" and rule["reason"] == "machine_text"
    info = json.loads(result.output[result.output.index("{"):result.output.rindex("}") + 1])
    assert info["human_rows"] == 400 and info["expected_fpr"] <= 0.01 and info["human_removed_fraction"] <= 0.01

    result = runner.invoke(app, ["filter", str(tmp_path / "crawl"), "-o", str(tmp_path / "o"), "--config", str(cal)])
    assert result.exit_code == 0, result.output
    kept, removed = read_dir(tmp_path / "o" / "kept"), read_dir(tmp_path / "o" / "removed")
    assert kept.num_rows + removed.num_rows == len(crawl)
    assert set(removed["filter_reason"].to_pylist()) <= {"machine_text"}
    assert GERMAN in kept["text"].to_pylist() and JAPANESE in kept["text"].to_pylist()
    lost = sum(not m for m in removed["is_machine"].to_pylist())
    assert lost <= 10  # 200 human texts, 1% expected (a text head on another domain's humans drifts a little)
    caught = sum(removed["is_machine"].to_pylist())
    assert caught / 100 > lost / 200  # a small text head catches little at 1% FPR, but more machine than human
    # The decisions are the calibrated rule's: removed at or above the threshold, kept below it or unjudged.
    assert (removed["classifier.p_machine"].to_numpy() >= rule["threshold"]).all()
    p_kept = kept["classifier.p_machine"].to_numpy()
    assert ((p_kept < rule["threshold"]) | np.isnan(p_kept)).all()
