"""The attack-trace detector: it reads the text as written, even where the shared defence repairs it."""
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

import filterkit
from benchmarks.perturb.attacks import attack_texts
from detectors.surface.obfuscation import Obfuscation
from filterkit import DetectorSpec, FilterConfig
from filterkit.testing.corpora import read_dir, write

TEXT = ("The government said the new programs would help a big center grow. McAllister, who runs the centre, "
        "said McAllister's plan for the iPhone app would start in March, and the council agreed with him.")


def test_real_text_has_few_traces_and_attacked_text_many():
    texts = [TEXT, *(attack_texts(a, [TEXT], 3)[0] for a in ("upper_lower", "homoglyph", "zero_width"))]
    s = Obfuscation().score(pa.table({"text": texts})).to_pydict()
    clean = {c: v[0] for c, v in s.items()}
    # The repeated name and the brand are one or two distinct mixed-case words among 35: below the rule.
    assert 0 < clean["obfuscation.mixed_case"] < Obfuscation().max_mixed_case
    assert clean["obfuscation.mixed_script"] == clean["obfuscation.invisible"] == 0
    assert s["obfuscation.mixed_case"][1] > Obfuscation().max_mixed_case
    assert s["obfuscation.mixed_script"][2] > Obfuscation().max_mixed_script
    assert s["obfuscation.invisible"][3] > Obfuscation().max_invisible


def test_empty_text_scores_zero():
    s = Obfuscation().score(pa.table({"text": ["", "123 456"]})).to_pydict()
    assert all(v == [0.0, 0.0] for v in s.values())


def test_filter_removes_attacked_rows_although_the_defence_repairs_them(tmp_path):
    texts = [TEXT, attack_texts("zero_width", [TEXT], 0)[0], attack_texts("homoglyph", [TEXT], 0)[0]]
    write(tmp_path / "in" / "a.parquet", pa.table({"text": texts}))
    config = FilterConfig(detectors=(DetectorSpec("obfuscation"),))
    assert config.defend
    result = filterkit.run([str(tmp_path / "in")], tmp_path / "out", config)
    removed = read_dir(result.out / "removed").sort_by("source_row").to_pydict()
    assert removed["source_row"] == [1, 2]
    assert removed["filter_reason"] == ["obfuscation_invisible", "obfuscation_homoglyph"]
    assert read_dir(result.out / "kept")["text"].to_pylist() == [TEXT]


def test_no_shared_document_exceeds_the_default_thresholds(shared_data):
    det = Obfuscation()
    for name in ("human/wikitext2.parquet", "human/news_wiki_stories.parquet", "detect/open_models.parquet"):
        texts = pq.read_table(shared_data / name, columns=["text"])
        s = det.score(texts)
        for rule in det.default_rules():
            assert pc.max(s[rule.column]).as_py() <= rule.threshold, (name, rule.column)
