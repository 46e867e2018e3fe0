"""Do two revisions write the same bytes? The demo, a resumable-run corpus and a messy corpus, run at each.

Usage: ``python -m benchmarks.layers same-bytes --base REV [--head HEAD] [--out benchmarks/results/same_bytes.md]``.
Each revision is exported with ``git archive`` and runs ``filterkit`` from its own tree on inputs written once by
this checkout's ``filterkit.testing.corpora`` (the SIGKILL test's corpus and the pipeline tests' messy corpus), then
every file under ``kept/``, ``removed/`` and ``quarantine/`` is compared by SHA-256, and each ``report.json`` without
its timings and absolute paths. The demo runs as each tree has it: ``filterkit demo`` where ``cli.py`` still has it,
``python -m benchmarks.demo`` where ``benchmarks/demo/__main__.py`` is its entry point.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.layers.startup import export
from filterkit.testing.corpora import messy_corpus, resume_corpus
from filterkit.testing.shared import shared_data_dir

FILTERKIT = ["-c", "import cli; cli.main()"]
"""``filterkit`` as the tree's own ``cli.py`` (with this interpreter)."""
RUNS = {
    "crash": [*FILTERKIT, "filter", "{in}/crash", "--config", "{in}/crash.yaml"],
    "messy": [*FILTERKIT, "filter", "{in}/messy", "--detectors", "exact,minhash,length"],
    "demo": [*FILTERKIT, "demo"],
}
DEMO = ["-m", "benchmarks.demo"]
"""The demo in a tree that has ``benchmarks/demo/__main__.py`` (where ``filterkit demo`` is no longer in ``cli.py``)."""


def command(tree: Path, name: str) -> list[str]:
    """The arguments after ``python`` that run case ``name`` from ``tree``, as that tree runs it."""
    if name == "demo" and (tree / "benchmarks" / "demo" / "__main__.py").is_file():
        return DEMO
    return RUNS[name]


def make_inputs(root: Path) -> None:
    """The inputs every revision reads: the SIGKILL test's corpus and the messy corpus of the pipeline tests."""
    messy_corpus(root / "messy")
    resume_corpus(root / "crash")
    (root / "crash.yaml").write_text("rows_per_shard: 40\nbatch_size: 16\n")


def outputs(out: Path) -> dict[str, str]:
    """SHA-256 of every output file of a run, by path relative to the run."""
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
            for part in ("kept", "removed", "quarantine") for p in sorted((out / part).rglob("*")) if p.is_file()}


def _frame(path: Path) -> pd.DataFrame:
    """An output file's rows (Parquet or JSON Lines) as a DataFrame."""
    return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_json(path, lines=True, dtype=False)


def retyped_only(a: Path, b: Path) -> set[str] | None:
    """Columns whose type alone differs between two output files with equal values, or None when values differ.

    A column declared int or bool at one revision and float at the other compares as float64 (NaN equal to NaN).
    """
    fa, fb = _frame(a), _frame(b)
    if list(fa.columns) != list(fb.columns) or len(fa) != len(fb):
        return None
    retyped = set()
    for c in fa.columns:
        x, y = fa[c], fb[c]
        if x.dtype == y.dtype:
            if not x.equals(y):
                return None
            continue
        numeric = all(pd.api.types.is_numeric_dtype(v) or pd.api.types.is_bool_dtype(v) for v in (x, y))
        if not numeric or not np.array_equal(x.astype(float), y.astype(float), equal_nan=True):
            return None
        retyped.add(c)
    return retyped


def report(out: Path, strip: str) -> dict:
    """``report.json`` without timings, with this revision's own directory names removed."""
    data = json.loads((out / "report.json").read_text().replace(strip, "<tree>"))
    data.pop("throughput", None)
    return data


def main(argv: Sequence[str]) -> None:
    """Run every case at both revisions and write what differs."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.layers same-bytes",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--base", required=True)
    parser.add_argument("--head", default="HEAD")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/same_bytes.md"))
    args = parser.parse_args(argv)
    lines = ["# Same bytes at two revisions", "",
             f"Command: `python -m benchmarks.layers same-bytes --base {args.base} --head {args.head}`", "",
             "| run | output files | identical files | equal values, other column types | report.json equal "
             "(timings, paths aside) |",
             "|---|---:|---:|---:|---|"]
    with tempfile.TemporaryDirectory() as tmp:
        inputs = Path(tmp) / "in"
        make_inputs(inputs)
        trees = {rev: export(rev, Path(tmp) / f"t{i}") for i, rev in enumerate((args.base, args.head))}
        found: dict[str, dict[str, tuple[dict, dict]]] = {}
        dirs: dict[str, dict[str, Path]] = {}
        # The exported trees lie outside the checkout, where neither finds ../shared by itself.
        env = {**os.environ, "FILTERKIT_SHARED": str(shared_data_dir())}
        for rev, tree in trees.items():
            for name in RUNS:
                out = tree / "_out" / name
                cmd = [w.format(**{"in": inputs}) for w in command(tree, name)] + ["-o", str(out)]
                done = subprocess.run([sys.executable, *cmd], cwd=tree, capture_output=True, text=True, env=env)
                if done.returncode not in (0, 1):  # 1: a run that quarantined rows, as the messy corpus does
                    raise SystemExit(f"{rev}: {' '.join(cmd)} exited {done.returncode}:\n{done.stderr[-2000:]}")
                run_dir = out / "filtered" if name == "demo" else out
                found.setdefault(name, {})[rev] = (outputs(run_dir), report(run_dir, str(tree)))
                dirs.setdefault(name, {})[rev] = run_dir
        retyped: set[str] = set()
        for name, by_rev in found.items():
            (a, ra), (b, rb) = by_rev[args.base], by_rev[args.head]
            same = sum(a.get(k) == v for k, v in b.items())
            differ = [k for k, v in b.items() if k in a and a[k] != v]
            kinds = [retyped_only(dirs[name][args.base] / k, dirs[name][args.head] / k) for k in differ]
            retyped.update(*(c for c in kinds if c))
            lines.append(f"| {name} | {len(b)} (base {len(a)}) | {same} | {sum(c is not None for c in kinds)} | "
                         f"{'yes' if ra == rb else 'NO'} |")
        if retyped:
            lines += ["", f"Columns whose type alone differs: {', '.join(f'`{c}`' for c in sorted(retyped))}."]
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))

