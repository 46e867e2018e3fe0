"""Dedup speed: signatures against datasketch (naive loop, ``MinHash.bulk``) and rensa, then end-to-end runs.

Part 1 signs WikiText windows of 150 words (128 permutations, word 5-grams) with each implementation.
Part 2 deduplicates synthetic corpora of 150-word documents (words drawn from WikiText's unigram
distribution, 10% of rows planted near-copies of earlier rows) at each size: ``filterkit.run`` with the
minhash detector end to end (read, normalise, shingle, sign, LSH, cluster, write kept/ and removed/), and
at the sizes that fit, datasketch used naively (``MinHash`` per document, ``update`` per shingle,
``MinHashLSH`` insert and query) and rensa's ``RMinHashDeduplicator``. Every run is a child process whose
peak memory (sum over its process tree, sampled every 50 ms) is recorded.

    python -m benchmarks.dedup speed [--sizes 10000,100000,1000000] [--workers 2] [--out benchmarks/results]
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks.measure import run_measured

log = logging.getLogger("dedup.speed")
NUM_PERM = 128
NGRAM = 5
DOC_WORDS = 150
FILE_ROWS = 100_000


def wikitext_words() -> list[str]:
    """Every whitespace token of the shared WikiText articles."""
    from filterkit.testing.shared import shared_data_dir

    table = pq.read_table(shared_data_dir() / "human" / "wikitext2.parquet")
    return " ".join(table["text"].to_pylist()).split()


def wikitext_windows(n: int) -> list[str]:
    """``n`` consecutive, non-overlapping windows of 150 words (the issue's speed set)."""
    words = wikitext_words()
    return [" ".join(words[i: i + DOC_WORDS]) for i in range(0, DOC_WORDS * n, DOC_WORDS)]


def python_shingles(text: str) -> list[bytes]:
    """Shingle strings built in Python, as a naive user of datasketch would."""
    words = text.lower().split()
    return [" ".join(words[i: i + NGRAM]).encode() for i in range(max(1, len(words) - NGRAM + 1))]


def _rate(n: int, fn) -> float:
    start = time.perf_counter()
    fn()
    return n / (time.perf_counter() - start)


def signature_bench(n: int, naive_n: int) -> dict:
    """Documents per second of each way to sign ``n`` windows (``naive_n`` for the slow ones)."""
    from datasketch import MinHash

    from detectors.duplicates.shingles import MinHasher

    docs = wikitext_windows(n)
    arrow = pa.array(docs)
    hasher = MinHasher(num_perm=NUM_PERM)
    results: dict[str, float | None] = {}

    def naive() -> None:
        for text in docs[:naive_n]:
            m = MinHash(num_perm=NUM_PERM)
            for s in python_shingles(text):
                m.update(s)

    results["datasketch naive (MinHash per doc, update per shingle)"] = _rate(naive_n, naive)
    results["datasketch MinHash.bulk"] = _rate(
        naive_n, lambda: MinHash.bulk([python_shingles(t) for t in docs[:naive_n]], num_perm=NUM_PERM))
    results["Python shingle strings alone (no hashing)"] = _rate(n, lambda: [python_shingles(t) for t in docs])
    try:
        import rensa

        results["rensa RMinHash batch from Python shingle strings"] = _rate(n, lambda: np.array(
            rensa.RMinHash.digest_matrix_from_token_sets(
                [[s.decode() for s in python_shingles(t)] for t in docs], NUM_PERM, 1).to_rows(), np.uint32))
        hashes, offsets = hasher.shingling.hash_shingles(arrow)
        results["rensa RMinHash from filterkit's shingle hashes (to numpy)"] = _rate(n, lambda: np.array(
            rensa.RMinHash.digest_matrix_from_flat_token_hashes(hashes, offsets.astype(np.uint64), NUM_PERM, 1)
            .to_rows(), np.uint32))
        results["rensa RMinHash from filterkit's shingle hashes (signing only)"] = _rate(
            n, lambda: rensa.RMinHash.digest_matrix_from_flat_token_hashes(hashes, offsets.astype(np.uint64),
                                                                           NUM_PERM, 1))
    except ImportError:
        log.warning("rensa is not installed: pip install 'filterkit[bench]' to compare with it")
    hashes, offsets = hasher.shingling.hash_shingles(arrow)
    results["filterkit shingle hashing only (normalise, tokens, 5-grams)"] = _rate(
        n, lambda: hasher.shingling.hash_shingles(arrow))
    results["filterkit signing only (from shingle hashes)"] = _rate(n, lambda: hasher.sign_hashes(hashes, offsets))
    results["filterkit MinHasher.sign (normalise + shingle + sign)"] = _rate(n, lambda: hasher.sign(arrow))
    return results


# --- corpora --------------------------------------------------------------------------------------------------


def make_corpus(n: int, directory: Path, seed: int = 0, duplicate_share: float = 0.1) -> dict:
    """Write ``n`` 150-word documents as Parquet files of 100k rows; 10% are near-copies of earlier rows."""
    from benchmarks.perturb.edits import crawled_copy

    rng = np.random.default_rng(seed)
    vocab = np.array(wikitext_words(), dtype=object)
    directory.mkdir(parents=True, exist_ok=True)
    planted = 0
    recent: list[str] = []
    for file_no, start in enumerate(range(0, n, FILE_ROWS)):
        rows = min(FILE_ROWS, n - start)
        picks = rng.integers(0, len(vocab), size=(rows, DOC_WORDS))
        texts = [" ".join(vocab[p]) for p in picks]
        copies = np.flatnonzero(rng.random(rows) < duplicate_share)
        for i in copies:
            pool = recent if recent and (i == 0 or rng.random() < 0.5) else texts[:max(i, 1)]
            if i == 0 and not recent:
                continue
            texts[i] = crawled_copy(pool[int(rng.integers(len(pool)))], rng)
            planted += 1
        pq.write_table(pa.table({"text": texts}), directory / f"corpus-{file_no:03d}.parquet", row_group_size=25_000)
        recent = texts[-1000:]
    return {"documents": n, "planted_near_copies": planted}


# --- child runs, each measured in its own process -------------------------------------------------------------


def child(kind: str, inputs: Path, out: Path, workers: int) -> dict:
    """One deduplication run inside this (child) process; returns counts."""
    if kind in ("filterkit", "filterkit-undefended"):
        import filterkit
        from filterkit.engine.executors import LocalExecutor

        cfg = filterkit.FilterConfig(detectors=(filterkit.DetectorSpec("minhash"),), rows_per_shard=25_000,
                                     defend=kind == "filterkit")
        result = filterkit.run([str(inputs)], out, cfg, executor=LocalExecutor(workers), overwrite=True)
        return {"removed": result.report["counts"]["removed"], "kept": result.report["counts"]["kept"]}
    if kind == "filterkit-detector":
        return detector_only(inputs, out)
    texts = pq.read_table(inputs, columns=["text"])["text"].to_pylist()
    if kind == "datasketch":
        from datasketch import MinHash, MinHashLSH

        from detectors.duplicates.minhash import lsh_params

        lsh = MinHashLSH(num_perm=NUM_PERM, params=lsh_params(0.6, NUM_PERM, 0.1, 0.9))
        removed = 0
        for i, text in enumerate(texts):
            m = MinHash(num_perm=NUM_PERM)
            for s in python_shingles(text):
                m.update(s)
            if lsh.query(m):
                removed += 1
            lsh.insert(str(i), m)
        return {"removed": removed, "kept": len(texts) - removed}
    if kind == "rensa":
        from rensa import RMinHashDeduplicator

        dedup = RMinHashDeduplicator(threshold=0.6, num_perm=NUM_PERM, use_lsh=True)
        keep = dedup.add_pairs((str(i), [s.decode() for s in python_shingles(t)]) for i, t in enumerate(texts))
        return {"removed": int(len(keep) - sum(keep)), "kept": int(sum(keep))}
    raise ValueError(kind)


def detector_only(inputs: Path, out: Path) -> dict:
    """The minhash detector's own work in one process: ``map`` per 1,024-row batch (keys spilled to one Parquet
    file per 25,000 rows, as the pipeline does), then ``reduce`` over them; no text is written."""
    import pyarrow.dataset as ds

    from detectors.duplicates.minhash import MinHashDuplicates
    from filterkit.contract.detector import ROW, SHARD

    det = MinHashDuplicates()
    out.mkdir(parents=True, exist_ok=True)
    files, pieces, row = [], [], 0
    for batch in ds.dataset(inputs, format="parquet").to_batches(columns=["text"], batch_size=1024):
        keys = det.map(pa.table({"text": batch["text"]}))
        keys = keys.append_column(SHARD, pa.array(np.full(batch.num_rows, len(files), np.int32)))
        pieces.append(keys.append_column(ROW, pa.array(np.arange(row, row + batch.num_rows))))
        row += batch.num_rows
        if sum(p.num_rows for p in pieces) >= 25_000:
            files.append(str(out / f"keys-{len(files):05d}.parquet"))
            pq.write_table(pa.concat_tables(pieces), files[-1], compression="zstd")
            pieces, row = [], 0
    if pieces:
        files.append(str(out / f"keys-{len(files):05d}.parquet"))
        pq.write_table(pa.concat_tables(pieces), files[-1], compression="zstd")
    result = det.reduce(ds.dataset(files, format="parquet"))
    removed = int(np.asarray(result["minhash.is_duplicate"]).sum())
    return {"removed": removed, "kept": result.num_rows - removed}


def measured(kind: str, inputs: Path, out: Path, workers: int, timeout: float) -> dict:
    """Run ``child`` in a fresh process; wall time and peak RSS of its whole process tree."""
    cmd = [sys.executable, "-m", "benchmarks.dedup", "speed", "--child", kind, "--inputs", str(inputs),
           "--child-out", str(out), "--workers", str(workers)]
    m = run_measured(cmd, timeout)
    if m.timed_out:
        return {"kind": kind, "timed_out_after_s": timeout}
    if m.returncode != 0:
        raise RuntimeError(f"{kind} run failed:\n{m.stderr[-3000:]}")
    counts = json.loads(m.stdout.strip().splitlines()[-1])
    return {"kind": kind, "seconds": m.seconds, "peak_rss_total_mib": m.peak_rss_total_mib,
            "peak_rss_single_process_mib": m.peak_rss_single_process_mib, "load_average": m.load_average, **counts}


def markdown(results: dict, command: str) -> str:
    """Tables of both parts, opening with the command."""
    lines = [f"# Dedup speed\n\n```\n{command}\n```\n",
             f"Machine: {results['machine']}. Timings are from one run, side by side; other jobs shared the "
             "machine, so compare ratios rather than absolute rates.\n",
             f"## Signatures: {results['signatures']['documents']} WikiText windows of 150 words, 128 permutations, "
             f"word 5-grams\n\nOne process; the naive loop and `MinHash.bulk` sign the first "
             f"{results['signatures']['naive_documents']} windows. Load average at the start: "
             f"{results['signatures']['load_average']:.1f} on 2 cores.\n",
             "| implementation | docs/s | vs naive datasketch |", "|---|---|---|"]
    sig = results["signatures"]["docs_per_second"]
    naive = next(rate for name, rate in sig.items() if name.startswith("datasketch naive"))
    for name, rate in sig.items():
        lines.append(f"| {name} | {rate:,.0f} | {rate / naive:,.1f}x |")
    lines += ["", "## End to end: deduplicate N documents of 150 words (10% planted near-copies)\n",
              "filterkit: `filterkit.run(..., FilterConfig(detectors=(DetectorSpec('minhash'),)))` with "
              f"{results['workers']} worker processes: read Parquet, validate, normalise, shingle, sign, LSH, "
              "cluster, write kept/ and removed/ and the report. datasketch naive: one `MinHash` per document, "
              "`update` per Python shingle string, `MinHashLSH` query + insert (threshold 0.6, same bands), one "
              "process. rensa: `RMinHashDeduplicator(threshold=0.6, use_lsh=True)` over Python shingle lists, "
              "one process. filterkit-undefended: the same run with `defend=False`, skipping the pipeline's shared "
              "homoglyph defence (a per-row Python pass over every text before any detector; the minhash "
              "normaliser folds homoglyphs itself, on distinct non-ASCII words only). filterkit-detector: the "
              "minhash detector alone in one process (`map` per batch, keys "
              "spilled to Parquet, `reduce`), reading the texts but writing none, which is what the other two do. "
              "Peak RSS is the sum over the run's process tree.\n",
              "The load average column is the machine's 1-minute load (mean of before and after the run) on its 2 "
              "cores: above 2, other jobs were taking CPU from the run.\n",
              "| documents | implementation | seconds | docs/s | peak RSS, all processes (MiB) | "
              "peak RSS, largest process (MiB) | removed | planted | load average |",
              "|---|---|---|---|---|---|---|---|---|"]
    for size in results["end_to_end"]:
        for r in size["runs"]:
            if "timed_out_after_s" in r:
                lines.append(f"| {size['documents']:,} | {r['kind']} | > {r['timed_out_after_s']:.0f} (stopped) "
                             "| | | | | | |")
                continue
            lines.append(f"| {size['documents']:,} | {r['kind']} | {r['seconds']:.1f} | "
                         f"{size['documents'] / r['seconds']:,.0f} | {r['peak_rss_total_mib']:,.0f} | "
                         f"{r['peak_rss_single_process_mib']:,.0f} | {r['removed']:,} | "
                         f"{size['planted_near_copies']:,} | {r['load_average']} |")
        for skipped in size.get("skipped", []):
            lines.append(f"| {size['documents']:,} | {skipped} | not run (see below) | | | | | | |")
    lines += ["", *results.get("notes", []), ""]
    return "\n".join(lines)


def main(argv: Sequence[str]) -> None:
    """Run both parts and write ``dedup_speed.{json,md}``."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.dedup speed", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--signature-docs", type=int, default=5000)
    parser.add_argument("--naive-docs", type=int, default=1000)
    parser.add_argument("--naive-max", type=int, default=10_000, help="Largest size for naive datasketch.")
    parser.add_argument("--rensa-max", type=int, default=100_000, help="Largest size for rensa.")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=900.0, help="Seconds before a run is stopped.")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--inputs", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--child-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.inputs, args.child_out, args.workers)))
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    results: dict = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
                     "workers": args.workers, "end_to_end": [], "notes": []}
    log.info("signatures")
    results["signatures"] = {"documents": args.signature_docs, "naive_documents": args.naive_docs,
                             "load_average": os.getloadavg()[0],
                             "docs_per_second": signature_bench(args.signature_docs, args.naive_docs)}
    try:
        import rensa  # noqa: F401
        have_rensa = True
    except ImportError:
        have_rensa = False
    with tempfile.TemporaryDirectory() as tmp:
        for n in (int(s) for s in args.sizes.split(",")):
            corpus = Path(tmp) / f"corpus-{n}"
            log.info("corpus of %d documents", n)
            info = make_corpus(n, corpus)
            size: dict = {**info, "runs": [], "skipped": []}
            kinds = ["filterkit", "filterkit-undefended", "filterkit-detector"]
            kinds += ["datasketch"] if n <= args.naive_max else []
            kinds += ["rensa"] if have_rensa and n <= args.rensa_max else []
            size["skipped"] = [k for k in ("datasketch", "rensa") if k not in kinds]
            for kind in kinds:
                log.info("%s on %d documents", kind, n)
                size["runs"].append(measured(kind, corpus, Path(tmp) / f"out-{kind}-{n}", args.workers, args.timeout))
                log.info("%s", size["runs"][-1])
            results["end_to_end"].append(size)
            subprocess.run(["rm", "-rf", str(corpus), *[str(p) for p in Path(tmp).glob(f"out-*-{n}")]], check=False)
    if any(s["skipped"] for s in results["end_to_end"]):
        results["notes"].append(
            f"datasketch naive runs only up to {args.naive_max:,} documents and rensa up to {args.rensa_max:,}: "
            "beyond that they hold every sketch in one Python process and would take far longer than the budget of "
            "this benchmark (their rates above extrapolate).")
    args.out.mkdir(parents=True, exist_ok=True)
    command = "python -m benchmarks.dedup speed " + " ".join(argv)
    (args.out / "dedup_speed.json").write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    (args.out / "dedup_speed.md").write_text(markdown(results, command.strip()))

