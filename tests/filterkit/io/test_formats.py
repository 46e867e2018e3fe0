"""Input formats beyond plain Parquet: encoded text columns, JSON Lines (plain, gzip, zstd), datasets directories,
nested text columns, JSON Lines output, and an output directory inside the input directory."""
import gzip
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

import filterkit
from cli import app
from filterkit import DetectorSpec, FilterConfig
from filterkit.testing.corpora import read_dir, tree_bytes, write
from tests.support.props import prop_settings

zstandard = pytest.importorskip("zstandard", reason="zstandard writes the .jsonl.zst inputs")
runner = CliRunner()
EXACT = FilterConfig(detectors=(DetectorSpec("exact"),))


def _jsonl(path, records, compress=None):
    data = "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records).encode()
    data = {None: lambda b: b, "gz": gzip.compress, "zst": zstandard.compress}[compress](data)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _texts(table):
    return sorted(table["text"].to_pylist()) if table.num_rows else []


RECORDS = [{"text": f"document number {i}", "n": i} for i in range(6)] + [{"text": "document number 0", "n": 9}]


@pytest.mark.parametrize("kind", ["dictionary", "large_string", "string_view"])
def test_encoded_text_columns_are_text(tmp_path, kind):
    texts = pa.array([f"doc {i}" for i in range(5)] + ["doc 0"])
    column = {"dictionary": texts.dictionary_encode(), "large_string": texts.cast(pa.large_string()),
              "string_view": texts.cast(pa.string_view())}[kind]
    write(tmp_path / "in" / "x.parquet", pa.table({"text": column}))
    result = filterkit.run([str(tmp_path / "in")], tmp_path / "o", EXACT)
    c = result.report["counts"]
    assert (c["quarantined"], c["kept"], c["removed"]) == (0, 5, 1), result.report["quarantine_reasons"]


def test_output_inside_the_input_directory_is_never_input(tmp_path):
    write(tmp_path / "data" / "a.parquet", pa.table({"text": ["x y", "x y", "z"]}))
    args = ["filter", str(tmp_path / "data"), "-o", str(tmp_path / "data" / "out"), "--detectors", "exact"]
    assert runner.invoke(app, args).exit_code == 0
    before = tree_bytes(tmp_path / "data" / "out")
    assert before
    again = runner.invoke(app, [*args, "--resume"])
    assert again.exit_code == 0, again.output
    report = json.loads((tmp_path / "data" / "out" / "report.json").read_text())
    assert report["counts"]["rows_in"] == 3
    assert tree_bytes(tmp_path / "data" / "out") == before


@pytest.mark.parametrize("compress", [None, "gz", "zst"])
def test_jsonl_inputs_with_bad_lines(tmp_path, compress):
    lines = [*RECORDS[:3], "{not json", "", RECORDS[3], "[1, 2]", {"text": None}, {"text": 5}, *RECORDS[4:]]
    suffix = {None: ".jsonl", "gz": ".jsonl.gz", "zst": ".jsonl.zst"}[compress]
    _jsonl(tmp_path / "in" / f"crawl{suffix}", lines, compress)
    result = filterkit.run([str(tmp_path / "in")], tmp_path / "o", EXACT.replace(rows_per_shard=4, batch_size=3))
    c = result.report["counts"]
    assert result.report["conservation"]["holds"] and result.ok
    assert c["rows_in"] == len(lines) == c["kept"] + c["removed"] + c["quarantined"]
    assert (c["kept"], c["removed"]) == (6, 1)
    quarantine = read_dir(tmp_path / "o" / "quarantine")
    by_row = {r["source_row"]: r for r in quarantine.to_pylist()}
    assert sorted(by_row) == [3, 4, 6, 7, 8]
    assert by_row[3]["quarantine_reason"] == "malformed_json"
    assert f"crawl{suffix} line 4: malformed JSON line" in by_row[3]["quarantine_error"]
    assert by_row[3]["quarantine_raw"] == b"{not json"
    assert by_row[4]["quarantine_reason"] == "malformed_json" and "line 5" in by_row[4]["quarantine_error"]
    assert "JSON list, not an object" in by_row[6]["quarantine_error"]
    assert by_row[7]["quarantine_reason"] == "null_text"
    assert by_row[8]["quarantine_reason"] == "not_text" and "text is a JSON number" in by_row[8]["quarantine_error"]
    kept = read_dir(tmp_path / "o" / "kept")
    assert kept.schema.field("n").type == pa.int64()
    assert read_dir(tmp_path / "o" / "removed")["n"].to_pylist() == [9]
    assert sorted(kept["n"].to_pylist()) == [0, 1, 2, 3, 4, 5]


