"""Inputs and outputs on an S3-compatible store: a moto server this test starts on localhost, read and written
through pyarrow's S3 filesystem, with the same row guarantees and the same bytes as a local run."""
import gzip
import io
import json
import logging
import socket

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import filterkit
from filterkit import DetectorSpec, FilterConfig
from filterkit.testing.corpora import tree_bytes

threaded = pytest.importorskip("moto.moto_server.threaded_moto_server",
                               reason="moto[server] (the local S3-compatible server) is not installed")
pafs = pytest.importorskip("pyarrow.fs")
CONFIG = FilterConfig(detectors=(DetectorSpec("exact"), DetectorSpec("length")), rows_per_shard=3)


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    """``(filesystem, query)``: a bucket on a fresh local server, and the URI query that points pyarrow at it."""
    mp = pytest.MonkeyPatch()
    for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"}.items():
        mp.setenv(key, value)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = threaded.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    fs = pafs.S3FileSystem(endpoint_override=f"127.0.0.1:{port}", scheme="http", allow_bucket_creation=True)
    fs.create_dir("crawl")
    texts = ["the same page", "another page", "the same page", "a third one", "x", "the same page", "last"]
    sink = io.BytesIO()
    pq.write_table(pa.table({"text": texts[:4]}), sink, row_group_size=2)
    with fs.open_output_stream("crawl/in/a.parquet") as fh:
        fh.write(sink.getvalue())
    with fs.open_output_stream("crawl/in/sub/b.jsonl.gz", compression=None) as fh:  # already gzip
        fh.write(gzip.compress("".join(json.dumps({"text": t}) + "\n" for t in texts[4:]).encode() + b"{bad\n"))
    local = tmp_path_factory.mktemp("local")
    (local / "in" / "sub").mkdir(parents=True)
    pq.write_table(pa.table({"text": texts[:4]}), local / "in" / "a.parquet", row_group_size=2)
    with fs.open_input_stream("crawl/in/sub/b.jsonl.gz", compression=None) as src:
        (local / "in" / "sub" / "b.jsonl.gz").write_bytes(src.read())
    yield fs, f"?endpoint_override=127.0.0.1:{port}&scheme=http", local
    server.stop()
    mp.undo()


def _objects(fs, prefix):
    return {i.path[len(prefix) + 1:]: fs.open_input_stream(i.path).read()
            for i in fs.get_file_info(pafs.FileSelector(prefix, recursive=True)) if i.type == pafs.FileType.File}


def test_s3_in_and_out_same_bytes_as_local(s3, tmp_path):
    fs, query, local = s3
    result = filterkit.run([f"s3://crawl/in{query}"], f"s3://crawl/out{query}", CONFIG, work_dir=tmp_path / "work")
    c = result.report["counts"]
    assert result.report["conservation"]["holds"]
    assert (c["rows_in"], c["kept"], c["removed"], c["quarantined"]) == (8, 5, 2, 1)
    objects = _objects(fs, "crawl/out")
    assert not [k for k in objects if k.endswith(".tmp")]
    assert {"report.json", "report/report.md", "_run.json"} <= set(objects)
    here = filterkit.run([str(local / "in")], tmp_path / "here", CONFIG)
    local_bytes = tree_bytes(here.out)
    # Shards: a.parquet's two row groups, and b.jsonl.gz's lines 1-3 and line 4 (malformed, quarantined alone).
    assert sorted(local_bytes) == ["kept/part-000000.parquet", "kept/part-000001.parquet", "kept/part-000002.parquet",
                                   "quarantine/part-000003.parquet", "removed/part-000001.parquet",
                                   "removed/part-000002.parquet"]
    assert local_bytes == {k: v for k, v in objects.items() if k.split("/")[0] in ("kept", "removed", "quarantine")}


def test_s3_resume_after_a_crash_gives_the_same_bytes(s3, tmp_path):
    fs, query, _ = s3
    out = f"s3://crawl/resumed{query}"
    filterkit.run([f"s3://crawl/in{query}"], out, CONFIG, work_dir=tmp_path / "work", keep_work=True)
    before = _objects(fs, "crawl/resumed")
    # What a crash mid-decide leaves: the scores of every shard (the working files are removed only at the end),
    # a shard's marker missing, its output gone, and a temporary object half-written.
    (tmp_path / "work" / "done" / "decide-part-000001").unlink()
    fs.delete_file("crawl/resumed/kept/part-000001.parquet")
    with fs.open_output_stream("crawl/resumed/kept/.part-000001.parquet.999.tmp") as fh:
        fh.write(b"PAR1 half")
    with pytest.raises(filterkit.engine.pipeline.OutputExistsError, match="--resume"):
        filterkit.run([f"s3://crawl/in{query}"], out, CONFIG, work_dir=tmp_path / "work")
    filterkit.run([f"s3://crawl/in{query}"], out, CONFIG, work_dir=tmp_path / "work", resume=True)
    after = _objects(fs, "crawl/resumed")
    assert {k: v for k, v in after.items() if k != "report.json" and not k.startswith("report/")} == \
        {k: v for k, v in before.items() if k != "report.json" and not k.startswith("report/")}


def test_s3_jsonl_output_and_unknown_bucket(s3, tmp_path):
    fs, query, _ = s3
    filterkit.run([f"s3://crawl/in/sub{query}"], f"s3://crawl/j{query}", CONFIG.replace(output_format="jsonl"),
                  work_dir=tmp_path / "w")
    kept = fs.open_input_stream("crawl/j/kept/part-000000.jsonl").read().decode().splitlines()
    assert [json.loads(x)["text"] for x in kept] == ["x", "the same page", "last"]
    with pytest.raises(FileNotFoundError, match="does not exist"):
        filterkit.run([f"s3://crawl/nothing{query}"], f"s3://crawl/o{query}", CONFIG, work_dir=tmp_path / "w2")



def test_fsspec_protocol_in_and_out(tmp_path):
    fsspec = pytest.importorskip("fsspec")
    memory = fsspec.filesystem("memory")
    with memory.open("/crawl-mem/in/a.jsonl", "wb") as fh:
        fh.write(b'{"text": "one"}\n{"text": "one"}\n{"text": "two"}\n')
    # One process: the memory filesystem lives in it (a real store such as hf:// is reached the same way).
    result = filterkit.run(["memory://crawl-mem/in"], "memory://crawl-mem/out", CONFIG, work_dir=tmp_path / "w")
    assert (result.report["counts"]["kept"], result.report["counts"]["removed"]) == (2, 1)
    assert memory.exists("/crawl-mem/out/kept/part-000000.parquet")
    assert not [p for p in memory.find("/crawl-mem/out") if p.endswith(".tmp")]
    memory.rm("/crawl-mem", recursive=True)
