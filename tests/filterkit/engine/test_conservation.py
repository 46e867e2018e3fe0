"""Randomised corpora, corrupt files included: every row ends in exactly one place."""
import tempfile
from pathlib import Path

import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st

import filterkit
from filterkit import FilterConfig
from filterkit.testing.corpora import read_dir, write
from tests.support.props import prop_settings

texts = st.one_of(
    st.none(),
    st.text(max_size=40),
    st.sampled_from(["dup one", "DUP  one", "", "   ", "x\x00y", "\u200bdup one"]),
)
files = st.lists(st.lists(texts, min_size=0, max_size=25), min_size=1, max_size=4)


# No shrinking: each example is a whole pipeline run, and the failing example is printed either way.
@prop_settings(25, shrink=False)
@given(files=files, corrupt=st.booleans(), rows_per_shard=st.integers(1, 12), mode=st.sampled_from(["drop", "tag"]))
def test_rows_in_equals_kept_removed_quarantined(files, corrupt, rows_per_shard, mode):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "in"
        for i, rows in enumerate(files):
            table = pa.table({"text": pa.array(rows, pa.string()), "i": list(range(len(rows)))})
            write(root / f"f{i}.parquet", table, 3)
        if corrupt:
            (root / "zz.parquet").write_bytes(b"PAR1\x00garbage")
        cfg = FilterConfig(rows_per_shard=rows_per_shard, max_text_bytes=30, mode=mode)
        result = filterkit.run([str(root)], Path(tmp) / "out", cfg)
        c = result.report["counts"]
        assert c["rows_in"] == sum(len(r) for r in files)
        assert c["unreadable_rows"] == 0
        assert c["kept"] + c["removed"] + c["quarantined"] == c["rows_in"]
        seen = [(r["source_file"], r["i"]) for part in ("kept", "removed", "quarantine")
                for r in read_dir(result.out / part).to_pylist()]
        assert sorted(seen) == sorted((f"f{i}.parquet", j) for i, rows in enumerate(files) for j in range(len(rows)))
        assert [f["source"] for f in result.report["files_failed"]] == (["zz.parquet"] if corrupt else [])
