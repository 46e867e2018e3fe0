"""End to end: a messy directory of Parquet files through filterkit.run."""
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import filterkit
from cli import app
from filterkit import DetectorSpec, FilterConfig, Rule
from filterkit.engine.executors import LocalExecutor
from filterkit.engine.pipeline import OutputExistsError, UsageError
from filterkit.testing.corpora import messy_corpus, read_dir, tree_bytes, write


@pytest.fixture(scope="module")
def messy(tmp_path_factory):
    return messy_corpus(tmp_path_factory.mktemp("messy"))


@pytest.fixture(scope="module")
def result(messy, tmp_path_factory):
    return filterkit.run([str(messy)], tmp_path_factory.mktemp("out") / "o", FilterConfig(rows_per_shard=4))


def test_every_row_lands_exactly_once(result):
    c = result.report["counts"]
    assert result.report["conservation"]["holds"]
    assert c["kept"] + c["removed"] + c["quarantined"] + c["unreadable_rows"] == c["rows_in"]
    kept, removed = read_dir(result.out / "kept"), read_dir(result.out / "removed")
    quarantine = read_dir(result.out / "quarantine")
    assert (kept.num_rows, removed.num_rows, quarantine.num_rows) == (c["kept"], c["removed"], c["quarantined"])
    positions = [(r["source_file"], r["source_row"]) for t in (kept, removed, quarantine)
                 for r in t.select(["source_file", "source_row"]).to_pylist()]
    assert len(positions) == len(set(positions))


def test_duplicates_removed_across_files_with_reason_and_scores(result):
    removed = read_dir(result.out / "removed").to_pylist()
    assert sorted((r["source_file"], r["text"]) for r in removed) == [
        ("a.parquet", "the  CAT sat."), ("sub/b.parquet", "The cat sat."), ("sub/b.parquet", "dog")]
    assert all(r["filter_reason"] == "exact_duplicate" and r["exact.is_duplicate"] == 1.0 for r in removed)
    assert all(r["lang"] == "en" for r in removed)  # other columns pass through


def test_bad_rows_quarantined_with_file_and_row(result):
    q = {r["quarantine_reason"]: r for r in read_dir(result.out / "quarantine").to_pylist()}
    assert set(q) == {"null_text", "empty_text", "too_large", "binary_text", "undecodable"}
    assert q["too_large"]["source_row"] == 5 and len(q["too_large"]["text"]) == 50_000_000  # nothing lost
    assert q["undecodable"]["quarantine_error"].startswith("c.parquet row 1:")


def test_unreadable_files_reported_with_errors(result):
    failed = {f["source"]: f["error"] for f in result.report["files_failed"]}
    assert "Parquet magic bytes" in failed["corrupt.parquet"] or "corrupt.parquet" in failed
    assert "no column 'text'" in failed["no_text.parquet"] and "['body']" in failed["no_text.parquet"]
    assert "truncated.parquet" in failed
    assert not result.ok
    listed = json.loads((result.out / "quarantine" / "_unreadable.json").read_text())
    assert {e["source"] for e in listed} == set(failed)


def test_report_files(result):
    report = json.loads((result.out / "report.json").read_text())
    assert report["filter_reasons"] == {"exact_duplicate": 3}
    assert report["scores"]["exact.is_duplicate"]["count"] == report["counts"]["kept"] + report["counts"]["removed"]
    md = (result.out / "report" / "report.md").read_text()
    assert "exact_duplicate" in md
    # 8 scored rows: a histogram would show nothing the summary does not, so none is drawn.
    assert "scores.png" not in md and not (result.out / "report" / "scores.png").exists()


def test_report_plots_scores_but_not_identifiers(tmp_path):
    write(tmp_path / "in" / "a.parquet", pa.table({"text": [f"text number {i % 90} here" for i in range(120)]}))
    cfg = FilterConfig(detectors=(DetectorSpec("minhash"), DetectorSpec("length")))
    result = filterkit.run([str(tmp_path / "in")], tmp_path / "o", cfg)
    md = (result.out / "report" / "report.md").read_text()
    assert "![score histograms](scores.png)" in md and (result.out / "report" / "scores.png").stat().st_size > 1000
    assert "length.words" in result.report["scores"] and "minhash.cluster_size" in result.report["scores"]
    assert not [c for c in result.report["scores"] if c.endswith("_id")]


