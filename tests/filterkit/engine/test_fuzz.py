"""Fuzzing: random Unicode and damaged Parquet files never crash a run, and every readable row is accounted for."""
import tempfile
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import given
from hypothesis import strategies as st

import filterkit
from filterkit import FilterConfig
from filterkit.engine.pipeline import UsageError
from tests.support.props import prop_settings

damage = st.one_of(
    st.just(("none", 0, 0)),
    st.tuples(st.just("truncate"), st.floats(0.0, 1.0), st.just(0)),
    st.tuples(st.just("flip"), st.floats(0.0, 1.0), st.integers(1, 255)),
    st.tuples(st.just("garbage"), st.just(0.0), st.integers(0, 2000)),
)


def damaged(path: Path, how: tuple) -> None:
    kind, where, value = how
    data = bytearray(path.read_bytes())
    if kind == "truncate":
        data = data[: int(where * len(data))]
    elif kind == "flip":
        data[min(len(data) - 1, int(where * len(data)))] ^= value
    elif kind == "garbage":
        data = bytearray(b"PAR1" + bytes(range(256)) * (value // 256 + 1))[: value + 4]
    path.write_bytes(bytes(data))


@prop_settings(40, shrink=False)
@given(files=st.lists(st.tuples(st.lists(st.one_of(st.none(), st.text(max_size=60)), max_size=30), damage),
                      min_size=1, max_size=3),
       codec=st.sampled_from(["zstd", "snappy", "none"]))
def test_random_text_and_damaged_files(files, codec):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "in"
        root.mkdir()
        for i, (texts, how) in enumerate(files):
            path = root / f"f{i}.parquet"
            pq.write_table(pa.table({"text": pa.array(texts, pa.string())}), path, row_group_size=7, compression=codec)
            damaged(path, how)
        try:
            result = filterkit.run([str(root)], Path(tmp) / "out", FilterConfig(rows_per_shard=7, max_text_bytes=100))
        except UsageError:
            # Only a real usage error may stop a run: a damage that renamed the text column in every file whose
            # schema still reads (a damaged file the run cannot read at all never counts as a usage error).
            assert all("text" not in names for names in readable_schemas(root)), "usage error on readable text"
            return
        c = result.report["counts"]
        assert result.report["conservation"]["holds"], result.report["conservation"]["statement"]
        assert c["kept"] + c["removed"] + c["quarantined"] + c["unreadable_rows"] == c["rows_in"]
        undamaged = sum(len(t) for t, how in files if how[0] == "none")
        assert c["rows_in"] >= undamaged


def readable_schemas(root: Path) -> list[list[str]]:
    """Column names of every file whose footer pyarrow can read and decode, with at least one row."""
    names = []
    for path in sorted(root.glob("*.parquet")):
        try:
            meta = pq.read_metadata(path)
            if meta.num_rows:
                names.append(meta.schema.to_arrow_schema().names)
        except (OSError, ValueError, pa.ArrowException):
            continue
    return names


def test_a_row_group_whose_damaged_footer_counts_negative_rows_fails_that_file(tmp_path):
    """Found by ``make fuzz``: a flipped byte gave a row group -63 rows, and rows_in came out negative."""
    root = tmp_path / "in"
    root.mkdir()
    pq.write_table(pa.table({"text": pa.array(["ok", "fine"], pa.string())}), root / "a.parquet")
    path = root / "b.parquet"
    pq.write_table(pa.table({"text": pa.array([""], pa.string())}), path, row_group_size=7, compression="none")
    damaged(path, ("flip", 0.4189657304366693, 127))
    result = filterkit.run([str(root)], tmp_path / "out", FilterConfig(rows_per_shard=7, max_text_bytes=100))
    c = result.report["counts"]
    assert result.report["conservation"]["holds"] and c["rows_in"] == 3 and c["unreadable_rows"] == 1
    assert [f["source"] for f in result.report["files_failed"]] == ["b.parquet"] and not result.ok
