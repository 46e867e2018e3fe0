"""MinHash near-duplicates: bulk shingling and signatures, the out-of-core reduce, keep policies, the pipeline."""
from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from datasketch import LeanMinHash, MinHash
from hypothesis import given
from hypothesis import strategies as st

from detectors.duplicates.minhash import MinHashDuplicates, union_find
from detectors.duplicates.shingles import EMPTY, MinHasher, Shingling
from filterkit import DetectorSpec, FilterConfig, run, score
from filterkit.contract import registry
from filterkit.contract.detector import ROW, SHARD
from tests.support.props import prop_settings

ZW = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad]")


def reference_words(text: str) -> list[str]:
    """The normalisation the detector documents, written plainly in Python."""
    text = ZW.sub("", unicodedata.normalize("NFKC", text)).lower()
    return "".join(" " if unicodedata.category(c)[0] in "PS" else c for c in text).split()


def reference_shingles(text: str, n: int = 5) -> set[tuple[str, ...]]:
    words = reference_words(text)
    if len(words) < n:
        return {tuple(words)} if words else set()
    return {tuple(words[i: i + n]) for i in range(len(words) - n + 1)}


def jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a | b else 1.0


def row_hashes(texts: list[str], shingling: Shingling | None = None) -> list[set[int]]:
    hashes, offsets = (shingling or Shingling()).hash_shingles(pa.array(texts))
    return [set(hashes[offsets[i]: offsets[i + 1]].tolist()) for i in range(len(texts))]


ARTICLE = (
    "The council approved plans on Tuesday for a new library in the town centre, after a two year campaign by "
    "residents who said the old building was no longer fit for purpose. The new library will include a cafe, "
    "a children's area and rooms for community groups, and is expected to open in the spring of next year. "
    "Councillor Jane Smith said the decision was a victory for local people, who had collected more than five "
    "thousand signatures. The project will cost about four million pounds, most of it from a national fund "
    "for public buildings, with the rest coming from the sale of the old site to a housing developer. Some "
    "residents raised concerns about parking and traffic during construction, which is due to begin in "
    "autumn. The council said it would publish a traffic plan before work starts and hold a public meeting "
    "to answer questions from shop owners in the high street."
)


def crawled_copy(text: str) -> str:
    """The same article as a crawler finds it again: a share line and copyright added, a few words edited."""
    edited = text.replace("Tuesday", "Wednesday").replace("five thousand", "six thousand")
    edited = edited.replace("about four million", "around four million")
    return edited + " Share this article on Facebook or Twitter. Copyright 2024 Local News Ltd. All rights reserved."


# --- shingling -------------------------------------------------------------------------------------------------


def test_word_shingles_match_a_plain_python_reference():
    texts = [ARTICLE, crawled_copy(ARTICLE), "Ｆｕｌｌ　ｗｉｄｔｈ ﬁne print here now",
             "wo\u200brd and don't stop—here... ok", "  leading and trailing   spaces, and a comma ,  ", "a b c d e",
             "a b c d e f", "UPPER lower MiXeD case"]
    mine = row_hashes(texts)
    ref = [reference_shingles(t) for t in texts]
    for i, t in enumerate(texts):
        assert len(mine[i]) == len(ref[i]), t
    for i in range(len(texts)):
        for j in range(len(texts)):
            assert jaccard(mine[i], mine[j]) == pytest.approx(jaccard(ref[i], ref[j])), (texts[i], texts[j])


@prop_settings(60)
@given(st.lists(st.lists(st.sampled_from(["a", "b", "c", "Dd", "e.", "-", "f'g", "ß", "ǅ"]), max_size=14),
                min_size=2, max_size=6))
def test_shingle_jaccard_equals_exact_jaccard(docs):
    texts = [" ".join(words) for words in docs]
    mine = row_hashes(texts, Shingling(ngram=3))
    ref = [reference_shingles(t, 3) for t in texts]
    for i in range(len(texts)):
        assert len(mine[i]) == len(ref[i])
        for j in range(i):
            assert jaccard(mine[i], mine[j]) == pytest.approx(jaccard(ref[i], ref[j]))


def test_short_and_empty_texts_have_defined_shingles():
    hashes, offsets = Shingling().hash_shingles(pa.array(["", "   ", "one", "two words", None, "---", "one"]))
    assert np.diff(offsets).tolist() == [0, 0, 1, 1, 0, 0, 1]
    assert hashes[offsets[2]] == hashes[offsets[6]] != hashes[offsets[3]]


@pytest.mark.parametrize("unit", ["word", "char"])
def test_texts_without_shingles_are_never_duplicates(unit, tmp_path):
    out = _reduce(MinHashDuplicates(unit=unit), [pa.table({"text": ["?!", "...", " -- ", "?!"]})], tmp_path)
    assert out["minhash.is_duplicate"].to_pylist() == [0, 0, 0, 0]
    assert out["minhash.cluster_size"].to_pylist() == [1, 1, 1, 1]


