"""Local file names are never URIs (a ``?`` or ``#`` is part of the name), every file found is counted, and a JSON
field's type is fixed for the whole run: a line whose value does not fit goes to quarantine, at any batch boundary."""
from __future__ import annotations

import gzip
import json
import tempfile
from pathlib import Path
from unittest import mock

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from hypothesis import assume, example, given
from hypothesis import strategies as st

import filterkit
from filterkit import DetectorSpec, FilterConfig
from filterkit.io import readers
from filterkit.io.sources import discover
from filterkit.testing.corpora import read_dir, write
from tests.support.props import prop_settings

EXACT = FilterConfig(detectors=(DetectorSpec("exact"),))


def _lines(path: Path, records: list[object], gz: bool = False) -> None:
    data = "".join(json.dumps(r) + "\n" for r in records).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data, mtime=0) if gz else data)


def _landed(out: Path) -> list[tuple[str, int]]:
    tables = [read_dir(out / part) for part in ("kept", "removed", "quarantine")]
    return sorted((r["source_file"], r["source_row"]) for t in tables if t.num_rows
                  for r in t.select(["source_file", "source_row"]).to_pylist())


def test_a_local_name_with_a_question_mark_is_read(tmp_path):
    """``b?v=2.jsonl`` and ``c?.parquet.jsonl`` were cut at ``?`` as if it began a URI query, and dropped unseen."""
    names = ["a.jsonl", "b?v=2.jsonl", "c?.parquet.jsonl"]
    for name in names:
        _lines(tmp_path / "in" / name, [{"text": f"{name} line {i}"} for i in range(10)])
    result = filterkit.run([str(tmp_path / "in")], tmp_path / "o", EXACT)
    assert result.ok and result.report["counts"]["rows_in"] == 30 and result.report["conservation"]["holds"]
    assert _landed(tmp_path / "o") == sorted((n, i) for n in names for i in range(10))


# Names as people and crawlers make them: URI punctuation, spaces, glob and control characters, any unicode.
PUNCTUATION = st.sampled_from(list("?#%&=:;[]*{}~ '\"\\\t\n\x1b+,@!$()ab1é日"))
NAME_CHARS = st.one_of(PUNCTUATION, PUNCTUATION,
                       st.characters(codec="utf-8", exclude_categories=["Cs"], exclude_characters="/\x00"))
names = st.text(NAME_CHARS, min_size=1, max_size=16).filter(lambda n: not n.startswith((".", "_")))


@prop_settings(15, shrink=False)
@example(stems=["b?v=2", "c?", "d#frag", "e%20f g"], suffixes=[".jsonl", ".parquet.jsonl", ".jsonl.gz", ".parquet"],
         explicit=False)
@example(stems=["a?b", "x[1]*", "\\\x1bq\té"], suffixes=[".jsonl", ".parquet", ".jsonl.gz", ".jsonl"], explicit=True)
@given(stems=st.lists(names, min_size=1, max_size=4, unique=True),
       suffixes=st.lists(st.sampled_from([".jsonl", ".jsonl.gz", ".parquet", ".parquet.jsonl"]), min_size=4,
                         max_size=4),
       explicit=st.booleans())
def test_every_file_found_is_read_whatever_its_name(stems, suffixes, explicit):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "in"
        files = {}
        for stem, suffix in zip(stems, suffixes, strict=False):
            name = stem + suffix
            rows = [{"text": f"{name!r} row {i}"} for i in range(3)]
            if suffix == ".parquet":
                write(root / name, pa.table({"text": [r["text"] for r in rows]}), 2)
            else:
                _lines(root / name, rows, gz=suffix.endswith(".gz"))
            files[name] = len(rows)
        inputs = [str(root / n) for n in files] if explicit else [str(root)]
        assert sorted(f.source for f in discover(inputs)) == sorted(files)
        result = filterkit.run(inputs, Path(tmp) / "out", EXACT.replace(rows_per_shard=2))
        assert result.ok and result.report["conservation"]["holds"], result.report
        assert result.report["counts"]["rows_in"] == sum(files.values())
        assert _landed(Path(tmp) / "out") == sorted((n, i) for n, k in files.items() for i in range(k))


def test_a_json_type_change_after_a_batch_is_quarantined_not_a_failed_shard(tmp_path):
    """1,024 lines with ``"n": 1`` and one with ``"n": "x"`` failed all 1,025 rows, again on every --resume."""
    records = [{"text": f"line {i}", "n": 1} for i in range(1024)] + [{"text": "last", "n": "x"}]
    _lines(tmp_path / "in" / "x.jsonl", records)
    for rows_per_shard in (50_000, 1024):
        out = tmp_path / f"o{rows_per_shard}"
        result = filterkit.run([str(tmp_path / "in")], out, EXACT.replace(rows_per_shard=rows_per_shard))
        c = result.report["counts"]
        assert result.ok and (c["kept"], c["quarantined"], c["failed_rows"]) == (1024, 1, 0), result.report
        (row,) = read_dir(out / "quarantine").to_pylist()
        assert row["quarantine_reason"] == "json_types" and row["source_row"] == 1024
        assert "x.jsonl line 1025: field 'n' is a JSON string here" in row["quarantine_error"]
        assert "int64" in row["quarantine_error"] and row["quarantine_raw"] == b'{"text": "last", "n": "x"}'
        kept = ds.dataset(str(out / "kept"), format="parquet").to_table()  # every part, read as one dataset
        assert kept.num_rows == 1024 and kept.schema.field("n").type == pa.int64()