def test_refuses_existing_output_unless_told(messy, result):
    cfg = FilterConfig(rows_per_shard=4)
    with pytest.raises(OutputExistsError, match="--resume"):
        filterkit.run([str(messy)], result.out, cfg)
    with pytest.raises(OutputExistsError, match="different run"):
        filterkit.run([str(messy)], result.out, cfg.replace(mode="tag"), resume=True)


def test_resume_of_finished_run_changes_nothing(messy, result):
    before = tree_bytes(result.out)
    filterkit.run([str(messy)], result.out, FilterConfig(rows_per_shard=4), resume=True)
    assert tree_bytes(result.out) == before


def test_process_pool_gives_same_bytes(messy, result, tmp_path):
    pooled = filterkit.run([str(messy)], tmp_path / "p", FilterConfig(rows_per_shard=4),
                           executor=LocalExecutor(workers=2))
    assert tree_bytes(pooled.out) == tree_bytes(result.out)


def test_tag_and_weight_modes_keep_every_row(messy, tmp_path):
    cfg = FilterConfig(rows_per_shard=4)
    tag = filterkit.score([str(messy)], tmp_path / "t", cfg)
    kept = read_dir(tag.out / "kept")
    assert not (tag.out / "removed").exists() or read_dir(tag.out / "removed").num_rows == 0
    assert kept.column("filter_decision").to_pylist().count("remove") == 3
    weight = filterkit.run([str(messy)], tmp_path / "w", cfg.replace(mode="weight"))
    w = read_dir(weight.out / "kept")
    assert sorted(set(w["weight"].to_pylist())) == [0.0, 1.0]
    assert w["weight"].to_pylist().count(0.0) == 3


def test_id_column_and_text_column(tmp_path):
    write(tmp_path / "in" / "x.parquet", pa.table({"body": ["a", "a", "b"], "doc": ["1", None, "3"]}))
    r = filterkit.run([str(tmp_path / "in")], tmp_path / "o", FilterConfig(text_column="body", id_column="doc"))
    assert r.report["quarantine_reasons"] == {"null_id": 1}
    assert r.report["counts"]["kept"] == 2 and r.report["counts"]["removed"] == 0


def test_missing_text_column_everywhere_is_an_error_before_work(tmp_path):
    write(tmp_path / "in" / "x.parquet", pa.table({"body": ["a"], "n": [1]}))
    with pytest.raises(ValueError, match=r"x.parquet: no column 'text'; its columns are \['body', 'n'\]"):
        filterkit.run([str(tmp_path / "in")], tmp_path / "o")


def test_rule_on_unknown_column_is_an_error_before_work(tmp_path):
    write(tmp_path / "in" / "x.parquet", pa.table({"text": ["a"]}))
    with pytest.raises(ValueError, match="no configured detector produces"):
        filterkit.run([str(tmp_path / "in")], tmp_path / "o", FilterConfig(rules=(Rule("lm.perplexity"),)))


def test_unknown_detector_lists_known(tmp_path):
    write(tmp_path / "in" / "x.parquet", pa.table({"text": ["a"]}))
    with pytest.raises(ValueError, match="known detectors: .*exact"):
        filterkit.run([str(tmp_path / "in")], tmp_path / "o", FilterConfig(detectors=(DetectorSpec("nope"),)))


def corrupt_row_group(path, index: int) -> None:
    """Overwrite the middle of one row group's pages, keeping the file's metadata intact."""
    import pyarrow.parquet as pq

    column = pq.ParquetFile(path).metadata.row_group(index).column(0)
    start = column.dictionary_page_offset or column.data_page_offset
    data = bytearray(path.read_bytes())
    data[start + 20: start + column.total_compressed_size - 5] = b"\xab" * (column.total_compressed_size - 25)
    path.write_bytes(bytes(data))


