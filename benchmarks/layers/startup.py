"""Start-up cost of the core: ``python -X importtime -c "import filterkit.engine.pipeline"`` at two revisions, side
by side.

Usage: ``python -m benchmarks.layers startup --base REV [--runs 7] [--out benchmarks/results/startup.md]``.
Each revision is exported with ``git archive`` into a temporary directory and imported from there with this
interpreter, alternating runs so that machine noise falls on both alike; the cumulative import time of the
top-level ``filterkit`` rows is reported (median and range), with the modules of the upper layers it loaded.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Sequence
from pathlib import Path

_CODE = ("import json, sys, filterkit.engine.pipeline; "
         "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('detectors', 'benchmarks', 'cli'))))")


def export(rev: str, into: Path) -> Path:
    """The tree of ``rev`` as plain files under ``into``."""
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", rev], check=True, capture_output=True).stdout
    subprocess.run(["tar", "x", "-C", str(into)], input=archive, check=True)
    _own_entry_points(into)
    return into


def _own_entry_points(tree: Path) -> None:
    """Give ``tree`` the detector entry points its own ``pyproject.toml`` declares.

    The registry finds detectors through installed metadata, which names the checkout's modules; a revision whose
    modules live elsewhere needs its own. A ``.dist-info`` at the tree's root comes first on ``sys.path`` when a
    process runs from there, and importlib.metadata uses the first distribution of a name it finds.
    """
    project = tomllib.loads((tree / "pyproject.toml").read_text())["project"]
    groups = project.get("entry-points", {})
    info = tree / f"{project['name']}-{project['version']}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n")
    (info / "entry_points.txt").write_text("".join(
        f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in eps.items()) + "\n" for group, eps in groups.items()))


def import_ms(tree: Path) -> tuple[float, list[str]]:
    """Cumulative microseconds of ``import filterkit.engine.pipeline`` from ``tree`` (in ms), and upper-layer
    modules."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", _CODE], cwd=tree, check=True,
                          capture_output=True, text=True)
    rows = [line.split("|") for line in done.stderr.splitlines() if line.startswith("import time:")]
    # Top-level rows (no indent) each hold everything imported beneath them; the filterkit ones are the cost.
    top = [int(r[1]) for r in rows if r[2].startswith(" filterkit") and not r[2].startswith("  ")]
    return sum(top) / 1000, json.loads(done.stdout)


def main(argv: Sequence[str]) -> None:
    """Measure both revisions, alternating, and write a Markdown table with the command that made it."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.layers startup", description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", required=True)
    parser.add_argument("--head", default="HEAD")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/startup.md"))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        trees = {rev: export(rev, Path(tmp) / f"t{i}") for i, rev in enumerate((args.base, args.head))}
        times: dict[str, list[float]] = {rev: [] for rev in trees}
        loaded: dict[str, list[str]] = {}
        for _ in range(args.runs):
            for rev, tree in trees.items():
                ms, mods = import_ms(tree)
                times[rev].append(ms)
                loaded[rev] = mods
    lines = ["# Start-up: `import filterkit.engine.pipeline`", "",
             f"Command: `python -m benchmarks.layers startup --base {args.base} --head {args.head} --runs {args.runs}`",
             "", "Import time of `filterkit` and `filterkit.engine.pipeline` together (ms, cumulative of the top-level "
             "rows), runs alternating between the revisions.", "",
             "| revision | median | min | max | modules of detectors/, benchmarks/, cli loaded |",
             "|---|---:|---:|---:|---|"]
    for rev, ms in times.items():
        mods = ", ".join(loaded[rev][:6]) + (" ..." if len(loaded[rev]) > 6 else "") or "none"
        lines.append(f"| `{rev}` | {statistics.median(ms):.0f} | {min(ms):.0f} | {max(ms):.0f} | {mods} "
                     f"({len(loaded[rev])}) |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))