def test_compressed_and_plain_jsonl_give_the_same_rows(tmp_path):
    records = [{"text": f"text {i % 40} of many", "meta": {"url": f"u{i}"}} for i in range(100)]
    outs = {}
    for compress, suffix in ((None, ".jsonl"), ("gz", ".jsonl.gz"), ("zst", ".jsonl.zst")):
        _jsonl(tmp_path / compress.__str__() / f"c{suffix}", records, compress)
        result = filterkit.run([str(tmp_path / str(compress))], tmp_path / f"o-{compress}",
                               EXACT.replace(rows_per_shard=17, batch_size=5))
        assert result.report["shards"] == 6
        outs[compress] = [(r["source_row"], r["text"], r["meta"]["url"]) for r in
                          read_dir(tmp_path / f"o-{compress}" / "kept").to_pylist()]
    assert len(outs[None]) == 40
    assert outs[None] == outs["gz"] == outs["zst"]


def test_truncated_compressed_file_keeps_the_rows_before_the_break(tmp_path):
    records = [{"text": f"line {i} " + "x" * (i % 97)} for i in range(20_000)]
    path = _jsonl(tmp_path / "in" / "c.jsonl.gz", records, "gz")
    path.write_bytes(path.read_bytes()[:-2000])
    result = runner.invoke(app, ["filter", str(tmp_path / "in"), "-o", str(tmp_path / "o"), "--detectors", "exact"])
    assert result.exit_code == 1, result.output
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    (failure,) = report["files_failed"]
    assert failure["source"] == "c.jsonl.gz" and "unreadable after line" in failure["error"]
    c = report["counts"]
    assert 0 < c["rows_in"] == c["kept"] + c["removed"] < 20_000
    assert c["rows_in"] == failure["row_start"]
    assert report["conservation"]["holds"]


def test_nested_text_column_and_jsonl_output(tmp_path):
    records = [{"id": i, "metadata": {"text": t, "lang": "en"}} for i, t in enumerate(["a b", "c d", "a b", None])]
    _jsonl(tmp_path / "in" / "n.jsonl", records)
    cfg = EXACT.replace(text_column="metadata.text", output_format="jsonl")
    result = filterkit.run([str(tmp_path / "in")], tmp_path / "o", cfg)
    c = result.report["counts"]
    assert (c["kept"], c["removed"], c["quarantined"]) == (2, 1, 1)
    kept = [json.loads(x) for x in (tmp_path / "o" / "kept" / "part-000000.jsonl").read_text().splitlines()]
    assert [r["metadata"] for r in kept] == [{"text": "a b", "lang": "en"}, {"text": "c d", "lang": "en"}]
    assert all("metadata.text" not in r for r in kept) and "exact.is_duplicate" in kept[0]
    removed = json.loads((tmp_path / "o" / "removed" / "part-000000.jsonl").read_text())
    assert removed["filter_reason"] == "exact_duplicate" and removed["id"] == 2
    quarantined = json.loads((tmp_path / "o" / "quarantine" / "part-000000.jsonl").read_text())
    assert quarantined["quarantine_reason"] == "null_text" and "n.jsonl line 4" in quarantined["quarantine_error"]
    # The same run again writes the same bytes.
    again = filterkit.run([str(tmp_path / "in")], tmp_path / "o2", cfg)
    assert len(tree_bytes(again.out)) == 3 and tree_bytes(again.out) == tree_bytes(result.out)


def test_nested_text_column_in_parquet(tmp_path):
    write(tmp_path / "in" / "p.parquet", pa.table({"doc": [{"body": "same"}, {"body": "same"}, {"body": "other"}]}))
    result = filterkit.run([str(tmp_path / "in")], tmp_path / "o", EXACT.replace(text_column="doc.body"))
    assert (result.report["counts"]["kept"], result.report["counts"]["removed"]) == (2, 1)
    assert read_dir(tmp_path / "o" / "kept").column_names[0] == "doc"
    with pytest.raises(ValueError, match="no column 'doc.nothing'"):
        filterkit.run([str(tmp_path / "in")], tmp_path / "o3", EXACT.replace(text_column="doc.nothing"))