def test_text_is_a_string_whatever_the_first_lines_hold(tmp_path):
    records = [{"text": i} for i in range(3)] + [{"text": f"words {i}"} for i in range(2)]
    _lines(tmp_path / "in" / "x.jsonl", records)
    result = filterkit.run([str(tmp_path / "in")], tmp_path / "o", EXACT)
    assert result.report["quarantine_reasons"] == {"not_text": 3} and result.report["counts"]["kept"] == 2


def test_a_field_the_first_lines_gave_no_type_is_kept_as_its_json_text(tmp_path):
    records = [{"text": f"doc {i}", "tags": None} for i in range(3)] + [
        {"text": "doc 3", "tags": ["a"], "extra": 5}, {"text": "doc 4", "tags": "b", "extra": {"k": 1}}]
    _lines(tmp_path / "in" / "x.jsonl", records)
    with mock.patch.object(readers, "_SCHEMA_SAMPLE_LINES", 3):
        result = filterkit.run([str(tmp_path / "in")], tmp_path / "o", EXACT.replace(rows_per_shard=1))
    assert result.ok and result.report["counts"]["kept"] == 5
    parts = sorted(str(p) for p in (tmp_path / "o" / "kept").glob("*.parquet"))
    schema = pa.unify_schemas([pq.read_schema(p) for p in parts])  # no promotion: the types agree
    kept = ds.dataset(parts, schema=schema, format="parquet").to_table().to_pylist()
    assert {r["source_row"]: (r["tags"], r["extra"]) for r in kept} == {
        0: (None, None), 1: (None, None), 2: (None, None), 3: ('["a"]', "5"), 4: ("b", '{"k":1}')}


KINDS = {
    "int": st.integers(-1000, 1000),
    "float": st.floats(-1e6, 1e6, allow_nan=False).filter(lambda x: not x.is_integer()),
    "str": st.text(max_size=4),
    "bool": st.booleans(),
    "list": st.lists(st.integers(0, 9), min_size=1, max_size=3),
    "obj": st.fixed_dictionaries({"k": st.integers(0, 9)}),
}
FITS = {"int": {"int"}, "float": {"int", "float"}, "str": {"str"}, "bool": {"bool"}, "list": {"list"},
        "obj": {"obj"}}
"""What each fixed kind takes besides null and a missing field."""


@st.composite
def typed_lines(draw: st.DrawFn) -> tuple[str, int, list[tuple[str, object]]]:
    fixed = draw(st.sampled_from(sorted(KINDS)))
    sample = draw(st.integers(1, 4))
    head = [(fixed, draw(KINDS[fixed])) for _ in range(sample)]
    later = draw(st.lists(st.sampled_from([*KINDS, "null", "missing"]), min_size=1, max_size=14))
    tail = [(k, None if k in ("null", "missing") else draw(KINDS[k])) for k in later]
    return fixed, sample, head + tail


@prop_settings(30, shrink=False)
@given(case=typed_lines(), batch_size=st.integers(1, 5), rows_per_shard=st.integers(1, 7), gz=st.booleans())
def test_json_type_changes_at_any_batch_boundary(case, batch_size, rows_per_shard, gz):
    fixed, sample, lines = case
    assume(any(k not in FITS[fixed] | {"null", "missing"} for k, _ in lines))
    records = [{"text": f"doc {i}", **({} if k == "missing" else {"n": v})} for i, (k, v) in enumerate(lines)]
    with tempfile.TemporaryDirectory() as tmp, mock.patch.object(readers, "_SCHEMA_SAMPLE_LINES", sample):
        name = "x.jsonl.gz" if gz else "x.jsonl"
        _lines(Path(tmp) / "in" / name, records, gz)
        cfg = EXACT.replace(batch_size=batch_size, rows_per_shard=rows_per_shard)
        result = filterkit.run([str(Path(tmp) / "in")], Path(tmp) / "out", cfg)
        out = Path(tmp) / "out"
        assert result.ok and result.report["conservation"]["holds"], result.report
        assert _landed(out) == [(name, i) for i in range(len(lines))]
        misfits = [i for i, (k, _) in enumerate(lines) if k not in FITS[fixed] | {"null", "missing"}]
        quarantine = read_dir(out / "quarantine").to_pylist()
        assert sorted(r["source_row"] for r in quarantine) == misfits
        assert {r["quarantine_reason"] for r in quarantine} == {"json_types"}
        parts = sorted((out / "kept").glob("*.parquet"))
        schemas = [pq.read_schema(p).remove_metadata() for p in parts]
        assert all(s.equals(schemas[0]) for s in schemas), schemas  # one schema for every part
        kept = ds.dataset([str(p) for p in parts], format="parquet").to_table().to_pylist()
        assert {r["source_row"]: r["n"] for r in kept} == {
            i: v for i, (k, v) in enumerate(lines) if i not in misfits}  # values as written (1 == 1.0)
        if any(k == "float" for k, _ in lines[:sample]) or fixed == "float":
            assert schemas[0].field("n").type == pa.float64()