def test_char_shingles_count_characters_not_bytes():
    hashes, offsets = Shingling(ngram=3, unit="char").hash_shingles(pa.array(["abcdef", "äöüßé", "ab"]))
    assert np.diff(offsets).tolist() == [4, 3, 1]
    assert len(set(hashes[:4].tolist())) == 4


def test_word_order_matters_inside_a_shingle():
    a, b = row_hashes(["one two three", "three two one"], Shingling(ngram=3))
    assert a.isdisjoint(b)


# --- signatures -------------------------------------------------------------------------------------------------


def test_signatures_equal_datasketch_fed_the_same_shingle_hashes():
    hasher = MinHasher(num_perm=64, seed=7)
    texts = [ARTICLE, crawled_copy(ARTICLE), "one", "short text here"]
    hashes, offsets = hasher.shingling.hash_shingles(pa.array(texts))
    signatures = hasher.sign_hashes(hashes, offsets)
    for i in range(len(texts)):
        m = MinHash(num_perm=64, seed=7, hashfunc=lambda v: v)
        m.update_batch([int(h >> 32) for h in hashes[offsets[i]: offsets[i + 1]]])
        assert np.array_equal(m.hashvalues, signatures[i])
    lean = [LeanMinHash(seed=7, hashvalues=s, scheme="affine32") for s in signatures[:2]]
    assert lean[0].jaccard(lean[1]) == pytest.approx((signatures[0] == signatures[1]).mean())


def test_signatures_do_not_depend_on_batching_or_chunk_size():
    texts = [ARTICLE, "one", "", crawled_copy(ARTICLE), "x y z w v u"]
    whole, counts = MinHasher(chunk=16).sign(pa.array(texts))
    parts = np.vstack([MinHasher().sign(pa.array([t]))[0] for t in texts])
    assert np.array_equal(whole, parts)
    assert counts.tolist()[:3] == [counts[0], 1, 0]
    assert (whole[2] == EMPTY).all()


def test_estimated_jaccard_tracks_the_exact_one():
    words = ARTICLE.split()
    rng = np.random.default_rng(0)
    hasher = MinHasher(num_perm=256)
    for keep in (0.95, 0.8, 0.6, 0.3):
        edited = [w if rng.random() < keep else "zz" + w for w in words]
        texts = [ARTICLE, " ".join(edited)]
        sig, _ = hasher.sign(pa.array(texts))
        exact = jaccard(*[reference_shingles(t) for t in texts])
        assert abs((sig[0] == sig[1]).mean() - exact) < 0.1


# --- clustering -------------------------------------------------------------------------------------------------


@prop_settings(50)
@given(st.integers(1, 40).flatmap(lambda n: st.tuples(
    st.just(n), st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=60))))
def test_union_find_labels_each_component_by_its_smallest_node(case):
    n, pairs = case
    labels = union_find(n, np.array(pairs, dtype=np.int64).reshape(-1, 2))
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            x = parent[x]
        return x

    for u, v in pairs:
        ru, rv = find(u), find(v)
        parent[max(ru, rv)] = min(ru, rv)
    assert labels.tolist() == [find(x) for x in range(n)]


def _reduce(det: MinHashDuplicates, tables: list[pa.Table], tmp_path: Path) -> pa.Table:
    """Run map per 'shard' and reduce over the written key files, as the pipeline does."""
    files = []
    for shard, table in enumerate(tables):
        keys = det.map(table)
        keys = keys.append_column(SHARD, pa.array(np.full(table.num_rows, shard, np.int32)))
        keys = keys.append_column(ROW, pa.array(np.arange(table.num_rows, dtype=np.int64)))
        path = tmp_path / f"keys-{shard}.parquet"
        pq.write_table(keys, path, row_group_size=3)
        files.append(str(path))
    return det.reduce(ds.dataset(files, format="parquet"))


def test_reduce_clusters_across_shards_and_keeps_the_first(tmp_path):
    other = "A completely different story about a cat who learned to open the fridge door at night and ate cheese."
    shard0 = pa.table({"text": [ARTICLE, other, "one", "one"]})
    shard1 = pa.table({"text": ["unrelated words that share nothing with the rest of this small corpus at all",
                                crawled_copy(ARTICLE)]})
    out = _reduce(MinHashDuplicates(), [shard0, shard1], tmp_path)
    assert out.column_names == [SHARD, ROW, "minhash.cluster_id", "minhash.cluster_size", "minhash.is_duplicate"]
    assert out[SHARD].to_pylist() == [0, 0, 0, 0, 1, 1]
    assert out["minhash.cluster_id"].to_pylist() == [0, 1, 2, 2, 4, 0]
    assert out["minhash.cluster_size"].to_pylist() == [2, 1, 2, 2, 1, 2]
    assert out["minhash.is_duplicate"].to_pylist() == [False, False, False, True, False, True]
    # An identifier is an integer and a flag a boolean (JSON Lines outputs write 4 and true, not 4.0 and 1.0).
    assert out.schema.types[2:] == [pa.int64(), pa.float64(), pa.bool_()]