def test_datasets_directory_reads_its_data_files_only(tmp_path):
    datasets = pytest.importorskip("datasets", reason="datasets writes the save_to_disk directory")
    ds = datasets.Dataset.from_dict({"text": [f"row {i % 7}" for i in range(30)], "i": list(range(30))})
    ds.save_to_disk(str(tmp_path / "hf"), max_shard_size="1KB")
    # A cache file of a transformed copy, as datasets leaves beside its data: never an input.
    ds.select(range(3)).to_parquet(str(tmp_path / "unused.parquet"))
    with pa.ipc.new_stream(tmp_path / "hf" / "cache-0123.arrow", ds.data.schema) as w:
        w.write_table(ds.data.table.slice(0, 3))
    result = filterkit.run([str(tmp_path / "hf")], tmp_path / "o", EXACT.replace(rows_per_shard=4))
    c = result.report["counts"]
    assert c["rows_in"] == 30 and (c["kept"], c["removed"]) == (7, 23)
    assert all(f["path"].endswith(".arrow") and "cache-" not in f["path"]
               for f in json.loads((tmp_path / "o" / "_run.json").read_text())["inputs"])


def test_arrow_ipc_file_format(tmp_path):
    table = pa.table({"text": ["p", "q", "p"]})
    (tmp_path / "in").mkdir()
    with pa.ipc.new_file(tmp_path / "in" / "t.arrow", table.schema) as w:
        w.write_table(table, max_chunksize=2)
    result = filterkit.run([str(tmp_path / "in")], tmp_path / "o", EXACT)
    assert (result.report["counts"]["kept"], result.report["counts"]["removed"]) == (2, 1)


@prop_settings(25)
@given(
    lines=st.lists(st.one_of(
        st.builds(lambda i: {"text": f"t{i}"}, st.integers(0, 5)),
        st.sampled_from(["", "   ", "{oops", "[]", "null", '{"text": ""}', '{"other": 1}']),
    ), max_size=40),
    compress=st.sampled_from([None, "gz", "zst"]),
    rows_per_shard=st.integers(1, 9),
    batch_size=st.integers(1, 7),
    trailing_newline=st.booleans(),
)
def test_every_jsonl_line_lands_once(tmp_path_factory, lines, compress, rows_per_shard, batch_size, trailing_newline):
    tmp = tmp_path_factory.mktemp("prop")
    body = "\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + ("\n" if trailing_newline else "")
    data = body.encode()
    data = {None: lambda b: b, "gz": gzip.compress, "zst": zstandard.compress}[compress](data)
    (tmp / "in").mkdir()
    (tmp / "in" / ("x.jsonl" + {None: "", "gz": ".gz", "zst": ".zst"}[compress])).write_bytes(data)
    if not body:
        return
    cfg = EXACT.replace(rows_per_shard=rows_per_shard, batch_size=batch_size)
    try:
        result = filterkit.run([str(tmp / "in")], tmp / "o", cfg)
    except ValueError as exc:  # no line of the file holds the text field: a usage error, before any work
        assert "no column 'text'" in str(exc)
        return
    expected = len(body.split("\n")) - (1 if body.endswith("\n") else 0)
    c = result.report["counts"]
    assert c["rows_in"] == expected and result.report["conservation"]["holds"]
    rows = []
    for part in ("kept", "removed", "quarantine"):
        if (tmp / "o" / part).exists():
            rows += read_dir(tmp / "o" / part)["source_row"].to_pylist()
    assert sorted(rows) == list(range(expected))


def test_parquet_read_through_a_dataset_still_matches(tmp_path):
    # The samples behind the report's histograms come from the working directory, not from re-reading outputs.
    write(tmp_path / "in" / "a.parquet", pa.table({"text": ["x", "x", "y"]}))
    result = filterkit.run([str(tmp_path / "in")], tmp_path / "o", EXACT)
    assert result.report["scores"]["exact.is_duplicate"]["count"] == 3
    assert pq.read_table(next((tmp_path / "o" / "_work" / "samples").glob("*.parquet"))).num_rows == 3