def test_corrupt_row_group_reported_rest_of_file_processed(tmp_path):
    path = write(tmp_path / "in" / "x.parquet", pa.table({"text": [f"document {i} " * 20 for i in range(40)]}), 10)
    corrupt_row_group(path, 2)
    r = filterkit.run([str(tmp_path / "in")], tmp_path / "o", FilterConfig(rows_per_shard=10))
    assert r.report["counts"]["kept"] == 30 and r.report["counts"]["unreadable_rows"] == 10
    (rng,) = r.report["unreadable_ranges"]
    assert (rng["source"], rng["row_start"], rng["num_rows"]) == ("x.parquet", 20, 10)
    assert "row group 2" in rng["error"] and not r.ok


def test_a_column_name_damaged_in_the_footer_fails_that_file_only(tmp_path):
    write(tmp_path / "in" / "ok.parquet", pa.table({"text": ["kept text"]}))
    path = tmp_path / "in" / "x.parquet"
    pq.write_table(pa.table({"text": ["a", "b"], "zzzzzz": [1, 2]}), path, store_schema=False)
    # The footer names the column: a byte that is not UTF-8 (a fuzz case: pyarrow raised UnicodeDecodeError).
    path.write_bytes(path.read_bytes().replace(b"zzzzzz", b"\x8bzzzzz"))
    r = filterkit.run([str(tmp_path / "in")], tmp_path / "o", FilterConfig())
    assert r.report["counts"]["kept"] == 1 and r.report["counts"]["unreadable_rows"] == 2
    assert r.report["conservation"]["holds"] and not r.ok


def damage_footer_name(path, name: bytes, broken: bytes) -> None:
    """Replace the first ``name`` inside the footer of a Parquet file (only there, not in the data pages)."""
    data = path.read_bytes()
    start = len(data) - 8 - int.from_bytes(data[-8:-4], "little")
    footer = data[start:-8].replace(name, broken, 1)
    assert len(footer) == len(data) - 8 - start
    path.write_bytes(data[:start] + footer + data[-8:])


@pytest.mark.parametrize("damage", ["footer_name", "truncated", "not_parquet", "empty"])
def test_when_every_file_is_unreadable_the_run_finishes_and_exits_one(tmp_path, damage):
    """A fuzz case (#19): the only file had ``t\\x97xt`` in its footer and the CLI exited 2 with no report."""
    path = write(tmp_path / "in" / "f0.parquet", pa.table({"text": ["a", "b", "c"]}), 7)
    if damage == "footer_name":
        damage_footer_name(path, b"text", b"t\x97xt")
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:-30])
    elif damage == "not_parquet":
        path.write_bytes(b"PAR1" + bytes(range(256)))
    else:
        path.write_bytes(b"")
    result = CliRunner().invoke(app, ["filter", str(tmp_path / "in"), "-o", str(tmp_path / "o"), "--detectors",
                                      "exact"])
    assert result.exit_code == 1, result.output
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    (failure,) = report["files_failed"]
    assert failure["source"] == "f0.parquet" and failure["error"]
    # Where the metadata survives it still gives the row count; a file with no readable metadata has none.
    assert report["counts"]["unreadable_rows"] == (3 if damage == "footer_name" else 0)
    assert report["counts"]["kept"] == 0 and report["conservation"]["holds"]


def test_readable_files_none_with_the_text_column_is_a_usage_error_even_beside_a_damaged_one(tmp_path):
    write(tmp_path / "in" / "a.parquet", pa.table({"body": ["x"]}))
    damaged = write(tmp_path / "in" / "b.parquet", pa.table({"text": ["y"]}))
    damage_footer_name(damaged, b"text", b"t\x97xt")
    with pytest.raises(UsageError, match="no column 'text'"):
        filterkit.run([str(tmp_path / "in")], tmp_path / "o", FilterConfig())
    result = CliRunner().invoke(app, ["filter", str(tmp_path / "in"), "-o", str(tmp_path / "o2")])
    assert result.exit_code == 2 and "no column 'text'" in result.output


