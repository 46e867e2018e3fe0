"""filterkit's minhash detector against datatrove's own four-stage MinHash pipeline, side by side.

A seeded crawl-like corpus is written as Parquet files (columns ``id`` and ``text``, 10,000 rows a file):
documents of about ``--words`` words made of real WikiText passages (a walk that copies WikiText verbatim
and, at about one word in seven, jumps to another occurrence of the current word, so the text stays locally
fluent but no two documents share a long passage), of which 1 in 11 (10,000 of 110,000) are planted near
copies of an earlier original: 1-3 word edits (a substitution of 1-2 words, an insertion or a deletion of 1-2
words), which keeps the exact word 5-gram Jaccard of a planted pair at about 0.8 or more (median about 0.91;
measured for every pair and reported). Editing 5-10% of the words at random places would not: each edited word
breaks up to five 5-grams, so 5% gives a Jaccard near 0.63 and 10% near 0.42.
The ground truth (which rows are copies, of which original) stays in a side file the tools never see.

Arms, each a measured child process (wall time, peak RSS summed over its whole process tree):

* filterkit with datatrove's LSH: ``filterkit filter CORPUS -o OUT --detectors minhash --workers W`` with
  ``--param minhash.num_perm=112 minhash.bands=14 minhash.rows=8`` (datatrove's default 14 buckets x 8
  hashes, word 5-grams); removed rows are read from ``OUT/removed/*.parquet``.
* filterkit with its own defaults (128 permutations, 25 bands x 5 rows, candidate edges verified at an
  estimated Jaccard of 0.6): the same command without the parameters.
* datatrove: ``MinhashDedupSignature``, ``MinhashDedupBuckets``, ``MinhashDedupCluster`` and
  ``MinhashDedupFilter`` with the default ``MinhashConfig``, each stage a ``LocalPipelineExecutor`` (stages 1
  and 4: one task per input file, stage 2: one task per bucket, stage 3: one task), ``W`` workers, reading
  the same files with ``ParquetReader(text_key="text", id_key="id")`` and writing kept rows with
  ``ParquetWriter`` and removed ones with the filter's ``exclusion_writer``. Its English word tokenizer is
  spaCy's (``pip install spacy``; without it this arm falls back to ``str.split`` and says so).
* datatrove with a ``str.split`` word tokenizer instead of spaCy's, everything else the same (run only when
  the arm before used spaCy): how much of datatrove's time is its tokenizer.

    python -m benchmarks.dedup vs-datatrove --docs 110000 --words 230 --workers 2 --out benchmarks/results

Writes ``dedup_vs_datatrove.{md,json,png}`` into ``--out``; the corpus and every tool's output live in
``--work`` (a temporary directory by default, removed at the end; a given one is left in place).
"""
from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks.measure import run_measured

log = logging.getLogger("dedup.vs_datatrove")
ROOT = Path(__file__).resolve().parents[2]
PLANTED_SHARE = 10_000 / 110_000
FILE_ROWS = 10_000
NGRAM = 5
JUMP_RATE = 0.15  # share of steps where the walk leaves the WikiText passage it is copying
# datatrove's default MinhashConfig: 14 buckets x 8 hashes = 112 permutations over word 5-grams.
DT_BUCKETS, DT_HASHES = 14, 8
FILTERKIT_MATCHED = ("minhash.num_perm=112", "minhash.bands=14", "minhash.rows=8", "minhash.ngram=5")
ARMS = ("filterkit (datatrove's LSH)", "filterkit (its defaults)", "datatrove", "datatrove (str.split tokenizer)")
JACCARD_BUCKETS = ((0.8, 0.85), (0.85, 0.9), (0.9, 0.95), (0.95, 1.0001))


# --- corpus ----------------------------------------------------------------------------------------------------


def _wikitext_tokens() -> list[str]:
    from benchmarks.dedup.speed import wikitext_words

    return wikitext_words()


