import pyarrow as pa
import pyarrow.dataset as ds

from filterkit.contract.detector import ROW, SHARD
from filterkit.contract.normalize import normalize_texts
from filterkit.contract.registry import build


def test_normalisation_folds_what_a_reader_cannot_see():
    out = normalize_texts(pa.array(["Ｆｕｌｌ\u200b width \t TEXT\n", " full width text", "Other"])).to_pylist()
    assert out == ["full width text", "full width text", "other"]


def test_first_in_corpus_order_survives(tmp_path):
    det = build("exact")
    texts = [["b", "A", "a "], ["c", "A"]]
    for shard, batch in enumerate(texts):
        keys = det.map(pa.table({"text": batch}))
        keys = keys.append_column(SHARD, pa.array([shard] * len(batch), pa.int32()))
        keys = keys.append_column(ROW, pa.array(range(len(batch)), pa.int64()))
        ds.write_dataset(keys, tmp_path / f"k{shard}", format="parquet")
    out = det.reduce(ds.dataset([str(p) for p in tmp_path.rglob("*.parquet")], format="parquet")).to_pylist()
    dup = {(r[SHARD], r[ROW]): (r["exact.is_duplicate"], r["exact.cluster_size"]) for r in out}
    assert dup == {(0, 0): (False, 1.0), (0, 1): (False, 3.0), (0, 2): (True, 3.0), (1, 0): (False, 1.0),
                   (1, 1): (True, 3.0)}
    assert all(isinstance(r["exact.is_duplicate"], bool) for r in out)