def test_a_row_group_larger_than_a_shard_is_sliced(tmp_path):
    texts = [f"line {i % 37} of a file written as one row group" for i in range(100)]
    write(tmp_path / "in" / "one.parquet", pa.table({"text": texts}), 1000)
    write(tmp_path / "in" / "two.parquet", pa.table({"text": texts[:25]}), 5)
    sliced = filterkit.run([str(tmp_path / "in")], tmp_path / "sliced", FilterConfig(rows_per_shard=30, batch_size=7))
    whole = filterkit.run([str(tmp_path / "in")], tmp_path / "whole", FilterConfig(rows_per_shard=10_000))
    assert (sliced.report["shards"], whole.report["shards"]) == (4 + 1, 2)
    assert sliced.report["counts"] == whole.report["counts"]
    cols = ["source_file", "source_row", "text"]
    for part in ("kept", "removed"):
        a, b = read_dir(tmp_path / "sliced" / part).select(cols), read_dir(tmp_path / "whole" / part).select(cols)
        assert a.sort_by([("source_file", "ascending"), ("source_row", "ascending")]).equals(
            b.sort_by([("source_file", "ascending"), ("source_row", "ascending")]))
    assert read_dir(tmp_path / "sliced" / "kept").num_rows == 37


def test_a_corrupt_sliced_row_group_is_reported_once_per_slice(tmp_path):
    path = write(tmp_path / "in" / "x.parquet", pa.table({"text": [f"document {i} " * 20 for i in range(40)]}), 40)
    corrupt_row_group(path, 0)
    r = filterkit.run([str(tmp_path / "in")], tmp_path / "o", FilterConfig(rows_per_shard=15))
    ranges = sorted((u["row_start"], u["num_rows"]) for u in r.report["unreadable_ranges"])
    assert ranges == [(0, 15), (15, 15), (30, 10)] and r.report["counts"]["unreadable_rows"] == 40


def test_worker_memory_budget_shrinks_shards(tmp_path):
    texts = [f"{i} " + "x" * 10_000 for i in range(100)]  # about 1 MB of text in one row group
    write(tmp_path / "in" / "big.parquet", pa.table({"text": texts}), 1000)
    budget = FilterConfig(worker_memory_mb=1, detectors=(DetectorSpec("length"),))
    assert budget.max_shard_bytes == 2**18
    r = filterkit.run([str(tmp_path / "in")], tmp_path / "o", budget)
    assert r.report["shards"] == 4 and r.report["counts"]["kept"] == 100  # 26 rows of ~10 kB fit in 256 KiB
    with pytest.raises(ValueError, match="worker_memory_mb"):
        FilterConfig(worker_memory_mb=0)


def test_reuse_scores_skips_detectors_whose_columns_are_given(tmp_path):
    texts = ["one two three", "four five", "six"]
    first = filterkit.score([str(write(tmp_path / "in" / "a.parquet", pa.table({"text": texts})))], tmp_path / "s",
                            FilterConfig(detectors=(DetectorSpec("length"),)))
    scored = read_dir(first.out / "kept")  # with the first run's provenance and decision columns, replaced below
    planted = scored.set_column(scored.column_names.index("length.words"), "length.words",
                                pa.array([99.0, 98.0, 97.0]))
    write(tmp_path / "again" / "b.parquet", planted)
    cfg = FilterConfig(detectors=(DetectorSpec("length"),), reuse_scores=True)
    reused = filterkit.score([str(tmp_path / "again")], tmp_path / "r", cfg)
    assert read_dir(reused.out / "kept")["length.words"].to_pylist() == [99.0, 98.0, 97.0]
    rescored = filterkit.score([str(tmp_path / "again")], tmp_path / "n", cfg.replace(reuse_scores=False))
    assert read_dir(rescored.out / "kept")["length.words"].to_pylist() == [3.0, 2.0, 1.0]