def _walks(tokens: np.ndarray, n: int, length: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``(vocabulary, token ids of shape (n, length))``: ``n`` walks over ``tokens``, all in lockstep.

    Each walk starts at a random word and copies the text that follows it; at ``JUMP_RATE`` of the steps it
    moves instead to a random other occurrence of its current word and goes on from there (a bigram-consistent
    jump), and it restarts anywhere when it reaches the end of the text.
    """
    vocab, ids = np.unique(tokens, return_inverse=True)
    ids = ids.astype(np.int64)
    contexts = ids[:-1]  # every position with a successor
    by_token = np.argsort(contexts, kind="stable")
    starts = np.searchsorted(contexts[by_token], np.arange(len(vocab) + 1))
    counts = np.diff(starts)
    pos = rng.integers(0, len(contexts), size=n)
    out = np.empty((n, length), np.int32)
    for step in range(length):
        out[:, step] = ids[pos]
        jump = rng.random(n) < JUMP_RATE
        token = ids[pos]
        can = jump & (counts[token] > 0)
        pick = starts[token[can]] + (rng.random(int(can.sum())) * counts[token[can]]).astype(np.int64)
        pos[can] = by_token[pick]
        pos += 1
        ended = pos >= len(contexts)
        pos[ended] = rng.integers(0, len(contexts), size=int(ended.sum()))
    return vocab, out


def near_copy(words: list[str], tokens: np.ndarray, rng: np.random.Generator, max_edits: int = 3) -> list[str]:
    """1 to ``max_edits`` word edits at random places: a 1-2 word substitution (half of them), an insertion
    of 1-2 words or a deletion of 1-2 words; new words are drawn from ``tokens`` (WikiText's unigram
    distribution)."""
    out = list(words)
    for _ in range(int(rng.integers(1, max_edits + 1))):
        kind = rng.choice(3, p=(0.5, 0.25, 0.25))
        span = int(rng.integers(1, 3))
        at = int(rng.integers(0, max(1, len(out) - span)))
        new = [str(w) for w in tokens[rng.integers(0, len(tokens), size=span)]]
        if kind == 0:
            out[at: at + span] = new
        elif kind == 1:
            out[at:at] = new
        elif len(out) > span + NGRAM:
            del out[at: at + span]
    return out


def shingles(text: str) -> set[tuple[str, ...]]:
    """Exact word 5-grams after lower-casing and turning every non-alphanumeric run into a space (the ground
    truth's own tokenisation, independent of both tools)."""
    words = re.sub(r"[\W_]+", " ", text.lower()).split()
    return {tuple(words[i: i + NGRAM]) for i in range(max(1, len(words) - NGRAM + 1))}


def jaccard(a: str, b: str) -> float:
    """Exact word 5-gram Jaccard of two texts."""
    sa, sb = shingles(a), shingles(b)
    return len(sa & sb) / len(sa | sb) if sa | sb else 1.0


def make_corpus(n_docs: int, words: int, corpus_dir: Path, truth_path: Path, seed: int = 0,
                max_edits: int = 3) -> dict:
    """Write the corpus (``id``, ``text``) to ``corpus_dir`` and the ground truth to ``truth_path``.

    ``round(n_docs / 11)`` rows are planted near copies, each of a different original and placed after it
    (half within the next 2,000 rows, half anywhere later). Files hold 10,000 rows, or half the corpus when
    that is smaller, so there are always at least two.
    """
    rng = np.random.default_rng(seed)
    n_copies = round(n_docs * PLANTED_SHARE)
    n_orig = n_docs - n_copies
    lo, hi = max(NGRAM + 1, round(words * 0.85)), max(NGRAM + 2, round(words * 1.15))
    tokens = np.array(_wikitext_tokens(), dtype=object)
    vocab, walk = _walks(tokens, n_orig, hi, rng)
    lengths = rng.integers(lo, hi + 1, size=n_orig)
    originals = [" ".join(vocab[row[:k]]) for row, k in zip(walk, lengths, strict=True)]
    sources = np.sort(rng.choice(n_orig, size=n_copies, replace=False))
    span = np.where(rng.random(n_copies) < 0.5, np.minimum(2000, n_orig - sources), n_orig - sources)
    copy_keys = sources + rng.uniform(0.0, 1.0, size=n_copies) * span
    copies = [" ".join(near_copy(originals[j].split(), tokens, rng, max_edits)) for j in sources]
    keys = np.concatenate([np.arange(n_orig, dtype=np.float64), copy_keys])
    is_copy = np.concatenate([np.zeros(n_orig, bool), np.ones(n_copies, bool)])
    order = np.lexsort((is_copy, keys))  # by key; an original before a copy that ties with it
    texts = originals + copies
    source_of = np.concatenate([np.full(n_orig, -1), sources])  # original index of each copy
    ids = np.empty(n_docs, dtype=object)
    ids[order] = [f"doc-{i:07d}" for i in range(n_docs)]
    jac = np.array([jaccard(originals[j], c) for j, c in zip(sources, copies, strict=True)])

    corpus_dir.mkdir(parents=True, exist_ok=True)
    file_rows = min(FILE_ROWS, math.ceil(n_docs / 2))
    for k, start in enumerate(range(0, n_docs, file_rows)):
        rows = order[start: start + file_rows]
        pq.write_table(pa.table({"id": pa.array(ids[rows].tolist()), "text": [texts[r] for r in rows]}),
                       corpus_dir / f"part-{k:03d}.parquet")
    planted = order[np.isin(order, np.arange(n_orig, n_docs))]
    truth = pa.table({
        "id": ids[planted].tolist(),
        "original_id": ids[source_of[planted]].tolist(),
        "jaccard": jac[planted - n_orig],
    })
    pq.write_table(truth, truth_path)
    return {
        "documents": n_docs, "planted_copies": n_copies, "originals": n_orig, "files": math.ceil(n_docs / file_rows),
        "rows_per_file": file_rows, "words_min": int(lo), "words_max": int(hi),
        "mean_words": float(np.mean([len(t.split()) for t in texts])),
        "planted_jaccard": {"min": float(jac.min()), "p1": float(np.quantile(jac, 0.01)),
                            "p5": float(np.quantile(jac, 0.05)), "median": float(np.median(jac)),
                            "max": float(jac.max()), "below_0.8": int((jac < 0.8).sum()),
                            "exactly_1": int((jac == 1.0).sum())},
    }


# --- the datatrove pipeline (run inside the measured child) ----------------------------------------------------


def _split_tokenizer():
    """A whitespace ``WordTokenizer`` for when spaCy (datatrove's English tokenizer) is not installed."""
    from datatrove.utils.word_tokenizers import WordTokenizer

    class SplitTokenizer(WordTokenizer):
        def word_tokenize(self, text: str) -> list[str]:
            return text.split()

        def sent_tokenize(self, text: str) -> list[str]:
            return [text]

        def span_tokenize(self, text: str) -> list[tuple[int, int]]:
            return [(m.start(), m.end()) for m in re.finditer(r"\S+", text)]

    return SplitTokenizer("en")


def xxhash64_utf8(data: str | bytes) -> int:
    """datatrove's default shingle hash (``xxhash.xxh64_intdigest``) on the shingle's UTF-8 bytes."""
    import xxhash

    return xxhash.xxh64_intdigest(data.encode("utf-8") if isinstance(data, str) else data)


def xxhash_needs_bytes() -> bool:
    """True with xxhash >= 4, which no longer hashes ``str``: datatrove 0.10.1's ``xxhash64`` passes the shingle
    string as it is and fails with 'Strings must be encoded before hashing'."""
    import xxhash

    try:
        xxhash.xxh64_intdigest("a")
    except TypeError:
        return True
    return False


def datatrove_tokenizer(choice: str) -> str:
    """``english`` (datatrove's default, spaCy's blank English tokenizer) or ``split`` (str.split); ``auto``
    picks english when spaCy can be imported."""
    if choice != "auto":
        return choice
    try:
        import spacy  # noqa: F401
    except ImportError:
        return "split"
    return "english"


def run_datatrove(inputs: Path, work: Path, workers: int, tasks: int, tokenizer: str) -> dict:
    """datatrove's four MinHash stages on the Parquet files in ``inputs``; ids of kept and removed rows."""
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup import MinhashDedupSignature
    from datatrove.pipeline.dedup.minhash import (
        MinhashConfig,
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
    )
    from datatrove.pipeline.readers import ParquetReader
    from datatrove.pipeline.writers import ParquetWriter
    from datatrove.utils.typeshelper import Languages

    config = MinhashConfig()  # 5-grams, 14 buckets x 8 hashes, 64-bit xxhash, default text normalisation
    language = Languages.english if tokenizer == "english" else _split_tokenizer()
    reader = ParquetReader(str(inputs), text_key="text", id_key="id", glob_pattern="*.parquet")
    signature = MinhashDedupSignature(output_folder=str(work / "signatures"), config=config, language=language)
    shim = config.hash_config.hash_fc == "xxhash" and config.hash_config.precision == 64 and xxhash_needs_bytes()
    if shim:
        # The same hash of the same bytes that xxhash < 4 computed from the str (it encoded it as UTF-8).
        signature._hash_func = xxhash64_utf8
    stages = {
        "signatures": LocalPipelineExecutor([reader, signature], tasks=tasks, workers=workers,
                                            logging_dir=str(work / "logs" / "signatures")),
        "buckets": LocalPipelineExecutor(
            [MinhashDedupBuckets(input_folder=str(work / "signatures"), output_folder=str(work / "buckets"),
                                 config=config)],
            tasks=config.num_buckets, workers=workers, logging_dir=str(work / "logs" / "buckets")),
        "cluster": LocalPipelineExecutor(
            [MinhashDedupCluster(input_folder=str(work / "buckets"), output_folder=str(work / "remove_ids"),
                                 config=config)],
            tasks=1, workers=1, logging_dir=str(work / "logs" / "cluster")),
        "filter": LocalPipelineExecutor(
            [reader,
             MinhashDedupFilter(input_folder=str(work / "remove_ids"),
                                exclusion_writer=ParquetWriter(str(work / "removed"))),
             ParquetWriter(str(work / "kept"))],
            tasks=tasks, workers=workers, logging_dir=str(work / "logs" / "filter")),
    }
    seconds = {}
    for name, executor in stages.items():
        start = time.perf_counter()
        executor.run()
        seconds[name] = time.perf_counter() - start
    return {"stage_seconds": seconds, "tokenizer": tokenizer, "xxhash_shim": shim,
            "removed_ids": _ids(work / "removed"),
            "kept": len(_ids(work / "kept"))}


def _ids(folder: Path) -> list[str]:
    files = sorted(folder.glob("*.parquet"))
    return [i for f in files for i in pq.read_table(f, columns=["id"])["id"].to_pylist()]


# --- measured arms ---------------------------------------------------------------------------------------------


def _filterkit_cmd() -> list[str]:
    exe = Path(sys.executable).with_name("filterkit")
    return [str(exe)] if exe.exists() else [sys.executable, "-c", "import sys; from cli import main; sys.exit(main())"]


def arm_command(arm: str, corpus: Path, out: Path, workers: int, tasks: int, tokenizer: str) -> list[str]:
    """The command line one arm runs."""
    if arm.startswith("filterkit"):
        cmd = [*_filterkit_cmd(), "filter", str(corpus), "-o", str(out), "--detectors", "minhash",
               "--workers", str(workers), "--id-column", "id", "--overwrite"]
        if arm == ARMS[0]:
            for p in FILTERKIT_MATCHED:
                cmd += ["--param", p]
        return cmd
    return [sys.executable, "-m", "benchmarks.dedup", "vs-datatrove", "--child", "datatrove", "--inputs", str(corpus),
            "--child-out", str(out), "--workers", str(workers), "--tasks", str(tasks),
            "--datatrove-tokenizer", tokenizer]


def run_arm(arm: str, corpus: Path, out: Path, workers: int, tasks: int, tokenizer: str, timeout: float) -> dict:
    """Run one arm in a child process (output to a log file, so no pipe fills); its measures and removed ids."""
    out.mkdir(parents=True, exist_ok=True)
    logfile = out.parent / f"{out.name}.log"
    cmd = arm_command(arm, corpus, out, workers, tasks, tokenizer)
    wrapper = ["bash", "-c", 'cd "$1" && log=$2 && shift 2 && exec "$@" >"$log" 2>&1', "bash", str(ROOT),
               str(logfile), *cmd]
    load_before = os.getloadavg()[0]
    m = run_measured(wrapper, timeout)
    result: dict = {"arm": arm, "command": " ".join(cmd), "load_average_before": round(load_before, 2),
                    "load_average_after": round(os.getloadavg()[0], 2)}
    if m.timed_out:
        return {**result, "timed_out_after_s": timeout}
    if m.returncode != 0:
        raise RuntimeError(f"{arm} failed (exit {m.returncode}):\n{logfile.read_text()[-4000:]}")
    result.update(seconds=m.seconds, peak_rss_total_mib=m.peak_rss_total_mib,
                  peak_rss_single_process_mib=m.peak_rss_single_process_mib)
    if arm.startswith("filterkit"):
        result["removed_ids"] = _ids(out / "removed")
        result["kept"] = len(_ids(out / "kept"))
    else:
        result.update(json.loads((out / "result.json").read_text()))
    return result


def score(run: dict, truth: pa.Table, n_docs: int) -> dict:
    """Counts against the ground truth: planted copies removed, other rows removed, pairs both kept."""
    removed = set(run.pop("removed_ids"))
    copy_ids = truth["id"].to_pylist()
    original_ids = truth["original_id"].to_pylist()
    jac = truth["jaccard"].to_numpy()
    copy_removed = np.array([c in removed for c in copy_ids])
    original_removed = np.array([o in removed for o in original_ids])
    planted = set(copy_ids)
    by_bucket = {}
    for lo, hi in JACCARD_BUCKETS:
        inside = (jac >= lo) & (jac < hi)
        by_bucket[f"{lo:.2f}-{min(hi, 1.0):.2f}"] = {"pairs": int(inside.sum()),
                                                       "copy_removed": int(copy_removed[inside].sum())}
    return {
        "removed": len(removed),
        "kept": run.get("kept"),
        "rows_accounted": len(removed) + (run.get("kept") or 0) == n_docs,
        "planted_copies_removed": int(copy_removed.sum()),
        "other_rows_removed": len(removed - planted),
        "originals_of_planted_removed": int(original_removed.sum()),
        "pairs_both_kept": int((~copy_removed & ~original_removed).sum()),
        "pairs_both_removed": int((copy_removed & original_removed).sum()),
        "pairs_original_removed_copy_kept": int((~copy_removed & original_removed).sum()),
        "copy_removed_by_jaccard": by_bucket,
    }


# --- results ---------------------------------------------------------------------------------------------------


def _version(name: str) -> str | None:
    import importlib.metadata as md

    try:
        return md.version(name)
    except md.PackageNotFoundError:
        return None


def machine_info() -> dict:
    """CPU, memory and the versions that matter here."""
    import psutil

    version = _version

    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"platform": platform.platform(), "cpu": cpu, "cores": os.cpu_count(),
            "memory_gib": round(psutil.virtual_memory().total / 2**30, 1), "python": platform.python_version(),
            "filterkit": version("filterkit"), "datatrove": version("datatrove"), "spacy": version("spacy"),
            "pyarrow": pa.__version__, "numpy": np.__version__}


def differences(tokenizer: str) -> list[str]:
    """Plain statements of what differs between the arms' settings."""
    tok = ("spaCy's blank English tokenizer (datatrove's default for `Languages.english`), which also splits "
           "contractions and some compounds (`cannot` -> `can not`)" if tokenizer == "english" else
           "a plain `str.split` tokenizer passed as `language=` (spaCy, datatrove's English tokenizer, was not "
           "installed), so this datatrove run is faster than its default one would be")
    return [
        "LSH: datatrove's default `MinhashConfig` is 14 buckets x 8 hashes = 112 permutations over word 5-grams. "
        "The first filterkit arm uses the same (`" + " ".join(f"--param {p}" for p in FILTERKIT_MATCHED) + "`); "
        "the second keeps filterkit's defaults: 128 permutations, 25 bands x 5 rows (chosen for its 0.6 "
        "threshold), a steeper S-curve, so more candidates at Jaccard 0.8-0.9.",
        ("Verification: filterkit keeps a candidate edge only when the two signatures agree on at least 60% of "
         "their slots (estimated Jaccard >= 0.6, its default threshold); datatrove has no such step: one equal "
         "bucket makes a duplicate pair."),
        ("Hashes: filterkit's signature values are 32-bit (a 64-bit polynomial hash of each shingle's tokens, its "
         "top 32 bits mixed by fmix32, then `(a*x+b) mod 2**32` per permutation, datasketch's affine32 scheme, "
         "seed 1); datatrove's are 64-bit (xxhash64 of each shingle string, then `(a*x+b) mod (2**61-1)`, seed 1). "
         "Different random functions, the same estimator."),
        ("Normalisation: both lower-case and turn punctuation into spaces. filterkit also applies NFKC, drops "
         "zero-width characters and folds Cyrillic/Greek look-alikes; datatrove also replaces every number with "
         "0 and strips diacritics (NFD, combining marks removed)."),
        (f"Tokenisation: filterkit splits the normalised text on whitespace; datatrove runs {tok}. The last arm "
         "gives datatrove a `str.split` tokenizer (passed as `language=`) to show what the tokenizer costs."),
        ("Clusters: both join pairs transitively (filterkit: connected components; datatrove: union-find) and "
         "keep one row per cluster. filterkit keeps the first row in corpus order; datatrove keeps the union-find "
         "root, which for these pairs is the row from the lower task (file) and then the lower row number, so "
         "with one task per file, in file order, it also keeps the earlier row."),
        ("Parallelism: filterkit `--workers W` processes over shards of 50,000 rows (its default); datatrove "
         "`LocalPipelineExecutor(workers=W)` with one task per input file for signatures and filtering, one per "
         "bucket (14) for the bucket stage and one for clustering."),
        ("Output: both read the same Parquet files and write kept and removed rows as Parquet; filterkit also "
         "writes its score columns, a report (Markdown and plots) and per-stage stats."),
    ]


def markdown(results: dict) -> str:
    """The results page."""
    c, mach = results["corpus"], results["machine"]
    j = c["planted_jaccard"]
    lines = [
        "# Dedup: filterkit against datatrove's MinHash pipeline\n",
        f"```\n{results['command']}\n```\n",
        (f"Machine: {mach['cpu']}, {mach['cores']} cores, {mach['memory_gib']} GiB, Python {mach['python']}; "
         f"filterkit {mach['filterkit']}, datatrove {mach['datatrove']}, spaCy {mach['spacy']}. One run of each "
         "arm, one after the other in one invocation; the load average is the machine's 1-minute load before "
         "and after each arm (above the core count, other jobs were taking CPU).\n"),
        (f"Corpus: {c['documents']:,} documents of {c['words_min']}-{c['words_max']} words (mean "
         f"{c['mean_words']:.0f}) in {c['files']} Parquet files of {c['rows_per_file']:,} rows (`id`, `text`), "
         "WikiText passages joined by bigram-consistent jumps. "
         f"{c['planted_copies']:,} of them are planted near copies of {c['planted_copies']:,} different earlier "
         "originals (1-3 word edits: substitutions, insertions, deletions of 1-2 words). Exact word 5-gram "
         f"Jaccard of the planted pairs: min {j['min']:.3f}, 1st percentile {j['p1']:.3f}, 5th {j['p5']:.3f}, "
         f"median {j['median']:.3f}, max {j['max']:.3f} ({j['below_0.8']} below 0.8).\n"),
        ("| arm | seconds | docs/s | peak RSS, all processes (MiB) | peak RSS, largest process (MiB) | removed | "
         "planted copies removed | other rows removed | pairs both kept | pairs: original removed, copy kept | "
         "load before / after |"),
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    n, planted = c["documents"], c["planted_copies"]
    for r in results["runs"]:
        load = f"{r['load_average_before']:.1f} / {r['load_average_after']:.1f}"
        if "timed_out_after_s" in r:
            lines.append(f"| {r['arm']} | > {r['timed_out_after_s']:.0f} (stopped) | | | | | | | | | {load} |")
            continue
        lines.append(
            f"| {r['arm']} | {r['seconds']:.1f} | {n / r['seconds']:,.0f} | {r['peak_rss_total_mib']:,.0f} | "
            f"{r['peak_rss_single_process_mib']:,.0f} | {r['removed']:,} | {r['planted_copies_removed']:,} of "
            f"{planted:,} | {r['other_rows_removed']:,} | {r['pairs_both_kept']:,} | "
            f"{r['pairs_original_removed_copy_kept']:,} | {load} |")
    lines += ["", "Planted copies removed by the pair's exact Jaccard:\n",
              "| arm | " + " | ".join(f"J {b}" for b in results["runs"][0].get("copy_removed_by_jaccard", {})) + " |",
              "|---|" + "---|" * len(JACCARD_BUCKETS)]
    for r in results["runs"]:
        if "copy_removed_by_jaccard" in r:
            cells = [f"{v['copy_removed']:,} of {v['pairs']:,}" for v in r["copy_removed_by_jaccard"].values()]
            lines.append(f"| {r['arm']} | " + " | ".join(cells) + " |")
    dt = next((r for r in results["runs"] if r["arm"] == "datatrove" and "stage_seconds" in r), None)
    if dt:
        lines += ["", "datatrove stage times (s): " + ", ".join(
            f"{k} {v:.1f}" for k, v in dt["stage_seconds"].items()) + f"; tokenizer: {dt['tokenizer']}."]
    counting = ("Counting: a row removed that is a planted copy counts as a planted copy removed; any other row "
                "removed (an original, or an unrelated row) is an other row removed. Each planted pair should lose "
                "exactly its copy; 'pairs both kept' are pairs the tool missed.\n")
    lines += ["", counting,
              "## What differs between the arms' settings\n", *[f"- {d}" for d in results["differences"]], ""]
    for note in results.get("notes", []):
        lines.append(f"{note}\n")
    lines.append("Commands run:\n")
    lines += [f"- {r['arm']}: `{r['command']}`" for r in results["runs"]]
    return "\n".join(lines) + "\n"


def plot(results: dict, path: Path) -> None:
    """Wall time and peak memory of each arm, side by side."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = [r for r in results["runs"] if "seconds" in r]
    names = [r["arm"].replace(" (", "\n(").replace(" tokenizer", "\ntokenizer") for r in runs]
    palette = dict(zip(ARMS, ("#1f77b4", "#9ecae1", "#ff7f0e", "#fdd0a2"), strict=True))
    colors = [palette.get(r["arm"], "#999999") for r in runs]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, key, label in ((axes[0], "seconds", "wall time (s)"), (axes[1], "peak_rss_total_mib",
                                                                   "peak RSS, all processes (MiB)")):
        values = [r[key] for r in runs]
        bars = ax.bar(names, values, color=colors)
        ax.bar_label(bars, labels=[f"{v:,.0f}" if v >= 10 else f"{v:.1f}" for v in values])
        ax.set_title(label)
        ax.tick_params(axis="x", labelsize=7.5)
        ax.margins(y=0.15)
    c = results["corpus"]
    fig.suptitle(f"MinHash dedup of {c['documents']:,} docs ({c['planted_copies']:,} planted copies), "
                 f"{results['workers']} workers")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def benchmark(n_docs: int, words: int, workers: int, work: Path, timeout: float, tokenizer: str,
              seed: int = 0, arms: tuple[str, ...] = ARMS) -> dict:
    """Build the corpus in ``work`` and run every arm on it; results without the command line."""
    corpus, truth_path = work / "corpus", work / "ground_truth.parquet"
    log.info("corpus of %d documents", n_docs)
    start = time.perf_counter()
    info = make_corpus(n_docs, words, corpus, truth_path, seed)
    info["seconds_to_build"] = time.perf_counter() - start
    log.info("%s", info)
    truth = pq.read_table(truth_path)
    tokenizer = datatrove_tokenizer(tokenizer)
    results: dict = {"machine": machine_info(), "workers": workers, "corpus": info, "runs": [],
                     "differences": differences(tokenizer), "datatrove_tokenizer": tokenizer, "notes": []}
    for k, arm in enumerate(arms):
        arm_tokenizer = "split" if arm == ARMS[3] else tokenizer
        if arm == ARMS[3] and tokenizer == "split" and ARMS[2] in arms:
            continue  # the datatrove arm already used str.split
        log.info("%s", arm)
        run = run_arm(arm, corpus, work / f"out-{k}", workers, info["files"], arm_tokenizer, timeout)
        if "timed_out_after_s" not in run:
            run.update(score(run, truth, n_docs))
        log.info("%s", {key: v for key, v in run.items() if key != "copy_removed_by_jaccard"})
        results["runs"].append(run)
    if any(r.get("xxhash_shim") for r in results["runs"]):
        results["notes"].append(
            "datatrove 0.10.1 cannot run its default MinHash hash with the installed xxhash "
            f"({_version('xxhash')}): `datatrove.utils.hashes.xxhash.xxhash64` passes the shingle `str` to "
            "`xxhash.xxh64_intdigest`, which xxhash >= 4 rejects ('Strings must be encoded before hashing'). "
            "The benchmark sets the signature step's hash function to `xxh64_intdigest` of the shingle's UTF-8 "
            "bytes, which is what xxhash < 4 computed from the `str`: same hash values, one `.encode()` more "
            "per shingle.")
    if tokenizer != "english":
        results["notes"].append("datatrove ran with a `str.split` tokenizer because spaCy is not installed "
                                "(`pip install spacy` gives datatrove's default English tokenizer).")
    return results


def main(argv: Sequence[str]) -> None:
    """Parse the options; run the benchmark (or, with ``--child``, the datatrove pipeline)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.dedup vs-datatrove",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=110_000)
    parser.add_argument("--words", type=int, default=230, help="Mean words a document (+-15%%).")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=900.0, help="Seconds before an arm is stopped.")
    parser.add_argument("--datatrove-tokenizer", choices=("auto", "english", "split"), default="auto",
                        help="english: datatrove's default (spaCy); split: str.split; auto: english if spaCy "
                             "is installed.")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--work", type=Path,
                        help="Working directory, left in place (default: a temporary one, removed at the end).")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--inputs", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--child-out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--tasks", type=int, default=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        # This module is imported by name (never run as __main__), so what the workers unpickle resolves.
        result = run_datatrove(args.inputs, args.child_out, args.workers, args.tasks, args.datatrove_tokenizer)
        (args.child_out / "result.json").write_text(json.dumps(result))
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    work = args.work or Path(tempfile.mkdtemp(prefix="vs_datatrove-"))
    try:
        work.mkdir(parents=True, exist_ok=True)
        results = benchmark(args.docs, args.words, args.workers, work, args.timeout, args.datatrove_tokenizer,
                            args.seed)
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    results["command"] = "python -m benchmarks.dedup vs-datatrove " + " ".join(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "dedup_vs_datatrove.json").write_text(json.dumps(results, indent=2) + "\n")
    (args.out / "dedup_vs_datatrove.md").write_text(markdown(results))
    plot(results, args.out / "dedup_vs_datatrove.png")