def test_keep_longest_and_most_human(tmp_path):
    copy = crawled_copy(ARTICLE)
    table = pa.table({"text": [ARTICLE, copy, "filler text number one with enough words to shingle"],
                      "classifier.p_machine": [0.9, 0.2, 0.5]})
    longest = _reduce(MinHashDuplicates(keep="longest"), [table], tmp_path)
    assert longest["minhash.is_duplicate"].to_pylist() == [1, 0, 0]
    human = _reduce(MinHashDuplicates(keep="most_human"), [table], tmp_path)
    assert human["minhash.is_duplicate"].to_pylist() == [1, 0, 0]
    det = MinHashDuplicates(keep="most_human")
    assert det.requires == ("classifier.p_machine",)
    no_scores = _reduce(det, [table.drop_columns(["classifier.p_machine"])], tmp_path)
    assert no_scores["minhash.is_duplicate"].to_pylist() == [0, 1, 0]


def test_without_verification_lsh_buckets_alone_decide(tmp_path):
    table = pa.table({"text": [ARTICLE, crawled_copy(ARTICLE), ARTICLE]})
    out = _reduce(MinHashDuplicates(verify=False), [table], tmp_path)
    assert out["minhash.is_duplicate"].to_pylist() == [0, 1, 1]
    assert "sig" not in MinHashDuplicates(verify=False).map(table).column_names


def test_bad_parameters_are_refused():
    with pytest.raises(ValueError, match="keep"):
        MinHashDuplicates(keep="best")
    with pytest.raises(ValueError, match="lsh_weights"):
        MinHashDuplicates(lsh_weights=(0.5,))
    with pytest.raises(ValueError, match="threshold"):
        MinHashDuplicates(threshold=0)
    with pytest.raises(ValueError, match="do not fit"):
        MinHashDuplicates(bands=20, rows=10)
    with pytest.raises(ValueError, match="unit"):
        MinHashDuplicates(unit="sentence")
    with pytest.raises(ValueError, match="bad parameters"):
        registry.build("minhash", {"shingle": 3})


def test_construction_keeps_the_parameters_as_given():
    # A config gives a list: it stays a list (get_params returns what was passed), the bands derive from it.
    det = MinHashDuplicates(lsh_weights=[0.1, 0.9])
    assert det.lsh_weights == [0.1, 0.9] and det.get_params()["lsh_weights"] == [0.1, 0.9]
    assert det.band_shape == MinHashDuplicates().band_shape


def test_bands_follow_the_threshold():
    loose, strict = MinHashDuplicates(threshold=0.5).band_shape, MinHashDuplicates(threshold=0.9).band_shape
    assert loose[1] < strict[1]
    assert MinHashDuplicates(bands=16, rows=8).band_shape == (16, 8)


# --- the defaults on realistic cases ----------------------------------------------------------------------------


def test_defaults_catch_a_crawled_copy_at_jaccard_075(tmp_path):
    exact = jaccard(reference_shingles(ARTICLE), reference_shingles(crawled_copy(ARTICLE)))
    assert 0.7 < exact < 0.8
    out = _reduce(MinHashDuplicates(), [pa.table({"text": [ARTICLE, crawled_copy(ARTICLE)]})], tmp_path)
    assert out["minhash.is_duplicate"].to_pylist() == [0, 1]


def test_defaults_never_merge_human_machine_twins(shared_data, tmp_path):
    pairs = pq.read_table(shared_data / "detect" / "open_models.parquet").to_pandas()
    pairs = pairs[pairs["pair_id"].str.endswith(("/0", "/1", "/2", "/3", "/4", "/5", "/6", "/7"))]
    pairs = pairs[pairs["pair_id"].str.contains("gpt2-xl")].sort_values(["pair_id", "label"])
    table = pa.table({"text": pairs["text"].tolist()})
    out = _reduce(MinHashDuplicates(), [table], tmp_path).to_pandas()
    cluster = dict(zip(zip(pairs["pair_id"], pairs["label"], strict=True), out["minhash.cluster_id"], strict=True))
    pair_ids = pairs["pair_id"].unique()
    assert len(pair_ids) == 24
    assert all(cluster[(p, "human")] != cluster[(p, "machine")] for p in pair_ids)


# --- end to end -------------------------------------------------------------------------------------------------


