"""Wall time of a whole run, process start to exit: ``filterkit filter`` of a 2-row file (or of the dedup speed
benchmark's corpus of ``--docs`` documents) at two revisions, side by side.

Usage: ``python -m benchmarks.layers small-run --base REV [--runs 5] [--docs 2] [--detectors exact,minhash]
[--workers 1] [--out benchmarks/results/small_run.md]``.
Each revision is exported with ``git archive`` (``benchmarks.layers.startup.export``) and run as
``python -m cli filter ...`` from its tree with this interpreter, alternating runs so that machine noise falls on
both alike. What a small run costs is start-up: imports, building the detectors, planning, and the report.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from benchmarks.layers.startup import export


def run_seconds(tree: Path, data: Path, out: Path, detectors: str, workers: int) -> float:
    """Seconds of one whole ``filterkit filter`` process run from ``tree``."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "cli", "filter", str(data), "-o", str(out), "--detectors", detectors,
                    "--workers", str(workers)], cwd=tree, check=True, capture_output=True)
    return time.perf_counter() - start


def main(argv: Sequence[str]) -> None:
    """Measure both revisions and write the Markdown table."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.layers small-run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", required=True, help="Revision to compare with (HEAD is the other).")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--docs", type=int, default=2, help="2: a 2-row file; more: the dedup speed corpus.")
    parser.add_argument("--detectors", default="exact,minhash")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/small_run.md"))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        trees = {rev: export(rev, tmp / rev) for rev in (args.base, "HEAD")}
        data = tmp / "data"
        if args.docs == 2:
            data.mkdir()
            pq.write_table(pa.table({"text": ["a first small document", "a second small document"]}),
                           data / "two.parquet")
        else:
            from benchmarks.dedup.speed import make_corpus

            make_corpus(args.docs, data)
        seconds: dict[str, list[float]] = {rev: [] for rev in trees}
        for i in range(args.runs + 1):
            for rev, tree in trees.items():
                took = run_seconds(tree, data, tmp / f"out-{rev}-{i}", args.detectors, args.workers)
                if i:  # the first round warms the file cache for both
                    seconds[rev].append(took)
    load = os.getloadavg()[0]
    what = "a 2-row file" if args.docs == 2 else f"{args.docs:,} documents (`benchmarks.dedup.speed.make_corpus`)"
    lines = [f"# A whole run of {what}", "", "```",
             f"python -m benchmarks.layers small-run --base {args.base} --runs {args.runs} --docs {args.docs} "
             f"--detectors {args.detectors} --workers {args.workers}", "```", "",
             f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
             f"1-minute load average at the end {load:.1f}. `filterkit filter DATA --detectors {args.detectors} "
             f"--workers {args.workers}`, runs of the two revisions alternating after one warm-up round each.", "",
             "| revision | median s | min s | max s |", "|---|---:|---:|---:|"]
    for rev, values in seconds.items():
        lines.append(f"| {rev} | {statistics.median(values):.2f} | {min(values):.2f} | {max(values):.2f} |")
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))

