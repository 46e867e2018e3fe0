"""Large-star / small-star connected components and the spread MinHash reduce agree with one-process union-find."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from hypothesis import given
from hypothesis import strategies as st

from detectors.duplicates.components import read_labels, star_components, start
from detectors.duplicates.minhash import MinHashDuplicates, union_find
from filterkit.contract.detector import ROW, SHARD, ReduceContext
from filterkit.engine.executors import LocalExecutor, TaskFailure
from tests.support.near_duplicates import near_duplicate_corpus
from tests.support.props import prop_settings


def in_process(fn, items):
    return [fn(i) for i in items]


def star_labels(n: int, edges: np.ndarray, partitions: int, work: Path) -> np.ndarray:
    start(work, edges[:, 0], edges[:, 1], "test", partitions)
    return read_labels(star_components(work, partitions, in_process), n)


@prop_settings(40)
@given(st.integers(1, 60).flatmap(lambda n: st.tuples(
    st.just(n), st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=90),
    st.integers(1, 5))))
def test_star_components_equal_union_find(tmp_path_factory, case):
    n, pairs, partitions = case
    edges = np.array(pairs, dtype=np.int64).reshape(-1, 2)
    labels = star_labels(n, edges, partitions, tmp_path_factory.mktemp("cc"))
    assert labels.tolist() == union_find(n, edges).tolist()


def test_a_long_shuffled_path_becomes_one_star(tmp_path):
    # A path is the slowest shape for label propagation; the stars need only a few rounds.
    order = np.random.default_rng(0).permutation(5000)
    edges = np.stack([order[:-1], order[1:]], axis=1)
    labels = star_labels(5000, edges, 4, tmp_path)
    assert (labels == 0).all()
    assert len(list(tmp_path.glob("r*-large"))) <= 2  # earlier rounds are deleted as the loop goes


def _keys(det: MinHashDuplicates, texts: list[str], shards: int, root: Path) -> list[str]:
    files = []
    for s, part in enumerate(np.array_split(np.arange(len(texts)), shards)):
        keys = det.map(pa.table({"text": [texts[i] for i in part]}))
        keys = keys.append_column(SHARD, pa.array(np.full(len(part), s, np.int32)))
        keys = keys.append_column(ROW, pa.array(np.arange(len(part), dtype=np.int64)))
        files.append(str(root / f"keys-{s}.parquet"))
        pq.write_table(keys, files[-1])
    return files


def scratch(path: Path) -> Path:
    path.mkdir(parents=True)
    return path


def test_spread_reduce_equals_reduce(shared_data, tmp_path):
    texts = near_duplicate_corpus(shared_data)
    for i, det in enumerate((MinHashDuplicates(), MinHashDuplicates(keep="longest", verify=False))):
        files = _keys(det, texts, 3, tmp_path)
        local = det.reduce(ds.dataset(files, format="parquet"))
        spread = det.reduce_parallel(ReduceContext(tuple(files), scratch(tmp_path / f"work{i}"), 3, in_process))
        assert spread.equals(local)
        assert 100 < (local["minhash.is_duplicate"].to_numpy() == 1).sum() < 200


def test_spread_reduce_in_a_process_pool(shared_data, tmp_path):
    texts = near_duplicate_corpus(shared_data)
    det = MinHashDuplicates()
    files = _keys(det, texts, 2, tmp_path)
    executor = LocalExecutor(workers=2)

    def pool(fn, items):
        results = list(executor.map_unordered(fn, items))
        assert not any(isinstance(r, TaskFailure) for r in results)
        return results

    spread = det.reduce_parallel(ReduceContext(tuple(files), scratch(tmp_path / "work"), 4, pool))
    assert spread.equals(det.reduce(ds.dataset(files, format="parquet")))