def _corpus(tmp_path: Path) -> list[str]:
    other = [f"Story number {i} tells of a {w} who walked {i} miles to the {p} and found a {x} waiting there "
             f"for {i} days under the old bridge by the river."
             for i, (w, p, x) in enumerate(zip(["fox", "girl", "farmer", "clerk", "poet"],
                                               ["sea", "hills", "market", "station", "castle"],
                                               ["letter", "horse", "key", "lamp", "coin"], strict=True))]
    a = pa.table({"text": [ARTICLE, other[0], other[1], "", "word", crawled_copy(ARTICLE)]})
    b = pa.table({"text": [other[2], crawled_copy(ARTICLE) + " Updated.", other[3], "word", "?!", other[4]]})
    pq.write_table(a, tmp_path / "a.parquet")
    pq.write_table(b, tmp_path / "b.parquet")
    return [str(tmp_path / "a.parquet"), str(tmp_path / "b.parquet")]


def test_pipeline_removes_planted_near_duplicates_across_files(tmp_path):
    inputs = _corpus(tmp_path)
    result = run(inputs, tmp_path / "out", FilterConfig(detectors=(DetectorSpec("minhash"),), rows_per_shard=2,
                                                        batch_size=2))
    removed = pq.read_table(tmp_path / "out" / "removed").to_pandas()
    got = sorted(zip(removed["source_file"], removed["source_row"], strict=True))
    assert got == [("a.parquet", 5), ("b.parquet", 1), ("b.parquet", 3)]
    assert set(removed["filter_reason"]) == {"near_duplicate"}
    assert result.report["counts"]["quarantined"] == 1  # the empty text; "?!" has no shingle but is kept
    kept = pq.read_table(tmp_path / "out" / "kept").to_pandas()
    assert len(kept) == 8 and {"minhash.cluster_id", "minhash.cluster_size"} <= set(kept.columns)


def test_score_mode_tags_every_row_with_the_columns(tmp_path):
    inputs = _corpus(tmp_path)
    score(inputs, tmp_path / "out", FilterConfig(detectors=(DetectorSpec("minhash", {"keep": "longest"}),)))
    table = pq.read_table(tmp_path / "out" / "kept").to_pandas()
    article_cluster = table[table["minhash.cluster_size"] == 3]
    assert len(article_cluster) == 3
    keep = article_cluster[article_cluster["filter_decision"] == "keep"]
    assert keep["text"].str.len().tolist() == [article_cluster["text"].str.len().max()]


@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.6, 0.7, 0.8, 0.9])
@pytest.mark.parametrize("weights", [(0.5, 0.5), (0.1, 0.9)])
def test_band_choice_equals_datasketch_optimiser(threshold, weights):
    from datasketch.lsh import _optimal_param

    from detectors.duplicates.minhash import lsh_params

    assert lsh_params(threshold, 128, *weights) == tuple(_optimal_param(threshold, 128, *weights))


def test_hashing_is_pinned_so_stored_indexes_stay_comparable():
    # A failure here means every stored replay index is incomparable: bump MinHasher.scheme with the change.
    text = pa.array(["The quick brown fox jumps over the lazy dog."])
    hashes, _ = Shingling().hash_shingles(text)
    assert hashes.tolist() == [8063082698889927233, 7595718810594798842, 410393952550689934, 7413243983850447139,
                               6390070600075255498]
    assert MinHasher().sign(text)[0][0, :4].tolist() == [716318199, 546177111, 1324986948, 1948445864]
    assert MinHasher().scheme == "filterkit-poly64-v1/datasketch-affine32"


def test_homoglyphs_and_zero_width_characters_do_not_hide_a_copy():
    disguised = ARTICLE.replace("a", "\u0430").replace("o", "\u03bf").replace(" ", " \u200b", 20)
    plain, masked = row_hashes([ARTICLE, disguised])
    assert plain == masked
    chars = row_hashes([ARTICLE, disguised], Shingling(unit="char"))
    assert chars[0] == chars[1]


@prop_settings(30)
@given(st.lists(st.text(alphabet="aAeEoOpPcCxX аеорсхАЕОРСХ\u200b\u00adtThH.,", min_size=0, max_size=60),
                min_size=1, max_size=6))
def test_minhash_signs_the_same_with_or_without_the_shared_defence(texts):
    # Why a minhash-only run may skip the defence pass (defends_itself): its normaliser applies it and folds case.
    from filterkit.contract.normalize import defend_texts

    hasher = MinHashDuplicates().params.hasher()
    raw = hasher.sign(pa.array(texts))
    defended = hasher.sign(pa.array(defend_texts(pa.array(texts))))
    assert all(np.array_equal(a, b) for a, b in zip(raw, defended, strict=True))
    assert MinHashDuplicates().defends_itself and not MinHashDuplicates(lowercase=False).defends_itself
